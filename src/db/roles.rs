//! ktrdr's group roles — `ktrdr_worker`, `ktrdr_reader`, `ktrdr_admin` (sql/95_roles.sql) — for
//! `ktrdr db roles`: applying them and their grants again, saying what each may do and who its
//! members are (read from the catalogs, so it is what the server enforces), and creating logins
//! that are members of one.

use rand::{Rng, distr::Alphanumeric};
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool};

use crate::{Error, Result, db::migrate};

/// One of ktrdr's group roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Worker,
    Reader,
    Admin,
}

impl Group {
    pub const ALL: [Group; 3] = [Group::Worker, Group::Reader, Group::Admin];

    /// The role's name in PostgreSQL.
    pub fn role_name(self) -> &'static str {
        match self {
            Group::Worker => "ktrdr_worker",
            Group::Reader => "ktrdr_reader",
            Group::Admin => "ktrdr_admin",
        }
    }

    /// Who the role is for, in a line.
    pub fn purpose(self) -> &'static str {
        match self {
            Group::Worker => {
                "workers and their ticker: claim, run and report through the fenced functions"
            }
            Group::Reader => "Grafana and psql users: the views, nothing else",
            Group::Admin => "the operator (ktrdr --no-migrate …): every function and table, no DDL",
        }
    }
}

/// What a group role may do and who its members are.
#[derive(Debug, Clone, Serialize)]
pub struct RoleDescription {
    pub role: &'static str,
    pub purpose: &'static str,
    pub exists: bool,
    /// Functions of the schema that change things (volatile ones) it may call, by name.
    pub calls: Vec<String>,
    /// Whether `calls` is every such function.
    pub calls_every_function: bool,
    /// Tables it may SELECT.
    pub reads_tables: Vec<String>,
    /// Tables it may INSERT into, UPDATE or DELETE from.
    pub writes_tables: Vec<String>,
    /// How many of the schema's views it may SELECT.
    pub reads_views: i64,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub name: String,
    /// Whether it can log in (a login rather than another group).
    pub login: bool,
}

/// What [`create_login`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginOutcome {
    Created,
    /// The login existed in that group already: its password was set again.
    PasswordReset,
}

/// A password for a new login: 32 letters and digits.
pub fn generate_password() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

const CONNECT_AS_OWNER: &str =
    "connect as the owner of the ktrdr schema (who ran `ktrdr migrate`) or a superuser";

/// Applies sql/95_roles.sql again — creates missing group roles, re-grants every right — under the
/// migration lock, so it never interleaves with a `ktrdr migrate`.
pub async fn apply(pool: &PgPool) -> Result<()> {
    ensure_migrated(pool).await?;
    // Checked first: a non-owner's REVOKEs would only warn, once per function, before the error.
    let (user, owns): (String, bool) = sqlx::query_as(
        "SELECT current_user::text,
                pg_has_role(current_user, n.nspowner, 'USAGE')
                    OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
         FROM pg_namespace n WHERE n.nspname = 'ktrdr'",
    )
    .fetch_one(pool)
    .await?;
    if !owns {
        return Err(Error::PermissionDenied(format!(
            "cannot apply the roles: {user} does not own the ktrdr schema — {CONNECT_AS_OWNER}"
        )));
    }
    let sql = migrate::sql_file("95_roles.sql").expect("sql/95_roles.sql is in the bundle");
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(migrate::MIGRATION_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .map_err(|err| match permission_message(&err) {
            Some(message) => Error::PermissionDenied(format!(
                "cannot apply the roles: {message} — {CONNECT_AS_OWNER}"
            )),
            None => err.into(),
        })?;
    tx.commit().await?;
    Ok(())
}

/// Each group role with its rights and members.
pub async fn describe(pool: &PgPool) -> Result<Vec<RoleDescription>> {
    ensure_migrated(pool).await?;
    let mut described = Vec::new();
    for group in Group::ALL {
        let role = group.role_name();
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
                .bind(role)
                .fetch_one(pool)
                .await?;
        let mut description = RoleDescription {
            role,
            purpose: group.purpose(),
            exists,
            calls: Vec::new(),
            calls_every_function: false,
            reads_tables: Vec::new(),
            writes_tables: Vec::new(),
            reads_views: 0,
            members: Vec::new(),
        };
        if exists {
            fill_rights(pool, &mut description).await?;
        }
        described.push(description);
    }
    Ok(described)
}

async fn fill_rights(pool: &PgPool, description: &mut RoleDescription) -> Result<()> {
    let role = description.role;
    // Trigger functions are called by the server, never by a role.
    let functions: Vec<(String, bool)> = sqlx::query_as(
        "SELECT p.proname::text, bool_and(has_function_privilege($1, p.oid, 'EXECUTE'))
         FROM pg_proc p
         WHERE p.pronamespace = 'ktrdr'::regnamespace AND p.prokind = 'f'
           AND p.provolatile = 'v' AND p.prorettype <> 'trigger'::regtype
         GROUP BY p.proname ORDER BY p.proname",
    )
    .bind(role)
    .fetch_all(pool)
    .await?;
    description.calls_every_function = functions.iter().all(|(_, may)| *may);
    description.calls = functions
        .into_iter()
        .filter_map(|(name, may)| may.then_some(name))
        .collect();
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.relname::text, has_table_privilege($1, c.oid, 'SELECT'),
                has_table_privilege($1, c.oid, 'INSERT, UPDATE, DELETE')
         FROM pg_class c
         WHERE c.relnamespace = 'ktrdr'::regnamespace AND c.relkind IN ('r', 'p')
         ORDER BY c.relname",
    )
    .bind(role)
    .fetch_all(pool)
    .await?;
    for (table, reads, writes) in tables {
        if reads {
            description.reads_tables.push(table.clone());
        }
        if writes {
            description.writes_tables.push(table);
        }
    }
    description.reads_views = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c
         WHERE c.relnamespace = 'ktrdr'::regnamespace AND c.relkind IN ('v', 'm')
           AND has_table_privilege($1, c.oid, 'SELECT')",
    )
    .bind(role)
    .fetch_one(pool)
    .await?;
    let members: Vec<(String, bool)> = sqlx::query_as(
        "SELECT m.rolname::text, m.rolcanlogin
         FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member
         WHERE a.roleid = $1::regrole ORDER BY m.rolname",
    )
    .bind(role)
    .fetch_all(pool)
    .await?;
    description.members = members
        .into_iter()
        .map(|(name, login)| Member { name, login })
        .collect();
    Ok(())
}

/// Creates the login `name` with `password` as a member of `group`; for a login already in that
/// group, sets its password again. Needs a superuser or a role with CREATEROLE (and, from
/// PostgreSQL 16, the right to grant `group`).
pub async fn create_login(
    pool: &PgPool,
    name: &str,
    group: Group,
    password: &str,
) -> Result<LoginOutcome> {
    let role = group.role_name();
    if name.is_empty() || name.len() > 63 {
        return Err(Error::InvalidInput(format!(
            "login name {name:?} must be 1 to 63 bytes long"
        )));
    }
    if name.starts_with("pg_") || Group::ALL.iter().any(|g| g.role_name() == name) {
        return Err(Error::InvalidInput(format!(
            "{name:?} cannot be a login: names starting with pg_ and ktrdr's group roles are reserved"
        )));
    }
    if password.is_empty() {
        return Err(Error::InvalidInput("the password is empty".into()));
    }
    ensure_migrated(pool).await?;
    let (user, may_create): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper OR rolcreaterole FROM pg_roles
         WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    if !may_create {
        return Err(Error::PermissionDenied(format!(
            "{user} may not create logins: connect as a superuser or a role with CREATEROLE"
        )));
    }
    let group_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(pool)
            .await?;
    if !group_exists {
        return Err(Error::NotMigrated(format!("role {role} does not exist")));
    }
    let existing: Option<bool> = sqlx::query_scalar(
        "SELECT pg_has_role(r.oid, $2::regrole, 'MEMBER') FROM pg_roles r WHERE r.rolname = $1",
    )
    .bind(name)
    .bind(role)
    .fetch_optional(pool)
    .await?;
    let (statement, outcome) = match existing {
        None => (
            "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L IN ROLE %I', $1, $2, $3)",
            LoginOutcome::Created,
        ),
        Some(true) => (
            "SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', $1, $2, $3)",
            LoginOutcome::PasswordReset,
        ),
        Some(false) => {
            return Err(Error::Conflict(format!(
                "role {name} exists and is not a member of {role}: pick another name"
            )));
        }
    };
    let mut tx = pool.begin().await?;
    // Stored as a SCRAM verifier whatever the server's default (md5 before PostgreSQL 14).
    sqlx::query("SET LOCAL password_encryption = 'scram-sha-256'")
        .execute(&mut *tx)
        .await?;
    let sql: String = sqlx::query_scalar(statement)
        .bind(name)
        .bind(password)
        .bind(role)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .map_err(|err| match permission_message(&err) {
            Some(message) => {
                Error::PermissionDenied(format!("cannot create login {name} in {role}: {message}"))
            }
            None => err.into(),
        })?;
    tx.commit().await?;
    Ok(outcome)
}

/// Fails with [`Error::NotMigrated`] on a database without ktrdr's schema.
async fn ensure_migrated(pool: &PgPool) -> Result<()> {
    let bundle: Option<String> = sqlx::query_scalar("SELECT to_regclass('ktrdr.sql_bundle')::text")
        .fetch_one(pool)
        .await?;
    match bundle {
        Some(_) => Ok(()),
        None => Err(Error::NotMigrated(
            "this database has no ktrdr schema".into(),
        )),
    }
}

/// The server's message of an insufficient_privilege error (SQLSTATE 42501).
fn permission_message(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("42501") => {
            Some(db.message().to_string())
        }
        _ => None,
    }
}
