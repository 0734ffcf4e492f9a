//! The operation statuses (contract): lowercase in the database and JSON, the seeds' uppercase names
//! in tables for people.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Read from and bound to `text` columns by its database spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Status {
    Pending,
    Running,
    PendingReconciliation,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Running,
        Status::PendingReconciliation,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ];

    /// The database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::PendingReconciliation => "pending_reconciliation",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Completed, failed and cancelled operations are finished (until a resume).
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }
}

impl fmt::Display for Status {
    /// The seeds' uppercase name, e.g. `PENDING_RECONCILIATION`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().to_uppercase())
    }
}

impl FromStr for Status {
    type Err = Error;

    /// Accepts either spelling, case-insensitively.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim().to_lowercase();
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == wanted)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown status '{text}' (expected one of: {})",
                    Status::ALL.map(|s| s.to_string()).join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn statuses_parse_in_either_case_and_print_uppercase() {
        assert_eq!("RUNNING".parse::<Status>().unwrap(), Status::Running);
        assert_eq!(
            "pending_reconciliation".parse::<Status>().unwrap(),
            Status::PendingReconciliation
        );
        assert_eq!(Status::Cancelled.to_string(), "CANCELLED");
        assert!("done".parse::<Status>().is_err());
    }
}
