//! Everything about reaching PostgreSQL: which server (DATABASE_URL or the embedded project-local
//! cluster), connecting, migrating, and throw-away databases for tests and benchmarks.

mod connect;
pub mod embedded;
mod migrate;
pub mod scratch;

pub use connect::{connect, connect_with_size, resolve_database_url, wait_until_reachable};
pub use migrate::{MigrationReport, migrate};
