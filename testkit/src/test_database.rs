//! [`TestDatabase`]: a migrated database of its own for one test, on the server named by
//! `DATABASE_URL` (or the embedded cluster), dropped when the value is — also while a failed
//! assertion unwinds, so a failing test leaks nothing.

use ktrdr::{
    Result,
    db::{self, scratch::ScratchDatabase},
};
use sqlx::PgPool;

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
