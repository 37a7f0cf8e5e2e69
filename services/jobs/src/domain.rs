//! Jobs in plain types, parsed at the boundary: a value of these types is
//! valid, and nothing here knows protobuf.
//!
//! The state machine: `queued → running → succeeded | failed | cancelled`,
//! with `failed | cancelled → queued` on retry. Every transition the
//! service makes is checked here; the repository applies it only if the
//! row is still in an allowed state, so concurrent changes cannot skip one.

use cg_runtime::{label_newtype, types::Id};

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
            Self::Succeeded | Self::Failed | Self::Cancelled => &[Self::Queued, Self::Running],
        }
    }

    pub fn can_become(self, to: Self) -> bool {
        Self::sources(to).contains(&self)
    }
}

/// What kind of work a job does; always the kind of its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ProvisionDroplets,
    DestroyDroplet,
    ResizeDroplet,
    RebootDroplet,
    PowerCycleDroplet,
    ScaleCluster,
}

impl Kind {
    pub const ALL: [Self; 6] = [
        Self::ProvisionDroplets,
        Self::DestroyDroplet,
        Self::ResizeDroplet,
        Self::RebootDroplet,
        Self::PowerCycleDroplet,
        Self::ScaleCluster,
    ];

    /// Stored form (also the contract's enum name, as rows always had it).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProvisionDroplets => "JOB_KIND_PROVISION_DROPLETS",
            Self::DestroyDroplet => "JOB_KIND_DESTROY_DROPLET",
            Self::ResizeDroplet => "JOB_KIND_RESIZE_DROPLET",
            Self::RebootDroplet => "JOB_KIND_REBOOT_DROPLET",
            Self::PowerCycleDroplet => "JOB_KIND_POWER_CYCLE_DROPLET",
            Self::ScaleCluster => "JOB_KIND_SCALE_CLUSTER",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who asked for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    User,
    /// ImplementRecommendation; the origin is the diagnosis id.
    Diagnosis,
    /// An auto-scaling decision; the origin is the decision id.
    Scaler,
}

impl Source {
    pub const ALL: [Self; 3] = [Self::User, Self::Diagnosis, Self::Scaler];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "JOB_SOURCE_USER",
            Self::Diagnosis => "JOB_SOURCE_DIAGNOSIS",
            Self::Scaler => "JOB_SOURCE_SCALER",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A size or image slug as jobs checks it: 1–64 characters. Whether the
/// catalog has it is the executor's to say (provisioning owns the catalog),
/// which fails the job with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > 64 {
            return Err("must be a slug of 1–64 characters".into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

label_newtype!(
    /// The prefix of the droplets a job provisions (a DNS label; the
    /// executor appends `-<job>-<n>`, so at most 40 characters).
    NamePrefix
);

impl NamePrefix {
    pub fn parse_prefix(raw: &str) -> Result<Option<Self>, String> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.len() > 40 {
            return Err("must be at most 40 characters".into());
        }
        Self::parse(raw).map(Some)
    }
}

/// What a job does, with typed parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// 1–100 droplets named `<prefix>-…`.
    ProvisionDroplets {
        count: u32,
        size: Slug,
        image: Slug,
        name_prefix: Option<NamePrefix>,
    },
    DestroyDroplet {
        droplet_id: Id,
    },
    ResizeDroplet {
        droplet_id: Id,
        size: Slug,
    },
    RebootDroplet {
        droplet_id: Id,
    },
    PowerCycleDroplet {
        droplet_id: Id,
    },
    /// The cluster's live droplets to 0–100.
    ScaleCluster {
        target_count: u32,
        size: Slug,
        image: Slug,
        /// On a scale-down, these go first (the scaler's choice).
        remove_droplet_ids: Vec<Id>,
    },
}

impl Action {
    pub const MAX_PROVISION: u32 = 100;
    pub const MAX_SCALE: u32 = 100;

    pub fn kind(&self) -> Kind {
        match self {
            Self::ProvisionDroplets { .. } => Kind::ProvisionDroplets,
            Self::DestroyDroplet { .. } => Kind::DestroyDroplet,
            Self::ResizeDroplet { .. } => Kind::ResizeDroplet,
            Self::RebootDroplet { .. } => Kind::RebootDroplet,
            Self::PowerCycleDroplet { .. } => Kind::PowerCycleDroplet,
            Self::ScaleCluster { .. } => Kind::ScaleCluster,
        }
    }
}

/// What a finished attempt changed, as the executor reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub created_droplet_ids: Vec<String>,
    pub destroyed_droplet_ids: Vec<String>,
    /// Droplets resized, rebooted or power-cycled.
    pub affected_droplet_ids: Vec<String>,
}

/// How many attempts a job gets before it fails for good: 1–10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxAttempts(u32);

impl MaxAttempts {
    pub const DEFAULT: Self = Self(3);
    pub const MAX: u32 = 10;

    /// 0 means the default.
    pub fn parse(raw: i32) -> Result<Self, String> {
        match raw {
            0 => Ok(Self::DEFAULT),
            n if (1..=Self::MAX as i32).contains(&n) => Ok(Self(n.unsigned_abs())),
            _ => Err(format!("must be between 1 and {}", Self::MAX)),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A job to create, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    pub cluster_id: Id,
    pub action: Action,
    pub request_id: Option<cg_runtime::types::RequestId>,
    pub source: Source,
    /// The diagnosis or decision the job comes from (empty for a user's).
    pub origin_id: String,
    pub max_attempts: MaxAttempts,
    /// Who asked (the gateway's principal); set by the server.
    pub requested_by: String,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub cluster_id: String,
    pub action: Action,
    pub status: Status,
    pub progress: u32,
    pub message: String,
    pub attempt: u32,
    pub max_attempts: u32,
    pub error: String,
    pub cancel_requested: bool,
    pub outcome: Outcome,
    pub source: Source,
    pub origin_id: String,
    pub requested_by: String,
    pub trace_id: String,
    pub request_id: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
    /// When the current attempt must have ended (its executor stops it
    /// then); the reconciler fails it if it is still unfinished a margin
    /// later.
    pub deadline: Option<i64>,
    /// A retry waiting out its backoff: the next attempt is requested then.
    pub retry_at: Option<i64>,
}

impl Job {
    pub fn kind(&self) -> Kind {
        self.action.kind()
    }
}

/// Which jobs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub cluster_id: Option<Id>,
    pub status: Option<Status>,
    pub kind: Option<Kind>,
    pub source: Option<Source>,
    pub origin_id: Option<String>,
}

impl Filter {
    /// What a page token is bound to.
    pub fn key(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.cluster_id.as_ref().map_or("", Id::as_str),
            self.status.map_or("", Status::as_str),
            self.kind.map_or("", Kind::as_str),
            self.source.map_or("", Source::as_str),
            self.origin_id.as_deref().unwrap_or_default(),
        )
    }
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
    fn statuses_kinds_and_sources_round_trip_through_their_column_form() {
        for s in Status::ALL {
            assert_eq!(Status::from_column(s.as_str()), Some(s));
        }
        for k in Kind::ALL {
            assert_eq!(Kind::from_column(k.as_str()), Some(k));
        }
        for s in Source::ALL {
            assert_eq!(Source::from_column(s.as_str()), Some(s));
        }
    }

    #[test]
    fn zero_max_attempts_means_three_and_eleven_is_rejected() {
        assert_eq!(MaxAttempts::parse(0), Ok(MaxAttempts::DEFAULT));
        assert_eq!(MaxAttempts::parse(10).map(MaxAttempts::get), Ok(10));
        assert!(MaxAttempts::parse(11).is_err());
        assert!(MaxAttempts::parse(-1).is_err());
    }

    #[test]
    fn an_empty_slug_is_rejected() {
        assert!(Slug::parse("").is_err());
        assert!(Slug::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn an_empty_name_prefix_means_none_and_uppercase_is_rejected() {
        assert_eq!(NamePrefix::parse_prefix(""), Ok(None));
        assert!(NamePrefix::parse_prefix("Web").is_err());
        assert!(NamePrefix::parse_prefix(&"a".repeat(41)).is_err());
    }
}
