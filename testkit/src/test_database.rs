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
/// logins the server refuses.
pub fn server_url_as(credentials: Option<&str>, database: &str) -> Result<String> {
    let url = db::database_url(&db::resolve_database_url()?, database)?;
    let Some(credentials) = credentials else {
        return Ok(url);
    };
    let mut url = url::Url::parse(&url).expect("database_url gives a valid URL");
    let (user, password) = match credentials.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (credentials, None),
    };
    url.set_username(user)
        .and_then(|()| url.set_password(password))
        .expect("a URL with a host takes a login");
    Ok(url.to_string())
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
