//! `ktrdr db roles`: applies ktrdr's group roles and their grants again (sql/95_roles.sql), shows
//! what each may do and who its members are, and with `--create-login NAME --role R` adds a login
//! to one — its password read from `--password-file`, or generated and printed this once.

use std::path::PathBuf;

use ktrdr::db::roles::{self, Group, LoginOutcome, RoleDescription};
use serde_json::json;

use crate::output;

#[derive(Debug, clap::Args)]
pub struct RolesArgs {
    /// Create a login (or set the password of one already in --role) that is a member of --role.
    #[arg(long, value_name = "NAME", requires = "role")]
    create_login: Option<String>,
    /// The group of the new login.
    #[arg(long, value_enum, requires = "create_login")]
    role: Option<RoleArg>,
    /// Read the login's password from this file (its first line); without it, one is generated
    /// and printed once.
    #[arg(long, value_name = "FILE", requires = "create_login")]
    password_file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    /// ktrdr_worker
    Worker,
    /// ktrdr_reader
    Reader,
    /// ktrdr_admin
    Admin,
}

impl From<RoleArg> for Group {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Worker => Group::Worker,
            RoleArg::Reader => Group::Reader,
            RoleArg::Admin => Group::Admin,
        }
    }
}

pub async fn run(args: RolesArgs, migrate_first: bool) -> anyhow::Result<()> {
    // Read before connecting: a missing file is the user's to fix whatever the database says.
    let given_password = match &args.password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
            let password = text.lines().next().unwrap_or_default().to_string();
            if password.is_empty() {
                anyhow::bail!("{} holds no password on its first line", path.display());
            }
            Some(password)
        }
        None => None,
    };
    let pool = super::connect(migrate_first).await?;
    roles::apply(&pool).await?;
    let login = match (&args.create_login, args.role) {
        (Some(name), Some(role)) => {
            let group = Group::from(role);
            let generated = given_password.is_none().then(roles::generate_password);
            let password = given_password
                .as_deref()
                .or(generated.as_deref())
                .expect("given or generated");
            let outcome = roles::create_login(&pool, name, group, password).await?;
            Some((name.clone(), group, outcome, generated))
        }
        _ => None,
    };
    let described = roles::describe(&pool).await?;
    if args.json {
        let login = login.map(|(name, group, outcome, generated)| {
            json!({
                "name": name, "role": group.role_name(), "outcome": outcome,
                "generated_password": generated,
            })
        });
        return output::print_json(&json!({ "roles": described, "login": login }));
    }
    for role in &described {
        print_role(role);
    }
    if let Some((name, group, outcome, generated)) = login {
        let done = match outcome {
            LoginOutcome::Created => "Created login",
            LoginOutcome::PasswordReset => "Set the password of login",
        };
        println!("{done} {name} in {}.", group.role_name());
        if let Some(password) = generated {
            println!("Its password (shown only now): {password}");
        }
    }
    Ok(())
}

fn print_role(role: &RoleDescription) {
    println!("{} — {}", role.role, role.purpose);
    if !role.exists {
        println!("  (does not exist)\n");
        return;
    }
    let list = |names: &[String]| {
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(", ")
        }
    };
    let calls = if role.calls_every_function {
        "every function".to_string()
    } else {
        list(&role.calls)
    };
    println!("  calls:    {calls}");
    println!(
        "  reads:    {} tables, {} views",
        role.reads_tables.len(),
        role.reads_views
    );
    println!("  writes:   {}", list(&role.writes_tables));
    let members: Vec<String> = role
        .members
        .iter()
        .map(|m| {
            if m.login {
                m.name.clone()
            } else {
                format!("{} (group)", m.name)
            }
        })
        .collect();
    println!("  members:  {}\n", list(&members));
}
