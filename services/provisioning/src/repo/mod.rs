//! Storage of clusters, droplets and actions. The trait speaks plain domain
//! types; [`SqlRepository`] implements it on MySQL/MariaDB and SQLite.

mod sql;

use std::future::Future;

pub use sql::SqlRepository;

use crate::{
    domain::{
        Action, ActionStatus, ActionType, Cluster, ClusterHealth, ClusterName, ClusterStatus,
        Description, Droplet, DropletName, DropletStatus, Fault, FaultKind, Tags,
    },
    error::Result,
};

/// An idempotency key with the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub request_id: String,
    pub fingerprint: String,
}

/// What an idempotency key already stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub fingerprint: String,
    pub resource_id: String,
}

/// The outcome of a create: what it made (an id, or the whole row), or the
/// id an earlier call with the same key made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T = String> {
    New(T),
    Replayed(String),
}

impl Created {
    pub fn id(&self) -> &str {
        match self {
            Self::New(id) | Self::Replayed(id) => id,
        }
    }
}

impl Created<Fault> {
    pub fn id(&self) -> &str {
        match self {
            Self::New(f) => &f.id,
            Self::Replayed(id) => id,
        }
    }
}

impl Created<Droplet> {
    pub fn id(&self) -> &str {
        match self {
            Self::New(d) => &d.id,
            Self::Replayed(id) => id,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewCluster {
    pub id: String,
    pub name: ClusterName,
    pub description: Description,
    pub region: &'static str,
    pub tags: Tags,
    pub now: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterPatch {
    pub name: Option<ClusterName>,
    pub description: Option<Description>,
    pub tags: Option<Tags>,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterFilter {
    pub region: Option<String>,
    pub status: Option<ClusterStatus>,
    pub tag: Option<String>,
    /// The exact name.
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewDroplet {
    pub id: String,
    pub cluster_id: String,
    pub name: DropletName,
    pub size: &'static str,
    pub image: &'static str,
    pub tags: Tags,
    pub boot_at: i64,
    pub now: i64,
}

#[derive(Debug, Clone, Default)]
pub struct DropletFilter {
    pub cluster_id: Option<String>,
    pub status: Option<DropletStatus>,
    pub region: Option<String>,
    pub tag: Option<String>,
    /// A live droplet's exact name.
    pub name: Option<String>,
    pub include_archived: bool,
    /// Matching droplets passed over before the page (page-numbered clients).
    pub skip: u32,
}

/// A tag, with the live droplets carrying it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagInfo {
    pub name: String,
    pub droplets: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    /// Every droplet's actions when `None`.
    pub droplet_id: Option<String>,
    pub status: Option<ActionStatus>,
    /// Matching actions passed over before the page.
    pub skip: u32,
}

#[derive(Debug, Clone)]
pub struct NewAction {
    pub id: String,
    pub droplet_id: String,
    pub kind: ActionType,
    pub param: String,
    pub now: i64,
    pub due_at: i64,
}

/// How a finished action changes its droplet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    None,
    Status(DropletStatus),
    Resize(String),
    Rename(String),
    /// Adds the action's number to the droplet's snapshots.
    Snapshot,
    Destroy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Completed(Effect),
    Errored(String),
}

pub use cg_runtime::page::{PageOf, PageRequest};

/// Where the cloud can put a droplet: the sizes a region offers, and its
/// address slots 0..capacity.
pub trait Placement: Send + Sync {
    fn offers(&self, region: &str, size: &str) -> bool;
    fn capacity(&self, region: &str) -> u32;
    fn addresses(&self, region: &str, slot: u32) -> (String, String);
}

#[derive(Debug, Clone)]
pub struct NewFault {
    pub id: String,
    pub droplet_id: String,
    pub kind: FaultKind,
    pub start_at: i64,
    pub end_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct FaultFilter {
    pub cluster_id: Option<String>,
    pub droplet_id: Option<String>,
    /// Without it only faults still open at `now` are listed.
    pub include_ended: bool,
    pub now: i64,
}

/// An active droplet, as the load simulation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveDroplet {
    pub id: String,
    pub cluster_id: String,
    pub size: String,
    pub created_at: i64,
}

/// Work the simulated cloud still owes after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    Boot { droplet_id: String, at: i64 },
    Action { action_id: String, at: i64 },
}

pub trait ProvisioningRepository: Send + Sync + 'static {
    fn remembered(
        &self,
        scope: &str,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<Remembered>>> + Send;

    fn create_cluster(
        &self,
        new: NewCluster,
        idem: Option<Idempotency>,
    ) -> impl Future<Output = Result<Created>> + Send;
    fn get_cluster(&self, id: &str) -> impl Future<Output = Result<Cluster>> + Send;
    fn list_clusters(
        &self,
        filter: &ClusterFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Cluster>>> + Send;
    fn update_cluster(
        &self,
        id: &str,
        patch: ClusterPatch,
        now: i64,
    ) -> impl Future<Output = Result<Cluster>> + Send;
    /// Deletes a cluster; with `force` its droplets are destroyed first.
    /// Returns how many droplets were destroyed.
    fn delete_cluster(
        &self,
        id: &str,
        force: bool,
        now: i64,
    ) -> impl Future<Output = Result<u32>> + Send;

    fn create_droplet(
        &self,
        new: NewDroplet,
        placement: &dyn Placement,
        idem: Option<Idempotency>,
    ) -> impl Future<Output = Result<Created<Droplet>>> + Send;
    fn get_droplet(&self, id: &str) -> impl Future<Output = Result<Droplet>> + Send;
    fn list_droplets(
        &self,
        filter: &DropletFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Droplet>>> + Send;
    /// `new → active` once booted; a no-op for any other status.
    fn activate_droplet(&self, id: &str, now: i64) -> impl Future<Output = Result<bool>> + Send;
    /// Archives an unlocked droplet; archiving an archived one is a no-op.
    fn destroy_droplet(&self, id: &str, now: i64) -> impl Future<Output = Result<Droplet>> + Send;

    /// Locks the droplet (expected in `from` status) and records the action,
    /// atomically: of concurrent calls on one droplet exactly one wins.
    fn begin_action(
        &self,
        new: NewAction,
        from: DropletStatus,
        idem: Option<Idempotency>,
    ) -> impl Future<Output = Result<Created>> + Send;
    /// Applies a finished action and unlocks its droplet. False when the
    /// action had already finished (a replayed completion is a no-op).
    fn finish_action(
        &self,
        id: &str,
        outcome: Outcome,
        now: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    fn get_action(&self, id: &str) -> impl Future<Output = Result<Action>> + Send;
    /// Newest first.
    fn list_actions(
        &self,
        filter: &ActionFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Action>>> + Send;
    fn count_actions(&self, filter: &ActionFilter) -> impl Future<Output = Result<i64>> + Send;
    /// Every droplet matching `filter` (its `skip` aside).
    fn count_droplets(&self, filter: &DropletFilter) -> impl Future<Output = Result<i64>> + Send;
    /// The id of the droplet numbered `number` (NOT_FOUND if none).
    fn droplet_id_by_number(&self, number: i64) -> impl Future<Output = Result<String>> + Send;
    fn action_id_by_number(&self, number: i64) -> impl Future<Output = Result<String>> + Send;

    fn pending(&self) -> impl Future<Output = Result<Vec<Pending>>> + Send;

    /// Creates tag `name` unless it exists; either way returns it.
    fn create_tag(&self, name: &str, now: i64) -> impl Future<Output = Result<TagInfo>> + Send;
    /// A tag that was created, or that some droplet carries.
    fn get_tag(&self, name: &str) -> impl Future<Output = Result<TagInfo>> + Send;
    /// By name; `skip` passes over that many first.
    fn list_tags(
        &self,
        skip: u32,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<TagInfo>>> + Send;
    fn count_tags(&self) -> impl Future<Output = Result<i64>> + Send;
    /// Deletes the tag and takes it off every droplet.
    fn delete_tag(&self, name: &str, now: i64) -> impl Future<Output = Result<()>> + Send;
    /// Adds (`on`) or removes the tag on live droplets `ids`, all or none
    /// (NOT_FOUND names a missing one); tagging creates the tag.
    fn retag(
        &self,
        name: &str,
        ids: &[String],
        on: bool,
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Opens a fault on a live droplet; a crash also turns it `off`. One
    /// open fault per kind per droplet (ALREADY_EXISTS otherwise).
    fn inject_fault(
        &self,
        new: NewFault,
        idem: Option<Idempotency>,
    ) -> impl Future<Output = Result<Created<Fault>>> + Send;
    fn get_fault(&self, id: &str) -> impl Future<Output = Result<Fault>> + Send;
    fn list_faults(
        &self,
        filter: &FaultFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Fault>>> + Send;
    /// Ends a fault now if it is still open (a crashed droplet comes back
    /// `active`) and returns it; clearing an ended fault changes nothing.
    fn clear_fault(&self, id: &str, now: i64) -> impl Future<Output = Result<Fault>> + Send;
    /// Applies the end of every fault whose time is up; returns how many.
    fn end_due_faults(&self, now: i64) -> impl Future<Output = Result<u32>> + Send;
    /// Active droplets and the faults open on them at `now`.
    fn fleet(
        &self,
        now: i64,
    ) -> impl Future<Output = Result<(Vec<LiveDroplet>, Vec<Fault>)>> + Send;
    /// Takes or renews lease `name` for `holder` until `until`. False while
    /// another holder's lease has not expired.
    fn lease(
        &self,
        name: &str,
        holder: &str,
        until: i64,
        now: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Records monitoring's judgement of a cluster as of `at`, unless a
    /// later one was recorded already. An unknown cluster is ignored.
    fn record_cluster_health(
        &self,
        cluster_id: &str,
        health: ClusterHealth,
        at: i64,
    ) -> impl Future<Output = Result<()>> + Send;
}
