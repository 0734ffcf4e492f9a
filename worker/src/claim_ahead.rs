//! Claiming ahead: operations claimed beyond the free slots wait in a small local buffer, so a slot
//! that frees up starts its next operation at once instead of after a round trip to the database,
//! and one claim serves many operations.
//!
//! **How deep.** Deep enough to keep the slots busy, shallow enough that a buffered operation
//! starts soon: the depth is `HORIZON × concurrency ÷ typical job time`, at most `--prefetch`. Jobs
//! of a few milliseconds fill the buffer; jobs of a second or more (training, backtests) get none, so
//! an operation never waits behind a long job on a busy worker while another worker is idle. The
//! typical job time follows the jobs that ended here: a longer one raises it at once, shorter ones
//! lower it gradually. Until a job has ended the worker claims only for its free slots.
//!
//! **How long.** A buffered operation is claimed — running in the database, under this worker's
//! lease — but nobody heartbeats it yet. It waits at most half a heartbeat interval (so the lease
//! it starts with is still good for more than two heartbeat intervals); an operation still waiting
//! then is released back to pending without counting its attempt, and its wait counts as a long
//! job, which empties the buffer until short jobs come back.

use std::{collections::VecDeque, time::Duration};

use ktrdr::operations::{ClaimedOperation, Lease};
use tokio::time::Instant;

/// How long, at the typical job time, the last operation of the buffer may wait before it starts.
pub const HORIZON: Duration = Duration::from_millis(100);

/// Weight of a shorter job in the typical job time (a longer one replaces it).
const SHORTER_JOB_WEIGHT: f64 = 0.1;

/// The buffer of claimed, not yet started operations, and the policy that sizes it.
#[derive(Debug)]
pub struct ClaimAhead {
    /// `--prefetch`: the most operations held beyond the running ones.
    limit: usize,
    concurrency: usize,
    max_wait: Duration,
    /// Seconds a job typically runs; `None` until one ended.
    typical_job_seconds: Option<f64>,
    queue: VecDeque<Buffered>,
}

#[derive(Debug)]
struct Buffered {
    op: ClaimedOperation,
    since: Instant,
}

impl ClaimAhead {
    /// A buffer of at most `limit` operations for a worker of `concurrency` slots, whose buffered
    /// operations wait at most `max_wait`.
    pub fn new(limit: usize, concurrency: usize, max_wait: Duration) -> Self {
        Self {
            limit,
            concurrency,
            max_wait,
            typical_job_seconds: None,
            queue: VecDeque::new(),
        }
    }

    /// A job ended after running for `ran`.
    pub fn job_ended(&mut self, ran: Duration) {
        let ran = ran.as_secs_f64();
        self.typical_job_seconds = Some(match self.typical_job_seconds {
            Some(typical) if ran < typical => typical + SHORTER_JOB_WEIGHT * (ran - typical),
            _ => ran,
        });
    }

    /// How many operations the buffer should hold now.
    pub fn depth(&self) -> usize {
        match self.typical_job_seconds {
            None => 0,
            Some(typical) => {
                let depth = HORIZON.as_secs_f64() * self.concurrency as f64 / typical.max(1e-9);
                (depth.floor() as usize).min(self.limit)
            }
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn push(&mut self, op: ClaimedOperation) {
        self.queue.push_back(Buffered {
            op,
            since: Instant::now(),
        });
    }

    /// The operation claimed first (the claim order is priority, then submission).
    pub fn pop(&mut self) -> Option<ClaimedOperation> {
        self.queue.pop_front().map(|buffered| buffered.op)
    }

    /// Takes the buffered operation `operation_id` out, if it is buffered.
    pub fn take(&mut self, operation_id: &str) -> Option<ClaimedOperation> {
        let at = self
            .queue
            .iter()
            .position(|buffered| buffered.op.lease.operation_id == operation_id)?;
        self.queue.remove(at).map(|buffered| buffered.op)
    }

    /// When the operation that has waited longest must leave the buffer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue
            .front()
            .map(|buffered| buffered.since + self.max_wait)
    }

    /// Takes out the operations that have waited `max_wait`, to be released; their wait counts as
    /// a job that long.
    pub fn take_overdue(&mut self, now: Instant) -> Vec<ClaimedOperation> {
        let mut overdue = Vec::new();
        while let Some(front) = self.queue.front() {
            if now < front.since + self.max_wait {
                break;
            }
            let waited = now - front.since;
            overdue.extend(self.queue.pop_front().map(|buffered| buffered.op));
            self.job_ended(waited);
        }
        overdue
    }

    /// Takes out every buffered operation (the worker is stopping).
    pub fn drain(&mut self) -> Vec<ClaimedOperation> {
        self.queue.drain(..).map(|buffered| buffered.op).collect()
    }

    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.queue.iter().map(|buffered| &buffered.op.lease)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: &str) -> ClaimedOperation {
        ClaimedOperation {
            lease: Lease {
                operation_id: id.into(),
                worker_id: "w".into(),
                attempt: 1,
            },
            operation_type: "dummy".into(),
            params: Ok(serde_json::json!({})),
            max_attempts: 1,
            lease_expires_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn no_buffer_until_a_job_ended() {
        let ahead = ClaimAhead::new(100, 8, Duration::from_secs(1));
        assert_eq!(ahead.depth(), 0);
    }

    #[test]
    fn short_jobs_fill_the_buffer_up_to_the_limit_and_long_ones_empty_it() {
        let mut ahead = ClaimAhead::new(100, 8, Duration::from_secs(1));
        ahead.job_ended(Duration::from_micros(50));
        assert_eq!(
            ahead.depth(),
            100,
            "50 µs jobs: as deep as --prefetch allows"
        );
        ahead.job_ended(Duration::from_millis(20));
        assert_eq!(
            ahead.depth(),
            40,
            "a longer job counts at once: 0.1 s × 8 ÷ 20 ms"
        );
        ahead.job_ended(Duration::from_secs(30));
        assert_eq!(ahead.depth(), 0, "a training-length job: no buffer");
        for _ in 0..200 {
            ahead.job_ended(Duration::from_micros(50));
        }
        assert_eq!(
            ahead.depth(),
            100,
            "short jobs bring the buffer back gradually"
        );
    }

    #[test]
    fn a_prefetch_of_zero_never_buffers() {
        let mut ahead = ClaimAhead::new(0, 8, Duration::from_secs(1));
        ahead.job_ended(Duration::from_micros(1));
        assert_eq!(ahead.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn operations_leave_in_claim_order_and_overdue_ones_shrink_the_buffer() {
        let mut ahead = ClaimAhead::new(100, 1, Duration::from_secs(1));
        ahead.job_ended(Duration::from_millis(1));
        ahead.push(op("a"));
        tokio::time::advance(Duration::from_millis(600)).await;
        ahead.push(op("b"));
        ahead.push(op("c"));
        assert_eq!(
            ahead.take("b").map(|o| o.lease.operation_id),
            Some("b".into())
        );
        assert!(ahead.take("b").is_none());
        assert!(ahead.take_overdue(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_millis(400)).await;
        let overdue: Vec<_> = ahead
            .take_overdue(Instant::now())
            .into_iter()
            .map(|o| o.lease.operation_id)
            .collect();
        assert_eq!(overdue, ["a"]);
        assert_eq!(ahead.depth(), 0, "a wait of 1 s counts as a 1 s job");
        assert_eq!(ahead.pop().map(|o| o.lease.operation_id), Some("c".into()));
        assert!(ahead.pop().is_none());
    }
}
