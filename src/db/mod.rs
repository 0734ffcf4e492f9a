//! Everything about reaching PostgreSQL: which server (DATABASE_URL or the embedded project-local
//! cluster), connecting (and saying why not), outages logged once, migrating, and throw-away
//! databases for tests and benchmarks.

mod connect;
mod connect_failure;
pub mod embedded;
mod migrate;
pub mod outage;
pub mod roles;
pub mod scratch;

pub(crate) use connect::connect_single;
pub use connect::{connect, connect_with_size, resolve_database_url, wait_until_reachable};
pub use connect_failure::ConnectFailure;
pub use migrate::{MigrationReport, migrate};
pub use scratch::database_url;
