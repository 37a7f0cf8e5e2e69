//! The provisioning domain service: plain types in and out, no transport.
//! Creates are idempotent by `request_id`; actions run on the simulated
//! cloud in the background and survive restarts (pending work is resumed).

use std::{sync::Arc, time::Duration};

use cg_runtime::{
    idempotency::fingerprint, new_id, time::now_millis, types::RequestId, watch::Changes,
};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    catalog::{Image, Region, Size},
    cloud::CloudProvider,
    domain::{
        Action, ActionStatus, ActionType, Cluster, ClusterHealth, ClusterName, Description,
        Droplet, DropletName, DropletStatus, Fault, FaultDuration, FaultKind, Id, Ref, Tags,
    },
    error::{Error, Result},
    repo::{
        ActionFilter, ClusterFilter, ClusterPatch, Created, DropletFilter, Effect, FaultFilter,
        Idempotency, NewAction, NewCluster, NewDroplet, NewFault, Outcome, PageOf, PageRequest,
        Pending, ProvisioningRepository, TagInfo,
    },
};

#[derive(Debug, Clone)]
pub struct CreateCluster {
    pub name: ClusterName,
    pub region: &'static Region,
    pub description: Description,
    pub tags: Tags,
    pub request_id: Option<RequestId>,
}

#[derive(Debug, Clone)]
pub struct CreateDroplet {
    pub cluster_id: Id,
    pub name: DropletName,
    pub size: &'static Size,
    pub image: &'static Image,
    pub tags: Tags,
    pub request_id: Option<RequestId>,
}

/// An action with its typed argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionRequest {
    Resize(&'static Size),
    Rename(DropletName),
    Snapshot(Option<String>),
    Plain(ActionType),
}

impl ActionRequest {
    pub fn kind(&self) -> ActionType {
        match self {
            Self::Resize(_) => ActionType::Resize,
            Self::Rename(_) => ActionType::Rename,
            Self::Snapshot(_) => ActionType::Snapshot,
            Self::Plain(t) => *t,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CreateAction {
    pub droplet_id: Id,
    pub action: ActionRequest,
    pub request_id: Option<RequestId>,
}

#[derive(Debug, Clone)]
pub struct InjectFault {
    pub droplet_id: Id,
    pub kind: FaultKind,
    pub duration: FaultDuration,
    pub request_id: Option<RequestId>,
}

/// Full-jitter backoff for writes the simulated cloud owes.
const RETRY_BASE: Duration = Duration::from_millis(50);
const RETRY_CAP: Duration = Duration::from_secs(30);
/// Watch streams re-read at least this often (changes made by another replica).
const WATCH_POLL: Duration = Duration::from_secs(1);

pub struct Provisioner<R, C> {
    repo: Arc<R>,
    cloud: Arc<C>,
    tasks: TaskTracker,
    stop: CancellationToken,
    changes: Changes,
}

impl<R, C> Clone for Provisioner<R, C> {
    fn clone(&self) -> Self {
        Self {
            repo: self.repo.clone(),
            cloud: self.cloud.clone(),
            tasks: self.tasks.clone(),
            stop: self.stop.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<R: ProvisioningRepository, C: CloudProvider> Provisioner<R, C> {
    pub fn new(repo: R, cloud: C) -> Self {
        let changes = Changes::default();
        Self {
            repo: Arc::new(repo),
            cloud: Arc::new(cloud),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
            changes,
        }
    }

    pub fn repo(&self) -> &R {
        &self.repo
    }

    /// Change notices of this process's droplets and actions.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// Picks up boots and actions left unfinished by a previous process.
    /// The Kafka handler for `cg.health.results`: each result carries the
    /// cluster's health as monitoring judges it after that result.
    pub async fn handle_health(
        &self,
        event: cg_runtime::kafka::Event,
    ) -> Result<(), cg_runtime::kafka::Failure> {
        use clustergenie_proto::provisioning::v1::ClusterHealth as Pb;
        let r = cg_runtime::topic::topics::HEALTH_RESULTS.decode(&event)?;
        let health = match Pb::try_from(r.cluster_health) {
            Ok(Pb::Healthy) => ClusterHealth::Healthy,
            Ok(Pb::Degraded) => ClusterHealth::Degraded,
            Ok(Pb::Unhealthy) => ClusterHealth::Unhealthy,
            Ok(Pb::Unknown) => ClusterHealth::Unknown,
            // Nothing said of the cluster: nothing to record.
            Ok(Pb::Unspecified) => return Ok(()),
            Err(_) => {
                return Err(cg_runtime::kafka::Failure::Permanent(format!(
                    "unknown cluster health {}",
                    r.cluster_health
                )));
            }
        };
        let Some(at) = r.time.as_ref().and_then(cg_runtime::time::millis_of) else {
            return Err(cg_runtime::kafka::Failure::Permanent(
                "a health result without a time".into(),
            ));
        };
        self.repo
            .record_cluster_health(&r.cluster_id, health, at)
            .await
            .map_err(Into::into)
    }

    pub async fn resume(&self) -> Result<usize> {
        let pending = self.repo.pending().await?;
        let n = pending.len();
        for p in pending {
            match p {
                Pending::Boot { droplet_id, at } => self.schedule_boot(droplet_id, at),
                Pending::Action { action_id, at } => self.schedule_action(action_id, at),
            }
        }
        if n > 0 {
            tracing::info!(count = n, "resumed pending cloud work");
        }
        Ok(n)
    }

    /// Finishes cloud work overdue by more than `margin`: the timer that
    /// should have ended it was lost with the replica that set it. Timers
    /// are idempotent (a boot or action ends once), so a slow one that
    /// still fires changes nothing more.
    pub async fn sweep_overdue(&self, margin: Duration) -> Result<usize> {
        let cutoff = now_millis() - i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
        let mut n = 0;
        for p in self.repo.pending().await? {
            match p {
                Pending::Boot { droplet_id, at } if at < cutoff => {
                    self.schedule_boot(droplet_id, at);
                    n += 1;
                }
                Pending::Action { action_id, at } if at < cutoff => {
                    self.schedule_action(action_id, at);
                    n += 1;
                }
                _ => {}
            }
        }
        if n > 0 {
            tracing::info!(count = n, "took over overdue cloud work");
        }
        Ok(n)
    }

    /// Stops timers and watch streams; unfinished work stays in the database
    /// and is resumed by the next process.
    pub fn begin_shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
    }

    pub async fn wait_idle(&self, grace: Duration) {
        self.tasks.close();
        if tokio::time::timeout(grace, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks still running after grace period");
        }
    }

    async fn cloud_call(&self) {
        let latency = self.cloud.api_latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    fn notify(&self, id: &str) {
        self.changes.notify(id);
    }

    async fn check_replay(&self, scope: &str, key: Option<&Idempotency>) -> Result<Option<String>> {
        let Some(key) = key else { return Ok(None) };
        match self.repo.remembered(scope, &key.request_id).await? {
            Some(r) if r.fingerprint == key.fingerprint => Ok(Some(r.resource_id)),
            Some(_) => Err(Error::IdempotencyMismatch(key.request_id.clone())),
            None => Ok(None),
        }
    }

    // ------------------------------------------------------------ clusters

    #[tracing::instrument(skip_all, fields(name = %req.name, region = req.region.slug))]
    pub async fn create_cluster(&self, req: CreateCluster) -> Result<Cluster> {
        let idem = req.request_id.as_ref().map(|request_id| Idempotency {
            request_id: request_id.to_string(),
            fingerprint: fingerprint(&[
                req.name.as_str(),
                req.region.slug,
                req.description.as_str(),
                &req.tags.to_column(),
            ]),
        });
        if let Some(id) = self.check_replay("cluster", idem.as_ref()).await? {
            return self.repo.get_cluster(&id).await;
        }
        let created = self
            .repo
            .create_cluster(
                NewCluster {
                    id: new_id(),
                    name: req.name,
                    description: req.description,
                    region: req.region.slug,
                    tags: req.tags,
                    now: now_millis(),
                },
                idem,
            )
            .await?;
        if let Created::New(id) = &created {
            tracing::info!(cluster_id = %id, "cluster created");
        }
        self.repo.get_cluster(created.id()).await
    }

    pub async fn get_cluster(&self, id: &Id) -> Result<Cluster> {
        self.repo.get_cluster(id.as_str()).await
    }

    pub async fn list_clusters(
        &self,
        filter: &ClusterFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Cluster>> {
        self.repo.list_clusters(filter, page).await
    }

    #[tracing::instrument(skip_all, fields(cluster_id = %id))]
    pub async fn update_cluster(&self, id: &Id, patch: ClusterPatch) -> Result<Cluster> {
        self.repo
            .update_cluster(id.as_str(), patch, now_millis())
            .await
    }

    #[tracing::instrument(skip_all, fields(cluster_id = %id, force))]
    pub async fn delete_cluster(&self, id: &Id, force: bool) -> Result<u32> {
        let destroyed = self
            .repo
            .delete_cluster(id.as_str(), force, now_millis())
            .await?;
        tracing::info!(destroyed, "cluster deleted");
        self.notify(id.as_str());
        Ok(destroyed)
    }

    // ------------------------------------------------------------ droplets

    #[tracing::instrument(skip_all, fields(cluster_id = %req.cluster_id, name = %req.name))]
    pub async fn create_droplet(&self, req: CreateDroplet) -> Result<Droplet> {
        let idem = req.request_id.as_ref().map(|request_id| Idempotency {
            request_id: request_id.to_string(),
            fingerprint: fingerprint(&[
                req.cluster_id.as_str(),
                req.name.as_str(),
                req.size.slug,
                req.image.slug,
                &req.tags.to_column(),
            ]),
        });
        if let Some(id) = self.check_replay("droplet", idem.as_ref()).await? {
            return self.repo.get_droplet(&id).await;
        }
        if req.size.disk_gb < req.image.min_disk_gb {
            return Err(Error::invalid(
                "size",
                format!(
                    "image {} needs {} GB of disk; {} has {} GB",
                    req.image.slug, req.image.min_disk_gb, req.size.slug, req.size.disk_gb
                ),
            ));
        }
        self.cloud_call().await;
        let now = now_millis();
        let boot_at = now + millis(self.cloud.boot_delay());
        let created = self
            .repo
            .create_droplet(
                NewDroplet {
                    id: new_id(),
                    cluster_id: req.cluster_id.as_str().to_string(),
                    name: req.name,
                    size: req.size.slug,
                    image: req.image.slug,
                    tags: req.tags,
                    boot_at,
                    now,
                },
                self.cloud.as_ref(),
                idem,
            )
            .await?;
        match created {
            Created::New(droplet) => {
                tracing::info!(droplet_id = %droplet.id, "droplet created");
                self.schedule_boot(droplet.id.clone(), boot_at);
                Ok(droplet)
            }
            Created::Replayed(id) => self.repo.get_droplet(&id).await,
        }
    }

    pub async fn get_droplet(&self, id: &Id) -> Result<Droplet> {
        self.repo.get_droplet(id.as_str()).await
    }

    pub async fn list_droplets(
        &self,
        filter: &DropletFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Droplet>> {
        self.repo.list_droplets(filter, page).await
    }

    /// Every droplet `filter` matches.
    pub async fn count_droplets(&self, filter: &DropletFilter) -> Result<i64> {
        self.repo.count_droplets(filter).await
    }

    /// The id a droplet reference names (NOT_FOUND for an unknown number).
    pub async fn droplet_id(&self, r: &Ref) -> Result<Id> {
        match r {
            Ref::Id(id) => Ok(id.clone()),
            Ref::Number(n) => Id::parse(&self.repo.droplet_id_by_number(*n).await?)
                .map_err(|e| Error::Internal(format!("stored droplet id {e}"))),
        }
    }

    /// The id an action reference names.
    pub async fn action_id(&self, r: &Ref) -> Result<Id> {
        match r {
            Ref::Id(id) => Ok(id.clone()),
            Ref::Number(n) => Id::parse(&self.repo.action_id_by_number(*n).await?)
                .map_err(|e| Error::Internal(format!("stored action id {e}"))),
        }
    }

    #[tracing::instrument(skip_all, fields(droplet_id = %id))]
    pub async fn destroy_droplet(&self, id: &Id) -> Result<Droplet> {
        self.cloud_call().await;
        let droplet = self.repo.destroy_droplet(id.as_str(), now_millis()).await?;
        tracing::info!("droplet destroyed");
        self.notify(id.as_str());
        Ok(droplet)
    }

    // ------------------------------------------------------------ tags

    #[tracing::instrument(skip(self))]
    pub async fn create_tag(&self, name: &str) -> Result<TagInfo> {
        self.repo.create_tag(name, now_millis()).await
    }

    pub async fn get_tag(&self, name: &str) -> Result<TagInfo> {
        self.repo.get_tag(name).await
    }

    pub async fn list_tags(&self, skip: u32, page: &PageRequest) -> Result<PageOf<TagInfo>> {
        self.repo.list_tags(skip, page).await
    }

    pub async fn count_tags(&self) -> Result<i64> {
        self.repo.count_tags().await
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete_tag(&self, name: &str) -> Result<()> {
        self.repo.delete_tag(name, now_millis()).await
    }

    /// Puts tag `name` on (`on`) or takes it off droplets `refs`.
    #[tracing::instrument(skip(self, refs), fields(droplets = refs.len()))]
    pub async fn retag(&self, name: &str, refs: &[Ref], on: bool) -> Result<()> {
        let mut ids = Vec::with_capacity(refs.len());
        for r in refs {
            ids.push(self.droplet_id(r).await?.to_string());
        }
        self.repo.retag(name, &ids, on, now_millis()).await?;
        for id in &ids {
            self.notify(id);
        }
        Ok(())
    }

    // ------------------------------------------------------------ faults

    #[tracing::instrument(skip_all, fields(droplet_id = %req.droplet_id, kind = req.kind.as_str()))]
    pub async fn inject_fault(&self, req: InjectFault) -> Result<Fault> {
        let idem = req.request_id.as_ref().map(|request_id| Idempotency {
            request_id: request_id.to_string(),
            fingerprint: fingerprint(&[
                req.droplet_id.as_str(),
                req.kind.as_str(),
                &req.duration.millis().to_string(),
            ]),
        });
        if let Some(id) = self.check_replay("fault", idem.as_ref()).await? {
            return self.repo.get_fault(&id).await;
        }
        let now = now_millis();
        let created = self
            .repo
            .inject_fault(
                NewFault {
                    id: new_id(),
                    droplet_id: req.droplet_id.as_str().to_string(),
                    kind: req.kind,
                    start_at: now,
                    end_at: now.saturating_add(req.duration.millis()),
                },
                idem,
            )
            .await?;
        self.notify(req.droplet_id.as_str());
        match created {
            Created::New(fault) => {
                tracing::info!(fault_id = %fault.id, until = fault.end_at, "fault injected");
                Ok(fault)
            }
            Created::Replayed(id) => self.repo.get_fault(&id).await,
        }
    }

    pub async fn list_faults(
        &self,
        filter: &FaultFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Fault>> {
        self.repo.list_faults(filter, page).await
    }

    #[tracing::instrument(skip_all, fields(fault_id = %id))]
    pub async fn clear_fault(&self, id: &Id) -> Result<Fault> {
        let fault = self.repo.clear_fault(id.as_str(), now_millis()).await?;
        self.notify(&fault.droplet_id);
        Ok(fault)
    }

    // ------------------------------------------------------------ actions

    #[tracing::instrument(skip_all, fields(droplet_id = %req.droplet_id, action = req.action.kind().as_str()))]
    pub async fn create_action(&self, req: CreateAction) -> Result<Action> {
        let kind = req.action.kind();
        let param = match &req.action {
            ActionRequest::Resize(size) => size.slug.to_string(),
            ActionRequest::Rename(name) => name.as_str().to_string(),
            ActionRequest::Snapshot(name) => name.clone().unwrap_or_default(),
            ActionRequest::Plain(_) => String::new(),
        };
        let idem = req.request_id.as_ref().map(|request_id| Idempotency {
            request_id: request_id.to_string(),
            fingerprint: fingerprint(&[req.droplet_id.as_str(), kind.as_str(), &param]),
        });
        if let Some(id) = self.check_replay("action", idem.as_ref()).await? {
            return self.repo.get_action(&id).await;
        }
        let droplet = self.repo.get_droplet(req.droplet_id.as_str()).await?;
        let param = self.check_action(&droplet, &req.action, param).await?;
        self.cloud_call().await;
        let now = now_millis();
        let due_at = now + millis(self.cloud.action_duration(kind));
        let created = self
            .repo
            .begin_action(
                NewAction {
                    id: new_id(),
                    droplet_id: droplet.id.clone(),
                    kind,
                    param,
                    now,
                    due_at,
                },
                droplet.status,
                idem,
            )
            .await?;
        if let Created::New(id) = &created {
            tracing::info!(action_id = %id, "action started");
            self.notify(&droplet.id);
            self.schedule_action(id.clone(), due_at);
        }
        self.repo.get_action(created.id()).await
    }

    /// Business rules an action must pass before it may lock the droplet;
    /// returns the action's stored argument.
    async fn check_action(
        &self,
        droplet: &Droplet,
        action: &ActionRequest,
        param: String,
    ) -> Result<String> {
        let kind = action.kind();
        match droplet.status {
            DropletStatus::Archive => {
                return Err(Error::FailedPrecondition("droplet was destroyed".into()));
            }
            DropletStatus::New => {
                return Err(Error::FailedPrecondition(
                    "droplet is still being created".into(),
                ));
            }
            _ => {}
        }
        if let Some(action_id) = &droplet.locked_by {
            return Err(Error::FailedPrecondition(format!(
                "droplet is locked by action {action_id} in progress"
            )));
        }
        if !kind.allowed_from(droplet.status) {
            return Err(Error::FailedPrecondition(format!(
                "cannot {} a droplet that is {}",
                kind.as_str(),
                droplet.status.as_str()
            )));
        }
        match action {
            ActionRequest::Resize(size) => {
                if size.slug == droplet.size {
                    return Err(Error::FailedPrecondition(format!(
                        "droplet is already {}",
                        size.slug
                    )));
                }
                let offered = crate::catalog::region_by_slug(&droplet.region)
                    .is_some_and(|r| r.offers(size.slug));
                if !offered {
                    return Err(Error::invalid(
                        "resize.size",
                        format!("size {} is not offered in {}", size.slug, droplet.region),
                    ));
                }
                Ok(param)
            }
            ActionRequest::Rename(name) => {
                if name.as_str() == droplet.name {
                    return Err(Error::FailedPrecondition(format!(
                        "droplet is already named {name}"
                    )));
                }
                // Early answer only: the unique (cluster, live name) index
                // settles a race when the rename completes.
                let taken = !self
                    .repo
                    .list_droplets(
                        &DropletFilter {
                            cluster_id: Some(droplet.cluster_id.clone()),
                            name: Some(name.as_str().to_string()),
                            ..DropletFilter::default()
                        },
                        &PageRequest {
                            size: 1,
                            after: None,
                        },
                    )
                    .await?
                    .items
                    .is_empty();
                if taken {
                    return Err(Error::AlreadyExists(format!(
                        "a droplet named {name:?} already exists in this cluster"
                    )));
                }
                Ok(param)
            }
            ActionRequest::Snapshot(None) => Ok(format!("{}-{}", droplet.name, now_millis())),
            _ => Ok(param),
        }
    }

    pub async fn get_action(&self, id: &Id) -> Result<Action> {
        self.repo.get_action(id.as_str()).await
    }

    /// One droplet's actions, or every droplet's; newest first.
    pub async fn list_actions(
        &self,
        filter: &ActionFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Action>> {
        // A missing droplet is NOT_FOUND, not an empty list.
        if let Some(id) = &filter.droplet_id {
            self.repo.get_droplet(id).await?;
        }
        self.repo.list_actions(filter, page).await
    }

    pub async fn count_actions(&self, filter: &ActionFilter) -> Result<i64> {
        self.repo.count_actions(filter).await
    }

    // ------------------------------------------------------------ the cloud's timers

    fn schedule_boot(&self, droplet_id: String, at: i64) {
        let this = self.clone();
        self.tasks.spawn(async move {
            if !this.sleep_until(at).await {
                return;
            }
            this.retrying("activate droplet", || {
                this.repo.activate_droplet(&droplet_id, now_millis())
            })
            .await;
            tracing::debug!(%droplet_id, "droplet booted");
            this.notify(&droplet_id);
        });
    }

    fn schedule_action(&self, action_id: String, at: i64) {
        let this = self.clone();
        self.tasks.spawn(async move {
            if !this.sleep_until(at).await {
                return;
            }
            let Some(action) = this
                .retrying("load action", || this.repo.get_action(&action_id))
                .await
            else {
                return;
            };
            if action.status != ActionStatus::InProgress {
                return;
            }
            let outcome = match this.cloud.action_result(action.kind) {
                Ok(()) => Outcome::Completed(effect_of(&action)),
                Err(reason) => Outcome::Errored(reason),
            };
            let finished = this
                .retrying("finish action", || {
                    this.repo.finish_action(&action_id, outcome.clone(), now_millis())
                })
                .await;
            if finished == Some(true) {
                tracing::info!(%action_id, action = action.kind.as_str(), ok = matches!(outcome, Outcome::Completed(_)), "action finished");
            }
            this.notify(&action_id);
            this.notify(&action.droplet_id);
        });
    }

    /// False when shutdown came first.
    async fn sleep_until(&self, at_millis: i64) -> bool {
        let wait = u64::try_from(at_millis - now_millis()).unwrap_or(0);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(wait)) => true,
            () = self.stop.cancelled() => false,
        }
    }

    /// Retries a write the simulated cloud owes until it lands or the
    /// service stops (then the next start resumes it): a database outage
    /// must not leave a droplet locked for good.
    async fn retrying<T, F, Fut>(&self, what: &str, mut f: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut attempt = 0u32;
        loop {
            match f().await {
                Ok(v) => return Some(v),
                // Only storage can get better by waiting; anything else
                // would fail the same way forever.
                Err(e) if !matches!(e, Error::Storage(_) | Error::Contention) => {
                    tracing::error!(error = %e, "{what} failed; giving up");
                    return None;
                }
                Err(e) => {
                    attempt = attempt.saturating_add(1);
                    let sleep = cg_runtime::time::backoff(RETRY_BASE, RETRY_CAP, attempt);
                    tracing::warn!(attempt, error = %e, "{what} failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(sleep) => {}
                        () = self.stop.cancelled() => return None,
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ watches

    /// The droplet now, then on every change, until it is archived.
    pub fn watch_droplet(&self, id: Id) -> ReceiverStream<Result<Droplet>> {
        let repo = self.repo.clone();
        self.watch(id.as_str().to_string(), move |id| {
            let repo = repo.clone();
            async move {
                let d = repo.get_droplet(&id).await?;
                let done = d.status == DropletStatus::Archive;
                Ok((d, done))
            }
        })
    }

    /// The action now, then on every change, until it completes or errors.
    pub fn watch_action(&self, id: Id) -> ReceiverStream<Result<Action>> {
        let repo = self.repo.clone();
        self.watch(id.as_str().to_string(), move |id| {
            let repo = repo.clone();
            async move {
                let a = repo.get_action(&id).await?;
                let done = a.status != ActionStatus::InProgress;
                Ok((a, done))
            }
        })
    }

    fn watch<T, F, Fut>(&self, id: String, read: F) -> ReceiverStream<Result<T>>
    where
        T: PartialEq + Clone + Send + 'static,
        F: Fn(String) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<(T, bool)>> + Send,
    {
        cg_runtime::watch::watch(
            id,
            &self.changes,
            self.stop.clone(),
            WATCH_POLL,
            Error::ShuttingDown,
            read,
        )
    }
}

fn effect_of(action: &Action) -> Effect {
    match action.kind {
        ActionType::Resize => Effect::Resize(action.param.clone()),
        ActionType::Rename => Effect::Rename(action.param.clone()),
        ActionType::PowerOff | ActionType::Shutdown => Effect::Status(DropletStatus::Off),
        ActionType::PowerOn | ActionType::Reboot | ActionType::PowerCycle => {
            Effect::Status(DropletStatus::Active)
        }
        ActionType::Destroy => Effect::Destroy,
        ActionType::Snapshot => Effect::Snapshot,
        // Completed by the boot, never scheduled as an action.
        ActionType::Create => Effect::None,
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
