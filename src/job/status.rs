//! The lifecycle states of a render job.

use std::fmt;

use crate::error::{Error, Result};

/// Where a render job is in its lifecycle.
///
/// `pending -> compositing -> rendering -> completed`, or `failed` / `cancelled`.
/// `completed`, `failed` and `cancelled` are terminal; only `failed` can be retried.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for a worker.
    #[default]
    Pending,
    /// A worker is producing the print file and texture atlas.
    Compositing,
    /// A worker is producing the product images and the animation.
    Rendering,
    /// Every output exists; terminal.
    Completed,
    /// The attempt failed; terminal unless retried.
    Failed,
    /// Stopped on request; terminal.
    Cancelled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Compositing,
        JobStatus::Rendering,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The status as stored and serialised (`"pending"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Compositing => "compositing",
            JobStatus::Rendering => "rendering",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the job has finished (completed, failed or cancelled).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// Whether a worker is working on the job (compositing or rendering).
    pub fn is_in_flight(self) -> bool {
        matches!(self, JobStatus::Compositing | JobStatus::Rendering)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for JobStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                let valid: Vec<_> = JobStatus::ALL.iter().map(|s| s.as_str()).collect();
                Error::validation(
                    "status",
                    format!(
                        "unknown status `{s}`; valid statuses are {}",
                        valid.join(", ")
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_text_and_json() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        let err = "done".parse::<JobStatus>().unwrap_err();
        assert!(err.to_string().contains("pending, compositing"));
    }
}
