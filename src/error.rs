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
    /// A maintenance pass fenced by a leader's epoch whose lease another ticker has taken over (or
    /// that was resigned): the pass changed nothing (SQLSTATE KT001 from `ktrdr.assert_leadership`).
    #[error("{0}")]
    NotLeader(String),
    /// PostgreSQL could not be reached, or refused the login; the cause says what to fix. (The
    /// cause is part of the message, not a source: printed with its causes, the error stays one
    /// line.)
    #[error("cannot connect to PostgreSQL at {target}: {cause}")]
    Unreachable {
        target: String,
        cause: crate::db::ConnectFailure,
    },
    #[error("database error: {}", DatabaseMessage(.0))]
    Database(sqlx::Error),
}

impl Error {
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
                Some("22023") | Some("22P02") | Some("23514") | Some("23503") => {
                    return Error::InvalidInput(message);
                }
                Some("55000") | Some("55006") | Some("40001") => return Error::Conflict(message),
                Some(crate::leader::NOT_LEADER_SQLSTATE) => return Error::NotLeader(message),
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

/// Shows a database URL without its password (`postgres://me:***@db/x`), as every message does.
pub struct RedactedUrl<'a>(pub &'a str);

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.0;
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme_end), Some(at)) if at > scheme_end => {
                let credentials = &url[scheme_end + 3..at];
                match credentials.find(':') {
                    Some(colon) => write!(
                        f,
                        "{}{}:***{}",
                        &url[..scheme_end + 3],
                        &credentials[..colon],
                        &url[at..]
                    ),
                    None => f.write_str(url),
                }
            }
            _ => f.write_str(url),
        }
    }
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
    }
}
