//! The job state machine: `queued → running → succeeded | failed | cancelled`,
//! with `failed | cancelled → queued` on retry. Every transition the
//! service makes is checked here; the repository applies it only if the
//! row is still in an allowed state (so concurrent changes cannot skip one).

use clustergenie_proto::jobs::v1 as pb;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The states a job may enter `to` from.
    pub fn sources(to: Self) -> &'static [Self] {
        match to {
            // Running/queued → queued is the next attempt after a failed one
            // (an executor may fail an attempt before reporting it running).
            Self::Queued => &[Self::Failed, Self::Cancelled, Self::Running, Self::Queued],
            Self::Running => &[Self::Queued, Self::Running],
            Self::Succeeded | Self::Failed => &[Self::Queued, Self::Running],
            Self::Cancelled => &[Self::Queued, Self::Running],
        }
    }

    pub fn can_become(self, to: Self) -> bool {
        Self::sources(to).contains(&self)
    }

    pub fn to_pb(self) -> pb::JobStatus {
        match self {
            Self::Queued => pb::JobStatus::Queued,
            Self::Running => pb::JobStatus::Running,
            Self::Succeeded => pb::JobStatus::Succeeded,
            Self::Failed => pb::JobStatus::Failed,
            Self::Cancelled => pb::JobStatus::Cancelled,
        }
    }
}

/// The kind of a job, from its action.
pub fn kind_of(action: &pb::job_action::Action) -> pb::JobKind {
    use pb::job_action::Action as A;
    match action {
        A::ProvisionDroplets(_) => pb::JobKind::ProvisionDroplets,
        A::DestroyDroplet(_) => pb::JobKind::DestroyDroplet,
        A::ResizeDroplet(_) => pb::JobKind::ResizeDroplet,
        A::RebootDroplet(_) => pb::JobKind::RebootDroplet,
        A::PowerCycleDroplet(_) => pb::JobKind::PowerCycleDroplet,
        A::ScaleCluster(_) => pb::JobKind::ScaleCluster,
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub cluster_id: String,
    pub kind: pb::JobKind,
    pub action: pb::JobAction,
    pub status: Status,
    pub progress: i32,
    pub message: String,
    pub attempt: i32,
    pub max_attempts: i32,
    pub error: String,
    pub cancel_requested: bool,
    pub result: pb::JobResult,
    pub source: pb::JobSource,
    pub origin_id: String,
    pub requested_by: String,
    pub trace_id: String,
    pub request_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_job_cannot_start_running_again() {
        for done in [Status::Succeeded, Status::Failed, Status::Cancelled] {
            assert!(!done.can_become(Status::Running), "{done:?}");
            assert!(!done.can_become(Status::Succeeded), "{done:?}");
        }
    }

    #[test]
    fn failed_and_cancelled_jobs_can_be_retried_but_succeeded_ones_cannot() {
        assert!(Status::Failed.can_become(Status::Queued));
        assert!(Status::Cancelled.can_become(Status::Queued));
        assert!(!Status::Succeeded.can_become(Status::Queued));
    }

    #[test]
    fn a_queued_job_can_be_cancelled_before_it_runs() {
        assert!(Status::Queued.can_become(Status::Cancelled));
    }

    #[test]
    fn statuses_round_trip_through_their_column_form() {
        for s in Status::ALL {
            assert_eq!(Status::from_column(s.as_str()), Some(s));
        }
    }
}
