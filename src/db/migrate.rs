//! `ktrdr migrate`: versioned schema migrations (refinery, `migrations/`) followed by the functions and
//! views of `sql/`, all under one advisory lock so that many processes starting together migrate once.
//!
//! refinery has no sqlx driver; [`RefineryConnection`] adapts refinery's async traits to a sqlx
//! connection, so the project needs no second PostgreSQL driver. The `sql/` files are written with
//! CREATE OR REPLACE and applied in file-name order in one transaction, only when their combined
//! SHA-256 differs from the one recorded in `ktrdr.sql_bundle`. Every CLI call and worker start
//! migrates, so the usual case — nothing to do — is answered by one query without the lock.

use refinery_core::{
    Migration,
    traits::r#async::{AsyncMigrate, AsyncQuery, AsyncTransaction},
};
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Row};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{Error, Result};

refinery::embed_migrations!("migrations");

/// The sql/ files, in application order: (file name, contents).
const SQL_BUNDLE: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/sql_bundle.rs"));

/// The text of one sql/ file of the bundle, by file name.
pub(crate) fn sql_file(name: &str) -> Option<&'static str> {
    SQL_BUNDLE
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, sql)| *sql)
}

/// Key of the advisory lock held while migrating ("ktrdr" in ASCII).
pub(crate) const MIGRATION_LOCK_KEY: i64 = 0x006b_7472_6472;
const HISTORY_TABLE: &str = "ktrdr.refinery_schema_history";

/// What one `migrate` call changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MigrationReport {
    /// Versioned migrations applied by this call, as `V{n}__{name}`.
    pub applied_migrations: Vec<String>,
    /// Whether the sql/ functions and views were (re)applied.
    pub sql_bundle_applied: bool,
    /// Number of files in the sql/ bundle.
    pub sql_files: usize,
}

/// Brings the database up to date. Safe to call from any number of processes at once.
pub async fn migrate(pool: &PgPool) -> Result<MigrationReport> {
    let bundle_sha256 = bundle_sha256();
    if is_up_to_date(pool, &bundle_sha256).await {
        return Ok(MigrationReport {
            applied_migrations: Vec::new(),
            sql_bundle_applied: false,
            sql_files: SQL_BUNDLE.len(),
        });
    }
    let mut conn = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    let outcome = migrate_locked(&mut conn, &bundle_sha256).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *conn)
        .await;
    if unlocked.is_err() {
        // A session-level lock must never go back to the pool: closing the connection releases it.
        let _ = conn.detach().close().await;
    }
    outcome
}

/// SHA-256 (hex) of the sql/ files as applied — what `ktrdr.sql_bundle` records. (The value the
/// server computed when it hashed the bundle itself, so recorded hashes stay valid.)
fn bundle_sha256() -> String {
    let text: String = SQL_BUNDLE
        .iter()
        .map(|(name, sql)| format!("-- {name}\n{sql}\n"))
        .collect();
    crate::artifacts::hex_sha256(text.as_bytes())
}

/// True when the newest embedded migration is recorded and the bundle's hash matches. Any error
/// (a database never migrated has neither table) means "not known to be": the locked path decides.
async fn is_up_to_date(pool: &PgPool, bundle_sha256: &str) -> bool {
    let newest = migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max();
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT (SELECT max(version)::bigint FROM {HISTORY_TABLE}) IS NOT DISTINCT FROM $1
            AND EXISTS (SELECT 1 FROM ktrdr.sql_bundle WHERE sha256 = $2)"
    )))
    .bind(newest)
    .bind(bundle_sha256)
    .fetch_one(pool)
    .await
    .unwrap_or(false)
}

async fn migrate_locked(conn: &mut PgConnection, bundle_sha256: &str) -> Result<MigrationReport> {
    sqlx::query("CREATE SCHEMA IF NOT EXISTS ktrdr")
        .execute(&mut *conn)
        .await?;
    let report = migrations::runner()
        .set_migration_table_name(HISTORY_TABLE)
        .run_async(&mut RefineryConnection(&mut *conn))
        .await
        .map_err(|err| Error::Migration(err.to_string()))?;
    let applied_migrations = report
        .applied_migrations()
        .iter()
        .map(ToString::to_string)
        .collect();
    let sql_bundle_applied = apply_sql_bundle(conn, bundle_sha256).await?;
    Ok(MigrationReport {
        applied_migrations,
        sql_bundle_applied,
        sql_files: SQL_BUNDLE.len(),
    })
}

async fn apply_sql_bundle(conn: &mut PgConnection, bundle_sha256: &str) -> Result<bool> {
    let mut tx = conn.begin().await?;
    let unchanged: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ktrdr.sql_bundle WHERE sha256 = $1)")
            .bind(bundle_sha256)
            .fetch_one(&mut *tx)
            .await?;
    if unchanged {
        return Ok(false);
    }
    for (name, sql) in SQL_BUNDLE {
        sqlx::raw_sql(AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await
            .map_err(|err| Error::Migration(format!("sql/{name}: {err}")))?;
    }
    sqlx::query(
        "INSERT INTO ktrdr.sql_bundle (sha256) VALUES ($1)
         ON CONFLICT (singleton) DO UPDATE SET sha256 = excluded.sha256, applied_at = now()",
    )
    .bind(bundle_sha256)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// refinery's async driver traits over a borrowed sqlx connection.
struct RefineryConnection<'c>(&'c mut PgConnection);

impl AsyncTransaction for RefineryConnection<'_> {
    type Error = sqlx::Error;

    async fn execute<'a, T: Iterator<Item = &'a str> + Send + 'a>(
        &'a mut self,
        queries: T,
    ) -> Result<usize, Self::Error> {
        let mut tx = self.0.begin().await?;
        let mut count = 0;
        for query in queries {
            sqlx::raw_sql(AssertSqlSafe(query))
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }
}

impl AsyncQuery<Vec<Migration>> for RefineryConnection<'_> {
    async fn query<'a>(&'a mut self, query: &'a str) -> Result<Vec<Migration>, Self::Error> {
        let rows = sqlx::query(AssertSqlSafe(query))
            .fetch_all(&mut *self.0)
            .await?;
        rows.iter()
            .map(|row| {
                let applied_on: String = row.try_get(2)?;
                let checksum: String = row.try_get(3)?;
                let decode = |what: &str| {
                    sqlx::Error::Decode(format!("bad {what} in {HISTORY_TABLE}").into())
                };
                Ok(Migration::applied(
                    row.try_get(0)?,
                    row.try_get(1)?,
                    OffsetDateTime::parse(&applied_on, &Rfc3339)
                        .map_err(|_| decode("applied_on"))?,
                    checksum.parse().map_err(|_| decode("checksum"))?,
                ))
            })
            .collect()
    }
}

impl AsyncMigrate for RefineryConnection<'_> {}
