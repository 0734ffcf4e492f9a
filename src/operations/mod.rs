//! Operations: typed calls of the SQL lifecycle functions (sql/20_submit.sql … sql/60_cancel.sql) and
//! the read side used by the CLI. Nothing here reads a row, decides and writes it back: every state
//! change is one SQL function call.

mod cancel;
mod lease;
mod params_limits;
mod progress_history;
mod query;
mod retry;
mod status;
mod stored_params;
mod submit;

pub use cancel::{CancelOutcome, request_cancel, resume};
pub use lease::{
    ClaimedOperation, FailOutcome, FenceVerdict, HeartbeatVerdict, Lease, Outcome, Progress,
    Reported, claim, complete_batch, reclaim,
};
pub use params_limits::{
    MAX_PARAMS_BYTES, MAX_PARAMS_DEPTH, check_params_limits, check_params_text_depth,
};
pub use progress_history::{ProgressRecord, progress_since};
pub use query::{
    ListFilter, Operation, OperationEvent, children, count, events, get, list, resolve_id,
};
pub use retry::retry;
pub use status::Status;
pub use stored_params::StoredParams;
pub use submit::{NewOperation, submit, submit_many};
