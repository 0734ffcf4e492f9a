//! `ktrdr completions bash|zsh|fish|elvish|powershell`: the shell's completion script for every
//! command and flag, generated from the same definitions clap parses with (clap_complete).

use clap::Args;
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    shell: Shell,
}

pub fn run(args: CompletionsArgs, mut command: clap::Command) {
    clap_complete::generate(args.shell, &mut command, "ktrdr", &mut std::io::stdout());
}
