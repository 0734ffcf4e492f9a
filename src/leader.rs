//! Leader election of the maintenance ticker: at most one process per database runs the maintenance
//! services at a time.
//!
//! Leadership is the PostgreSQL session-level advisory lock [`LEADER_LOCK_KEY`], taken with
//! `pg_try_advisory_lock` on a connection of the candidate's own (never a pooled one: a pool would
//! hand the session, and with it the lock, to other work). When the leader dies, or only its
//! connection does, its backend exits, the server releases the lock, and the next follower to try
//! takes it. `ktrdr.orphan_detector` (sql/90_views.sql) finds the holder in `pg_locks`, so psql,
//! `ktrdr health` and Grafana see whether some ticker leads.
//!
//! This module touches nothing but its own connection and the lock.

use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};

use crate::Result;

/// Advisory lock key of the ticker leader ("ktic"); `ktrdr.orphan_detector` looks for it in pg_locks.
pub const LEADER_LOCK_KEY: i64 = 0x6b74_6963;

/// A ticker's own connection, on which it competes for the leader lock and, once it won, holds it.
pub struct Candidate {
    conn: PgConnection,
}

impl Candidate {
    /// Connection options for candidates: `url`, named `ktrdr-ticker` in `pg_stat_activity`.
    pub fn options(url: &str) -> Result<PgConnectOptions> {
        crate::db::connect_options(url, "ktrdr-ticker")
    }

    pub async fn connect(options: &PgConnectOptions) -> Result<Self> {
        Ok(Self {
            conn: PgConnection::connect_with(options).await?,
        })
    }

    /// Tries once to take the lock; true when this candidate now leads.
    pub async fn try_lead(&mut self) -> Result<bool> {
        Ok(sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut self.conn)
            .await?)
    }

    /// Whether this candidate's session still holds the lock. An error means the connection is gone,
    /// and with it the lock: the leader must stop running services before another takes over.
    pub async fn still_leads(&mut self) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks
                            WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid()
                              AND objsubid = 1 AND (classid::bigint << 32 | objid::bigint) = $1)",
        )
        .bind(LEADER_LOCK_KEY)
        .fetch_one(&mut self.conn)
        .await?)
    }

    /// Closes the connection, which releases the lock if this candidate held it.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
