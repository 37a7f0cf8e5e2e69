//! What the analyzers look at: one snapshot of a cluster, read from
//! provisioning, monitoring and jobs over their APIs ([`crate::platform`])
//! and held in plain types, so the rules are pure functions of it.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Cpu,
    Memory,
    Disk,
    NetIn,
    NetOut,
    Load1m,
}

impl Metric {
    pub const ALL: [Self; 6] = [
        Self::Cpu,
        Self::Memory,
        Self::Disk,
        Self::NetIn,
        Self::NetOut,
        Self::Load1m,
    ];

    /// The contract's name (monitoring's `MetricKind` in lower snake case).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu_percent",
            Self::Memory => "memory_percent",
            Self::Disk => "disk_percent",
            Self::NetIn => "network_in_mbps",
            Self::NetOut => "network_out_mbps",
            Self::Load1m => "load_1m",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn unit(self) -> &'static str {
        match self {
            Self::Cpu | Self::Memory | Self::Disk => "%",
            Self::NetIn | Self::NetOut => "Mbps",
            Self::Load1m => "tasks",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub droplet_id: String,
    pub metric: Metric,
    /// Oldest first.
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropletState {
    New,
    Active,
    Off,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DropletFacts {
    pub id: String,
    pub name: String,
    pub size: String,
    pub image: String,
    pub state: DropletState,
    pub public_ip: String,
    pub private_ip: String,
    pub tags: Vec<String>,
    pub locked: bool,
    pub vcpus: u32,
    pub memory_mb: u32,
    pub disk_gb: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SizeFacts {
    pub slug: String,
    pub vcpus: u32,
    pub memory_mb: u32,
    pub disk_gb: u32,
    pub monthly_cents: i64,
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthFacts {
    pub check_id: String,
    pub droplet_id: String,
    pub healthy: bool,
    pub time_ms: i64,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActivityFacts {
    pub id: String,
    pub kind: String,
    pub droplet_id: String,
    pub job_id: String,
    pub time_ms: i64,
    pub message: String,
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionState {
    InProgress,
    Completed,
    Errored,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionFacts {
    pub id: String,
    pub droplet_id: String,
    pub kind: String,
    pub state: ActionState,
    pub started_ms: i64,
    pub error: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobFacts {
    pub id: String,
    pub kind: String,
    pub state: JobState,
    pub attempts: u32,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub error: String,
}

/// One cluster as the analyzers see it at `now_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub cluster_id: String,
    pub cluster_name: String,
    pub region: String,
    pub tags: Vec<String>,
    /// Live droplets (not archived).
    pub droplets: Vec<DropletFacts>,
    /// The catalog.
    pub sizes: Vec<SizeFacts>,
    pub series: Vec<Series>,
    pub health: Vec<HealthFacts>,
    pub activity: Vec<ActivityFacts>,
    pub actions: Vec<ActionFacts>,
    pub jobs: Vec<JobFacts>,
    pub now_ms: i64,
    pub window_ms: i64,
    /// The droplet the diagnosis is narrowed to.
    pub scope: Option<String>,
}

impl Snapshot {
    pub fn droplet(&self, id: &str) -> Option<&DropletFacts> {
        self.droplets.iter().find(|d| d.id == id)
    }

    pub fn size(&self, slug: &str) -> Option<&SizeFacts> {
        self.sizes.iter().find(|s| s.slug == slug)
    }

    pub fn points(&self, droplet: &str, metric: Metric) -> &[Point] {
        self.series
            .iter()
            .find(|s| s.droplet_id == droplet && s.metric == metric)
            .map_or(&[], |s| s.points.as_slice())
    }

    /// The droplets a per-droplet analyzer looks at: the scope, or all.
    pub fn in_scope(&self) -> impl Iterator<Item = &DropletFacts> {
        self.droplets
            .iter()
            .filter(|d| self.scope.as_deref().is_none_or(|s| s == d.id))
    }

    pub fn active(&self) -> impl Iterator<Item = &DropletFacts> {
        self.droplets
            .iter()
            .filter(|d| d.state == DropletState::Active)
    }
}
