//! [`LoginRole`]: a login that is a member of one of ktrdr's group roles (`ktrdr_worker`,
//! `ktrdr_reader`, `ktrdr_admin`, sql/95_roles.sql), for tests that run as it. Roles belong to
//! the whole server, so it is dropped when the value is — also while a failed assertion unwinds.

use ktrdr::{Result, db};
use sqlx::PgPool;

pub struct LoginRole {
    pub name: String,
    password: String,
    database: String,
}

impl LoginRole {
    /// Creates `ktrdr_test_{random}`, a member of `group`, allowed into `test_db`'s database, with
    /// a random password (the embedded cluster asks for one; a server that trusts its local logins
    /// does not look at it).
    pub async fn create(test_db: &crate::TestDatabase, group: &str) -> Result<Self> {
        let name = format!("ktrdr_test_{:016x}", rand::random::<u64>());
        let password = format!("{:032x}", rand::random::<u128>());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE {group}"
        )))
        .execute(&test_db.pool)
        .await?;
        Ok(Self {
            name,
            password,
            database: database_of(test_db),
        })
    }

    /// A login `name` with `password` that something else (the command under test) created in
    /// `test_db`'s server: dropped with this value, like one made by [`LoginRole::create`].
    pub fn adopt(test_db: &crate::TestDatabase, name: &str, password: &str) -> Self {
        Self {
            name: name.to_string(),
            password: password.to_string(),
            database: database_of(test_db),
        }
    }

    /// The test database's URL with this login and its password.
    pub fn url(&self) -> Result<String> {
        crate::server_url_as(
            Some(&format!("{}:{}", self.name, self.password)),
            &self.database,
        )
    }

    /// A small pool logged in as this role.
    pub async fn pool(&self) -> Result<PgPool> {
        db::connect_with_size(&self.url()?, 2).await
    }
}

fn database_of(test_db: &crate::TestDatabase) -> String {
    url::Url::parse(test_db.url())
        .expect("a test database URL")
        .path()
        .trim_start_matches('/')
        .to_string()
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
