//! Throw-away databases on a server: every test and benchmark run gets its own, fully migrated, so
//! they never see each other's rows and can run in parallel against one server.

use sqlx::{AssertSqlSafe, PgPool, postgres::PgConnectOptions};

use crate::{Error, Result, db, error::RedactedUrl};

/// A freshly created and migrated database; `drop_database` removes it.
pub struct ScratchDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl ScratchDatabase {
    /// Creates `{prefix}_{random}` on the server `admin_url` points at and migrates it.
    pub async fn create(admin_url: &str, prefix: &str) -> Result<Self> {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        let mut admin = db::connect_single(admin_url).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await?;
        let url = database_url(admin_url, &name)?;
        let scratch = Self {
            name,
            url,
            admin_url: admin_url.to_string(),
        };
        let pool = db::connect_with_size(&scratch.url, 2).await?;
        db::migrate(&pool).await?;
        pool.close().await;
        Ok(scratch)
    }

    /// A pool on this database.
    pub async fn pool(&self, max_connections: u32) -> Result<PgPool> {
        db::connect_with_size(&self.url, max_connections).await
    }

    /// Drops the database, disconnecting whoever is still connected.
    pub async fn drop_database(self) -> Result<()> {
        let mut admin = db::connect_single(&self.admin_url).await?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await?;
        Ok(())
    }
}

/// `url` with its database replaced by `name` (login, host, port and parameters kept).
pub fn database_url(url: &str, name: &str) -> Result<String> {
    let invalid = |err: String| {
        Error::Config(format!(
            "cannot derive a database URL from {}: {err}",
            RedactedUrl(url)
        ))
    };
    let mut parsed = url::Url::parse(url).map_err(|err| invalid(err.to_string()))?;
    parsed.set_path(name);
    let derived = parsed.to_string();
    derived
        .parse::<PgConnectOptions>()
        .map_err(|err| invalid(err.to_string()))?;
    Ok(derived)
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn database_url_replaces_only_the_database() {
        assert_eq!(
            database_url("postgres://u@h:5/postgres?sslmode=disable", "x").unwrap(),
            "postgres://u@h:5/x?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://u@h:5", "x").unwrap(),
            "postgres://u@h:5/x"
        );
    }
}
