//! [`TestDatabase`]: a migrated database of its own for one test, on the server named by
//! `DATABASE_URL` (or the embedded cluster), dropped when the value is — also while a failed
//! assertion unwinds, so a failing test leaks nothing.

use ktrdr::{
    Result,
    db::{self, scratch::ScratchDatabase},
};
use sqlx::PgPool;

/// The URL of the test server (as [`TestDatabase`] finds it) with `database` instead of its own,
/// and `credentials` (`user` or `user:password`) instead of its own when given: for tests of
/// logins the server refuses. (Query parameters are left out.)
pub fn server_url_as(credentials: Option<&str>, database: &str) -> Result<String> {
    let admin_url = db::resolve_database_url()?;
    let (scheme, rest) = admin_url
        .split_once("://")
        .unwrap_or(("postgres", &admin_url));
    let (own_credentials, address) = rest.rsplit_once('@').unwrap_or(("", rest));
    let host = address.split(['/', '?']).next().unwrap_or_default();
    Ok(match credentials.unwrap_or(own_credentials) {
        "" => format!("{scheme}://{host}/{database}"),
        credentials => format!("{scheme}://{credentials}@{host}/{database}"),
    })
}

/// A migrated database of its own for one test; dropped with this value.
pub struct TestDatabase {
    pub pool: PgPool,
    scratch: Option<ScratchDatabase>,
}

impl TestDatabase {
    pub async fn create() -> Result<Self> {
        let admin_url = db::resolve_database_url()?;
        let scratch = ScratchDatabase::create(&admin_url, "ktrdr_test").await?;
        let pool = scratch.pool(20).await?;
        Ok(Self {
            pool,
            scratch: Some(scratch),
        })
    }

    /// URL of this database, for child processes.
    pub fn url(&self) -> &str {
        &self.scratch.as_ref().expect("not dropped yet").url
    }
}

impl Drop for TestDatabase {
    /// Drops the database on a thread of its own (with its own runtime: this may run inside the
    /// test's runtime, or while a failed assertion unwinds). `WITH (FORCE)` ends the pool's
    /// connections.
    fn drop(&mut self) {
        let Some(scratch) = self.scratch.take() else {
            return;
        };
        let name = scratch.name.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?
                .block_on(scratch.drop_database())
                .map_err(|err| err.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("test database {name} was not dropped: {err}"),
            Err(_) => {
                eprintln!("test database {name} was not dropped: the dropping thread panicked")
            }
        }
    }
}
