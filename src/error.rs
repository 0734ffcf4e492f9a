//! The library's error type. SQL functions signal bad input with SQLSTATEs that map onto variants here,
//! so callers can tell "your input is wrong" from "the database is unreachable".

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An id that names no operation (SQLSTATE P0002 from the SQL API).
    #[error("{0}")]
    NotFound(String),
    /// Input the SQL API or a validator refused (SQLSTATE 22023 and friends); the message says why.
    #[error("{0}")]
    InvalidInput(String),
    /// A request that conflicts with the operation's state, e.g. cancelling a finished operation.
    #[error("{0}")]
    Conflict(String),
    /// Bad configuration (environment variables, flags); the message names the setting.
    #[error("{0}")]
    Config(String),
    /// The project-local PostgreSQL cluster could not be set up or started.
    #[error("embedded PostgreSQL: {0}")]
    Embedded(String),
    /// An artifact could not be stored, found, or verified.
    #[error("{0}")]
    Artifact(String),
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database lacks ktrdr's schema, or has an older one than this build uses (a table or
    /// function it calls is missing): the message says to run `ktrdr migrate`.
    #[error("{0}: run `ktrdr migrate` to install or upgrade ktrdr's schema in this database")]
    NotMigrated(String),
    /// A maintenance pass fenced by a leader's epoch whose lease another ticker has taken over (or
    /// that was resigned): the pass changed nothing (SQLSTATE KT001 from `ktrdr.assert_leadership`).
    #[error("{0}")]
    NotLeader(String),
    /// PostgreSQL could not be reached, or refused the login; the cause says what to fix. (The
    /// cause is part of the message, not a source: printed with its causes, the error stays one
    /// line.)
    /// The login lacks a right the request needs (SQLSTATE 42501 where the caller words it).
    #[error("{0}")]
    PermissionDenied(String),
    #[error("cannot connect to PostgreSQL at {target}: {cause}")]
    Unreachable {
        target: String,
        cause: crate::db::ConnectFailure,
    },
    #[error("database error: {}", DatabaseMessage(.0))]
    Database(sqlx::Error),
}

impl Error {
    /// A stable name for the kind of error, for scripts (`--json` errors, the HTTP API).
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "NOT_FOUND",
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::Conflict(_) => "CONFLICT",
            Error::Config(_) => "CONFIG",
            Error::Embedded(_) => "EMBEDDED_CLUSTER",
            Error::Artifact(_) => "ARTIFACT",
            Error::Migration(_) => "MIGRATION",
            Error::NotMigrated(_) => "NOT_MIGRATED",
            Error::NotLeader(_) => "NOT_LEADER",
            Error::PermissionDenied(_) => "PERMISSION_DENIED",
            Error::Unreachable { .. } => "UNREACHABLE",
            Error::Database(_) => "DATABASE",
        }
    }

    /// True for failures that may heal by themselves (the database restarting, a dropped connection):
    /// callers retry these with backoff instead of giving up.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { cause, .. } => cause.is_transient(),
            Error::Database(err) => is_transient_sqlx(err),
            _ => false,
        }
    }
}

fn is_transient_sqlx(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => true,
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection errors
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        _ => false,
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            let message = db.message().to_string();
            match db.code().as_deref() {
                Some("P0002") => return Error::NotFound(message),
                // 22P05 and 22021: text PostgreSQL cannot store (a NUL character, `\u0000` in JSON).
                Some("22023") | Some("22P02") | Some("22P05") | Some("22021") | Some("23514")
                | Some("23503") => {
                    return Error::InvalidInput(message);
                }
                Some("55000") | Some("55006") | Some("40001") => return Error::Conflict(message),
                Some(crate::leader::NOT_LEADER_SQLSTATE) => return Error::NotLeader(message),
                // invalid_schema_name, undefined_table, undefined_function — of ktrdr's own schema
                Some("3F000" | "42P01" | "42883") if message.contains("ktrdr") => {
                    return Error::NotMigrated(message);
                }
                _ => {}
            }
        }
        Error::Database(err)
    }
}

/// A driver error as one line: the server's message and SQLSTATE for errors the server raised
/// (the driver's own wording adds the line of the server's C source that raised it), the driver's
/// text otherwise.
struct DatabaseMessage<'a>(&'a sqlx::Error);

impl fmt::Display for DatabaseMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            sqlx::Error::Database(db) => match db.code() {
                Some(code) => write!(f, "{} (SQLSTATE {code})", db.message()),
                None => f.write_str(db.message()),
            },
            other => write!(f, "{other}"),
        }
    }
}

/// Shows a database URL or connection string without its password, as every message does: the
/// URL's `user:password@` (`postgres://me:***@db/x`), a `?password=` or `&password=` query
/// parameter, and libpq's `password=…` key-value form (quoted or not).
pub struct RedactedUrl<'a>(pub &'a str);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_password_parameters(&redact_userinfo(self.0)))
    }
}

fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Replaces the value of every `password=` that starts a parameter (after the start, `?`, `&` or
/// white space) with `***`; the value ends at `&` or white space, or at its closing quote.
fn redact_password_parameters(text: &str) -> String {
    const KEY: &str = "password=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.to_ascii_lowercase().find(KEY) {
        let starts_parameter = found == 0
            || rest[..found]
                .chars()
                .next_back()
                .is_some_and(|c| c == '?' || c == '&' || c.is_whitespace());
        let value_start = found + KEY.len();
        out.push_str(&rest[..value_start]);
        rest = &rest[value_start..];
        if !starts_parameter {
            continue;
        }
        let value_len = match rest.strip_prefix('\'') {
            Some(quoted) => quoted.find('\'').map_or(rest.len(), |close| close + 2),
            None => rest
                .find(|c: char| c == '&' || c.is_whitespace())
                .unwrap_or(rest.len()),
        };
        out.push_str("***");
        rest = &rest[value_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::RedactedUrl;

    #[test]
    fn redacted_url_hides_the_password_only() {
        assert_eq!(
            RedactedUrl("postgres://me:secret@db:5432/x").to_string(),
            "postgres://me:***@db:5432/x"
        );
        assert_eq!(
            RedactedUrl("postgres://me@db/x").to_string(),
            "postgres://me@db/x"
        );
        assert_eq!(
            RedactedUrl("postgres://db/x?user=me&password=secret&sslmode=require").to_string(),
            "postgres://db/x?user=me&password=***&sslmode=require"
        );
        assert_eq!(
            RedactedUrl("postgres://db/x?Password=secret").to_string(),
            "postgres://db/x?Password=***"
        );
        assert_eq!(
            RedactedUrl("host=db user=me password=secret dbname=x").to_string(),
            "host=db user=me password=*** dbname=x"
        );
        assert_eq!(
            RedactedUrl("host=db password='se cret' dbname=x").to_string(),
            "host=db password=*** dbname=x"
        );
        assert_eq!(
            RedactedUrl("host=db mypassword=visible").to_string(),
            "host=db mypassword=visible"
        );
    }
}
