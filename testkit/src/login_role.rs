//! [`LoginRole`]: a login that is a member of one of ktrdr's group roles (`ktrdr_worker`,
//! `ktrdr_reader`, `ktrdr_admin`, sql/95_roles.sql), for tests that run as it. Roles belong to
//! the whole server, so it is dropped when the value is — also while a failed assertion unwinds.

use ktrdr::{Result, db};
use sqlx::PgPool;

pub struct LoginRole {
    pub name: String,
    database: String,
}

impl LoginRole {
    /// Creates `ktrdr_test_{random}`, a member of `group`, allowed into `test_db`'s database.
    pub async fn create(test_db: &crate::TestDatabase, group: &str) -> Result<Self> {
        let name = format!("ktrdr_test_{:016x}", rand::random::<u64>());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {name} LOGIN IN ROLE {group}"
        )))
        .execute(&test_db.pool)
        .await?;
        let database = url::Url::parse(test_db.url())
            .expect("a test database URL")
            .path()
            .trim_start_matches('/')
            .to_string();
        Ok(Self { name, database })
    }

    /// The test database's URL with this login (the test server trusts its local logins).
    pub fn url(&self) -> Result<String> {
        crate::server_url_as(Some(&self.name), &self.database)
    }

    /// A small pool logged in as this role.
    pub async fn pool(&self) -> Result<PgPool> {
        db::connect_with_size(&self.url()?, 2).await
    }
}

impl Drop for LoginRole {
    /// Drops the role on a thread of its own with its own runtime (this may run inside the test's
    /// runtime, or while a failed assertion unwinds).
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || -> std::result::Result<(), String> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?
                .block_on(async {
                    let pool = db::connect_with_size(&db::resolve_database_url()?, 1).await?;
                    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {name}")))
                        .execute(&pool)
                        .await?;
                    pool.close().await;
                    Ok::<_, ktrdr::Error>(())
                })
                .map_err(|err| err.to_string())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("test role {} was not dropped: {dropped:?}", self.name);
        }
    }
}
