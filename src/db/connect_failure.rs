//! Why a connection to PostgreSQL could not be opened, in words that say what to fix: the driver's
//! own errors name the symptom ("pool timed out", "error communicating with database: …", the
//! server's message with the line of its C source), several times over once printed with their
//! causes. [`ConnectFailure::of`] sorts a failed connect into the cases a user acts on differently,
//! and [`is_transient`](ConnectFailure::is_transient) tells the ones worth waiting out (the server
//! is starting, restarting, or not up yet) from those no retry can fix (a wrong password, a missing
//! database, a host name that does not resolve).

use std::{fmt, time::Duration};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing listens at the host and port (ECONNREFUSED).
    Refused,
    /// The host name does not resolve.
    HostNotFound,
    /// The host did not answer within the connect timeout.
    TimedOut(Duration),
    /// The server refused the user or the password (SQLSTATE class 28): its message.
    Authentication(String),
    /// The database named in the URL does not exist (SQLSTATE 3D000): the server's message.
    DatabaseMissing(String),
    /// The server is starting up, shutting down or in recovery (SQLSTATE 57P0x): its message.
    NotReady(String),
    /// Anything else: the error's own message, and whether a retry may help.
    Other { message: String, transient: bool },
}

impl ConnectFailure {
    /// The case of `err`, an error of opening one connection.
    pub fn of(err: &sqlx::Error) -> Self {
        match err {
            sqlx::Error::Io(io) => match io.kind() {
                std::io::ErrorKind::ConnectionRefused => ConnectFailure::Refused,
                std::io::ErrorKind::TimedOut => ConnectFailure::Other {
                    message: io.to_string(),
                    transient: true,
                },
                // getaddrinfo's answers come as uncategorised I/O errors, told apart by their text
                // only; a temporary failure (EAI_AGAIN, the resolver is away) is worth a retry.
                _ if io
                    .to_string()
                    .contains("failed to lookup address information")
                    && !io.to_string().contains("Temporary failure") =>
                {
                    ConnectFailure::HostNotFound
                }
                _ => ConnectFailure::Other {
                    message: io.to_string(),
                    transient: true,
                },
            },
            sqlx::Error::Database(db) => {
                let message = db.message().to_string();
                match db.code().as_deref().unwrap_or_default() {
                    code if code.starts_with("28") => ConnectFailure::Authentication(message),
                    "3D000" => ConnectFailure::DatabaseMissing(message),
                    code if code.starts_with("57P") => ConnectFailure::NotReady(message),
                    // too_many_connections: a slot may free up.
                    "53300" => ConnectFailure::Other {
                        message,
                        transient: true,
                    },
                    _ => ConnectFailure::Other {
                        message,
                        transient: false,
                    },
                }
            }
            sqlx::Error::Protocol(message) => ConnectFailure::Other {
                message: message.clone(),
                transient: true,
            },
            other => ConnectFailure::Other {
                message: other.to_string(),
                transient: false,
            },
        }
    }

    /// Whether waiting may help: the server is not up (yet), or is starting or stopping.
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectFailure::Refused | ConnectFailure::TimedOut(_) | ConnectFailure::NotReady(_) => {
                true
            }
            ConnectFailure::HostNotFound
            | ConnectFailure::Authentication(_)
            | ConnectFailure::DatabaseMissing(_) => false,
            ConnectFailure::Other { transient, .. } => *transient,
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Refused => {
                f.write_str("connection refused — is the server running? (check DATABASE_URL)")
            }
            ConnectFailure::HostNotFound => {
                f.write_str("host not found — check the host name in DATABASE_URL")
            }
            ConnectFailure::TimedOut(limit) => write!(
                f,
                "no answer within {} s — is the host reachable, and the port right? (check DATABASE_URL)",
                limit.as_secs_f64()
            ),
            ConnectFailure::Authentication(message) => write!(
                f,
                "authentication failed: {message} — check the user and password in DATABASE_URL"
            ),
            ConnectFailure::DatabaseMissing(message) => write!(
                f,
                "{message} — create it (createdb), or fix the database name in DATABASE_URL"
            ),
            ConnectFailure::NotReady(message) => write!(f, "{message} — try again in a moment"),
            ConnectFailure::Other { message, .. } => write!(f, "{message} (check DATABASE_URL)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectFailure;

    fn io(kind: std::io::ErrorKind, message: &str) -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::new(kind, message))
    }

    #[test]
    fn io_errors_are_sorted_by_what_to_fix() {
        use std::io::ErrorKind;
        let refused = ConnectFailure::of(&io(ErrorKind::ConnectionRefused, "refused"));
        assert_eq!(refused, ConnectFailure::Refused);
        assert!(refused.is_transient());
        let unknown = ConnectFailure::of(&io(
            ErrorKind::Other,
            "failed to lookup address information: Name or service not known",
        ));
        assert_eq!(unknown, ConnectFailure::HostNotFound);
        assert!(!unknown.is_transient());
        let resolver_away = ConnectFailure::of(&io(
            ErrorKind::Other,
            "failed to lookup address information: Temporary failure in name resolution",
        ));
        assert!(resolver_away.is_transient(), "{resolver_away:?}");
    }
}
