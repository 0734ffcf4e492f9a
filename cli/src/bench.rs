use clap::Subcommand;
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    Queue,
}
pub async fn run(_c: BenchCommand) -> anyhow::Result<()> {
    Ok(())
}
