//! Domain types, parsed at the boundary: a value of these types is valid.

use crate::catalog::{self, Image, Region, Size};

cg_runtime::label_newtype!(ClusterName);
cg_runtime::label_newtype!(DropletName);

pub use cg_runtime::types::Id;

/// A droplet or action as a caller names it: its id, or its number (what
/// DigitalOcean's clients know it by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    Id(Id),
    Number(i64),
}

impl Ref {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            return match raw.parse::<i64>() {
                Ok(n) if n >= 1 => Ok(Self::Number(n)),
                _ => Err("must be a UUID or a number from 1 to 2^63-1".into()),
            };
        }
        Id::parse(raw)
            .map(Self::Id)
            .map_err(|_| "must be a UUID or a number from 1 to 2^63-1".into())
    }
}

/// Tags: at most 32, each 1–64 of `[a-z0-9:_-]`, deduplicated and sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

impl Tags {
    pub fn parse(raw: &[String]) -> Result<Self, String> {
        if raw.len() > 32 {
            return Err("at most 32 tags".into());
        }
        let mut tags = Vec::with_capacity(raw.len());
        for t in raw {
            tags.push(Self::parse_one(t)?);
        }
        tags.sort();
        tags.dedup();
        let tags = Self(tags);
        // The stored form must fit its column (VARCHAR(2048)) on every backend.
        if tags.to_column().len() > 2048 {
            return Err("tags are too long together (2046 characters at most)".into());
        }
        Ok(tags)
    }

    pub fn parse_one(t: &str) -> Result<String, String> {
        if t.is_empty() || t.len() > 64 {
            return Err(format!("tag {t:?} must be 1–64 characters"));
        }
        if !t.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b':' | b'-' | b'_')
        }) {
            return Err(format!(
                "tag {t:?} may contain only lowercase letters, digits, ':', '-' and '_'"
            ));
        }
        Ok(t.to_string())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Storage form: `,a,b,` so a single tag matches with `LIKE '%,a,%'`.
    pub fn to_column(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!(",{},", self.0.join(","))
        }
    }

    pub fn from_column(col: &str) -> Self {
        Self(
            col.split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }
}

/// Free text up to 1024 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() > 1024 {
            return Err("must be at most 1024 characters".into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn parse_region(raw: &str) -> Result<&'static Region, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    catalog::region_by_slug(raw).ok_or_else(|| format!("unknown region {raw:?}"))
}

pub fn parse_size(raw: &str) -> Result<&'static Size, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    catalog::size_by_slug(raw).ok_or_else(|| format!("unknown size {raw:?}"))
}

pub fn parse_image(raw: &str) -> Result<&'static Image, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    catalog::image_by_slug(raw).ok_or_else(|| format!("unknown image {raw:?}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterStatus {
    Active,
    Deleting,
}

impl ClusterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deleting => "deleting",
        }
    }

    pub fn from_column(s: &str) -> Self {
        if s == "deleting" {
            Self::Deleting
        } else {
            Self::Active
        }
    }
}

/// A cluster's health, as monitoring rolls it up from its droplets'
/// health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterHealth {
    Unknown,
    Healthy,
    Degraded,
    Unhealthy,
}

impl ClusterHealth {
    pub const ALL: [Self; 4] = [
        Self::Unknown,
        Self::Healthy,
        Self::Degraded,
        Self::Unhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }

    pub fn from_column(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|h| h.as_str() == s)
            .unwrap_or(Self::Unknown)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropletStatus {
    New,
    Active,
    Off,
    Archive,
}

impl DropletStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Active => "active",
            Self::Off => "off",
            Self::Archive => "archive",
        }
    }

    pub fn from_column(s: &str) -> Self {
        match s {
            "new" => Self::New,
            "off" => Self::Off,
            "archive" => Self::Archive,
            _ => Self::Active,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionType {
    Resize,
    Reboot,
    PowerCycle,
    PowerOff,
    PowerOn,
    Shutdown,
    Snapshot,
    Rename,
    Destroy,
    /// Recorded with a new droplet, completed when it is active.
    Create,
}

impl ActionType {
    pub const ALL: [Self; 10] = [
        Self::Resize,
        Self::Reboot,
        Self::PowerCycle,
        Self::PowerOff,
        Self::PowerOn,
        Self::Shutdown,
        Self::Snapshot,
        Self::Rename,
        Self::Destroy,
        Self::Create,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resize => "resize",
            Self::Reboot => "reboot",
            Self::PowerCycle => "power_cycle",
            Self::PowerOff => "power_off",
            Self::PowerOn => "power_on",
            Self::Shutdown => "shutdown",
            Self::Snapshot => "snapshot",
            Self::Rename => "rename",
            Self::Destroy => "destroy",
            Self::Create => "create",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Which droplet states the action may start from (DigitalOcean refuses
    /// e.g. `power_on` on a running droplet).
    pub fn allowed_from(self, status: DropletStatus) -> bool {
        use DropletStatus::{Active, Off};
        match self {
            Self::Reboot | Self::PowerOff | Self::Shutdown => status == Active,
            Self::PowerOn => status == Off,
            Self::PowerCycle | Self::Resize | Self::Snapshot | Self::Rename | Self::Destroy => {
                matches!(status, Active | Off)
            }
            // Only ever recorded by a create.
            Self::Create => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    InProgress,
    Completed,
    Errored,
}

impl ActionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Errored => "errored",
        }
    }

    pub fn from_column(s: &str) -> Self {
        match s {
            "completed" => Self::Completed,
            "errored" => Self::Errored,
            _ => Self::InProgress,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub monthly_cents: i64,
    pub hourly_micros: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub id: String,
    pub name: String,
    pub description: String,
    pub region: String,
    pub status: ClusterStatus,
    pub tags: Vec<String>,
    pub droplet_count: i64,
    pub cost: Cost,
    pub health: ClusterHealth,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Droplet {
    pub id: String,
    /// Stable, unique, never reused; 0 only on a row not numbered yet.
    pub number: i64,
    /// Image numbers of the completed snapshots, oldest first.
    pub snapshot_ids: Vec<i64>,
    pub name: String,
    pub cluster_id: String,
    pub cluster_name: String,
    pub region: String,
    pub size: String,
    pub image: String,
    pub status: DropletStatus,
    pub public_ipv4: String,
    pub private_ipv4: String,
    pub tags: Vec<String>,
    pub locked_by: Option<String>,
    pub boot_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub id: String,
    pub number: i64,
    pub droplet_id: String,
    /// The droplet's number (0 on a row not numbered yet).
    pub droplet_number: i64,
    pub cluster_id: String,
    pub region: String,
    pub kind: ActionType,
    pub status: ActionStatus,
    pub param: String,
    pub error: String,
    pub started_at: i64,
    pub due_at: i64,
    pub completed_at: Option<i64>,
}

/// What an injected fault does to a droplet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    CpuSpike,
    MemoryLeak,
    DiskFilling,
    Crash,
    NetworkLoss,
}

impl FaultKind {
    pub const ALL: [Self; 5] = [
        Self::CpuSpike,
        Self::MemoryLeak,
        Self::DiskFilling,
        Self::Crash,
        Self::NetworkLoss,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CpuSpike => "cpu-spike",
            Self::MemoryLeak => "memory-leak",
            Self::DiskFilling => "disk-filling",
            Self::Crash => "crash",
            Self::NetworkLoss => "network-loss",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How long an injected fault lasts: 1 s to 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultDuration(std::time::Duration);

impl FaultDuration {
    pub const MIN: std::time::Duration = std::time::Duration::from_secs(1);
    pub const MAX: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

    pub fn parse(d: std::time::Duration) -> Result<Self, String> {
        if d < Self::MIN || d > Self::MAX {
            return Err("must be between 1s and 24h".into());
        }
        Ok(Self(d))
    }

    pub fn millis(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub id: String,
    pub droplet_id: String,
    pub cluster_id: String,
    pub kind: FaultKind,
    pub start_at: i64,
    pub end_at: i64,
}

impl Fault {
    pub fn is_open(&self, now: i64) -> bool {
        self.start_at <= now && now < self.end_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_an_id_or_a_positive_number() {
        assert_eq!(Ref::parse("100123"), Ok(Ref::Number(100_123)));
        assert!(matches!(
            Ref::parse("0192f3c4-5b6a-7c8d-9e0f-a1b2c3d4e5f6"),
            Ok(Ref::Id(_))
        ));
    }

    #[test]
    fn zero_an_overflowing_number_and_junk_are_not_references() {
        for raw in ["", "0", "99999999999999999999", "-5", "12a", "web-1"] {
            assert!(Ref::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn tags_are_deduplicated_and_stored_comma_wrapped() {
        let tags = Tags::parse(&["web".into(), "env:prod".into(), "web".into()]).unwrap();
        assert_eq!(tags.as_slice(), ["env:prod", "web"]);
        assert_eq!(tags.to_column(), ",env:prod,web,");
        assert_eq!(Tags::from_column(&tags.to_column()), tags);
    }

    #[test]
    fn thirty_two_long_tags_are_rejected_when_they_do_not_fit_together() {
        let tags: Vec<String> = (0..32)
            .map(|i| format!("{i:02}{}", "x".repeat(62)))
            .collect();
        assert!(Tags::parse(&tags).is_err());
        assert!(Tags::parse(&tags[..16]).is_ok());
    }

    #[test]
    fn tag_with_wildcard_characters_is_rejected() {
        assert!(Tags::parse(&["50%".into()]).is_err());
    }

    #[test]
    fn unknown_size_is_rejected() {
        assert!(parse_size("s-99vcpu").is_err());
        assert!(parse_size("s-1vcpu-1gb").is_ok());
    }

    #[test]
    fn power_on_is_only_allowed_from_off() {
        assert!(ActionType::PowerOn.allowed_from(DropletStatus::Off));
        assert!(!ActionType::PowerOn.allowed_from(DropletStatus::Active));
        assert!(!ActionType::Reboot.allowed_from(DropletStatus::New));
    }

    #[test]
    fn action_types_round_trip_through_their_column_form() {
        for t in ActionType::ALL {
            assert_eq!(ActionType::from_column(t.as_str()), Some(t));
        }
    }

    #[test]
    fn fault_shorter_than_a_second_is_rejected() {
        assert!(FaultDuration::parse(std::time::Duration::from_millis(999)).is_err());
        assert!(FaultDuration::parse(std::time::Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn fault_longer_than_a_day_is_rejected() {
        assert!(FaultDuration::parse(std::time::Duration::from_secs(24 * 3600 + 1)).is_err());
        assert!(FaultDuration::parse(std::time::Duration::from_secs(24 * 3600)).is_ok());
    }

    #[test]
    fn fault_kinds_round_trip_through_their_column_form() {
        for k in FaultKind::ALL {
            assert_eq!(FaultKind::from_column(k.as_str()), Some(k));
        }
    }
}
