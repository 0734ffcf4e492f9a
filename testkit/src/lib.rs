//! # ktrdr-testkit — test support for ktrdr's crates (a dev-dependency, and the chaos benchmark's cluster; never shipped)
//!
//! - [`TestDatabase`]: a migrated database of its own for one test, on the server named by
//!   `DATABASE_URL` (or the embedded cluster), dropped when the value is — also when an assertion
//!   failed and the test is unwinding, so a failing test leaks nothing; [`server_url_as`] names
//!   its server with another login, for logins the server refuses (shown as
//!   messages show it by [`ktrdr::RedactedUrl`]).
//! - [`TempCluster`]: a private PostgreSQL cluster for tests that stop or restart the server.
//! - [`LoginRole`]: a login in one of ktrdr's group roles, dropped with the value.
//! - [`WorkerProcess`]: a real `ktrdr-worker` process, killed on drop, its log printed when the
//!   test failed.
//! - [`wait_for`]: await a condition instead of sleeping and hoping.
//! - Queue shortcuts for any crate's tests: submit [`pending_dummy`] operations (or
//!   [`submit_dummies`] in bulk, or [`submit_through_sql`] past the kinds' checks), claim them
//!   ([`running_dummy`], [`submit_and_claim`], [`claim_next`]), listen ([`listening`],
//!   [`next_wakeup`]), read back what happened ([`event_history`], [`submitted_params`],
//!   [`count_rows`], [`ticker_leader`]) and assert what did not ([`assert_no_dummy_to_claim`],
//!   [`assert_nothing_submitted`]).
//!
//! A test that needs only the pool borrows it from the database it creates; the database lives
//! until the end of the test's block (a borrowed temporary lives as long as the borrow's variable):
//!
//! ```no_run
//! # async fn demo() -> ktrdr::Result<()> {
//! let pool = &ktrdr_testkit::TestDatabase::create().await?.pool;
//! let claimed = ktrdr_testkit::running_dummy(pool, "worker-1", 30.0).await?;
//! assert_eq!(claimed.lease.attempt, 1);
//! # Ok(()) }
//! ```

mod login_role;
mod queue;
mod temp_cluster;
mod test_database;
mod ticker_settings;
mod wait;
mod worker_process;

pub use login_role::LoginRole;
pub use queue::{
    assert_no_dummy_to_claim, assert_nothing_submitted, claim_next, count_rows,
    dummy_with_attempts, event_history, listening, next_wakeup, pending_dummy, running_dummy,
    submit_and_claim, submit_dummies, submit_dummy, submit_through_sql, submitted_params,
    ticker_leader,
};
pub use temp_cluster::TempCluster;
pub use test_database::{TestDatabase, server_url_as};
pub use ticker_settings::fast_ticker_settings;
pub use wait::wait_for;
pub use worker_process::WorkerProcess;
