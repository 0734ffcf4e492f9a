//! Leader election of the maintenance ticker: at most one process per database runs the maintenance
//! services at a time.
//!
//! Leadership is a lease in the `ktrdr.maintenance_state` row (sql/82_leadership.sql): the leader's
//! id, when its lease expires, and an epoch that grows with every change of leader. A follower
//! [takes](Leadership::take) leadership only when there is no live lease; the leader
//! [renews](Leadership::renew) it with the epoch it got, and a renewal fails once another has taken
//! over — a leader that froze (SIGSTOP, a network partition) and woke up learns so before it runs
//! anything, and steps down. Nothing depends on a session or a connection: a frozen process that keeps
//! its connection blocks no one, its lease just lapses. On a clean shutdown the leader
//! [resigns](Leadership::resign), so a follower takes over on its next try instead of after the lease.
//!
//! Lease length: [`lease_for`] — twice the check interval (ORPHAN_CHECK_INTERVAL_SECONDS), renewed
//! at least every check interval (see [`crate::ticker`]), so a healthy leader renews with a whole
//! interval to spare; followers try every check interval, so they take over within one check
//! interval after a lease lapses, at most three check intervals after the leader froze.
//!
//! Fencing of the maintenance writes: renewing before every pass is not enough, since a pass that
//! began just before the lease lapsed — or whose process froze mid-pass — would still run its SQL
//! after a follower took over. So every maintenance write of a leader runs in a transaction begun
//! by [`begin_fenced`] with the leader's [`Fence`] (id and epoch): its first statement,
//! `ktrdr.assert_leadership`, share-locks the lease row and raises SQLSTATE
//! [`KT001`](NOT_LEADER_SQLSTATE) ([`Error::NotLeader`](crate::Error::NotLeader)) when another
//! epoch holds the lease or it was resigned. A takeover updates that row, so it waits until a pass
//! under way commits, and a pass that starts after the takeover changes nothing. A lease that lapsed
//! but that nobody took passes the check, as it renews: no one else led in between, and no one can
//! until the pass commits. Calls without a fence (tests, `ktrdr checkpoints cleanup`, pg_cron's
//! SQL) are not checked: they are the operator's, who runs them knowing no ticker may.
//!
//! Every call runs on the pool under [`call_timeout`]: a `statement_timeout` in its transaction, and
//! the same limit on the client side (a half-open connection never answers the server's error), so a
//! leader cannot hang on a call past its lease. `ktrdr.orphan_detector` (sql/90_views.sql) shows
//! whether a lease is live and whose it is, for psql, `ktrdr health` and Grafana.

use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};

use crate::Result;

/// The SQLSTATE with which `ktrdr.assert_leadership` refuses a write whose fence another epoch has
/// overtaken (a class of the project's own, "KT"; mapped to [`Error::NotLeader`](crate::Error::NotLeader)).
pub const NOT_LEADER_SQLSTATE: &str = "KT001";

/// How long a lease lasts: twice the check interval, which is also the longest between renewals.
pub fn lease_for(check_interval: Duration) -> Duration {
    check_interval * 2
}

/// The longest a leadership call may take: the check interval, so that a renewal begun at most one
/// interval after the last one ends before the lease (two intervals) lapses.
pub fn call_timeout(check_interval: Duration) -> Duration {
    check_interval
}

/// One ticker's side of the election, on `pool`.
pub struct Leadership {
    pool: PgPool,
    ticker_id: String,
    lease: Duration,
    timeout: Duration,
}

/// Leadership as won: the epoch to renew and resign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    pub epoch: i64,
}

/// What a leader's maintenance writes are fenced with (see the module documentation): its id and
/// the epoch of its term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub leader_id: String,
    pub epoch: i64,
}

/// A transaction on `pool` for a maintenance write. With `fence`, it first checks that the fence's
/// lease still holds, and keeps the lease row share-locked until it ends, so that no takeover
/// happens before it commits; [`Error::NotLeader`](crate::Error::NotLeader) when another epoch
/// holds the lease or it was resigned. With `None`, a plain (unfenced) transaction.
pub async fn begin_fenced(
    pool: &PgPool,
    fence: Option<&Fence>,
) -> Result<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    if let Some(fence) = fence {
        sqlx::query("SELECT ktrdr.assert_leadership($1, $2)")
            .bind(&fence.leader_id)
            .bind(fence.epoch)
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

impl Leadership {
    /// Ticker `ticker_id` competing with leases of `lease`, each call limited to `timeout`.
    pub fn new(pool: PgPool, ticker_id: &str, lease: Duration, timeout: Duration) -> Self {
        Self {
            pool,
            ticker_id: ticker_id.to_string(),
            lease,
            timeout,
        }
    }

    /// The fence of this ticker's `term`, for its maintenance writes.
    pub fn fence(&self, term: Term) -> Fence {
        Fence {
            leader_id: self.ticker_id.clone(),
            epoch: term.epoch,
        }
    }

    /// Tries once to take leadership; the term when this ticker now leads, None when another does.
    pub async fn take(&self) -> Result<Option<Term>> {
        let epoch: Option<i64> = self
            .limited(async {
                let mut tx = self.begin().await?;
                let epoch = sqlx::query_scalar("SELECT ktrdr.take_leadership($1, $2)")
                    .bind(&self.ticker_id)
                    .bind(self.lease.as_secs_f64())
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(epoch)
            })
            .await?;
        Ok(epoch.map(|epoch| Term { epoch }))
    }

    /// Renews the lease of `term`; false when another took over since (or it was resigned), and then
    /// this ticker must run nothing more.
    pub async fn renew(&self, term: Term) -> Result<bool> {
        self.limited(async {
            let mut tx = self.begin().await?;
            let renewed = sqlx::query_scalar("SELECT ktrdr.renew_leadership($1, $2, $3)")
                .bind(&self.ticker_id)
                .bind(term.epoch)
                .bind(self.lease.as_secs_f64())
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(renewed)
        })
        .await
    }

    /// Ends the lease of `term`, so that a follower takes over at once.
    pub async fn resign(&self, term: Term) -> Result<()> {
        self.limited(async {
            let mut tx = self.begin().await?;
            sqlx::query("SELECT ktrdr.resign_leadership($1, $2)")
                .bind(&self.ticker_id)
                .bind(term.epoch)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// A transaction whose statements time out after `self.timeout` (`SET LOCAL statement_timeout`).
    async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('statement_timeout', $1, true)")
            .bind(format!("{}ms", self.timeout.as_millis().max(1)))
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// `work`, failed with a timeout when it takes longer than `self.timeout` on the client side.
    async fn limited<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(crate::Error::Database(sqlx::Error::Io(
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("leadership call took longer than {:?}", self.timeout),
                    ),
                )))
            })
    }
}
