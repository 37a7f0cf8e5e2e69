//! The thin tonic adapter: `TryFrom<proto>` parses a request into domain
//! types (collecting every field violation), the service does the work, and
//! the error table in `error.rs` answers failures.

use cg_runtime::{
    time::{opt_timestamp, timestamp},
    types::RequestId,
    validate::Violations,
};
use clustergenie_proto::provisioning::v1 as pb;
use futures::StreamExt as _;
use tonic::{Request, Response, Status};

use crate::{
    catalog,
    cloud::CloudProvider,
    domain::{
        self, Action, ActionStatus, ActionType, Cluster, ClusterHealth, ClusterName, ClusterStatus,
        Description, Droplet, DropletName, DropletStatus, Fault, FaultDuration, FaultKind, Id, Ref,
        Tags,
    },
    error::Error,
    repo::{
        ActionFilter, ClusterFilter, ClusterPatch, DropletFilter, FaultFilter, PageRequest,
        ProvisioningRepository, TagInfo,
    },
    service::{
        ActionRequest, CreateAction, CreateCluster, CreateDroplet, InjectFault, Provisioner,
    },
};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1000;

use tonic::codegen::BoxStream;

/// Serves every provisioning gRPC service from one [`Provisioner`].
pub struct Api<R, C>(pub Provisioner<R, C>);

impl<R, C> Clone for Api<R, C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

// ---------------------------------------------------------------- parsing

fn parse_id(v: &mut Violations, field: &str, raw: &str) -> Option<Id> {
    v.check(field, Id::parse(raw))
}

fn parse_ref(v: &mut Violations, field: &str, raw: &str) -> Option<Ref> {
    v.check(field, Ref::parse(raw))
}

/// Matching rows to pass over: 0–100000 (deeper pages are a scan).
fn parse_skip(v: &mut Violations, raw: i32) -> Option<u32> {
    v.check(
        "skip",
        u32::try_from(raw)
            .ok()
            .filter(|n| *n <= 100_000)
            .ok_or_else(|| "must be 0–100000".to_string()),
    )
}

fn finish(v: Violations) -> Result<(), Error> {
    v.into_result().map_err(Error::InvalidArgument)
}

fn page_request(
    v: &mut Violations,
    page_size: i32,
    token: &str,
    filter: &str,
) -> Option<PageRequest> {
    PageRequest::parse(v, page_size, token, filter, (DEFAULT_PAGE, MAX_PAGE))
}

fn optional_tag(v: &mut Violations, raw: &str) -> Option<String> {
    if raw.is_empty() {
        None
    } else {
        v.check("tag", Tags::parse_one(raw))
    }
}

fn optional_region(v: &mut Violations, raw: &str) -> Option<String> {
    if raw.is_empty() {
        None
    } else {
        v.check("region", domain::parse_region(raw))
            .map(|r| r.slug.to_string())
    }
}

impl TryFrom<pb::CreateClusterRequest> for CreateCluster {
    type Error = Error;

    fn try_from(r: pb::CreateClusterRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let name = v.check("name", ClusterName::parse(&r.name));
        let region = v.check("region", domain::parse_region(&r.region));
        let description = v.check("description", Description::parse(&r.description));
        let tags = v.check("tags", Tags::parse(&r.tags));
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        finish(v)?;
        Ok(Self {
            name: name.unwrap(),
            region: region.unwrap(),
            description: description.unwrap(),
            tags: tags.unwrap(),
            request_id: request_id.unwrap(),
        })
    }
}

impl TryFrom<pb::CreateDropletRequest> for CreateDroplet {
    type Error = Error;

    fn try_from(r: pb::CreateDropletRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let cluster_id = parse_id(&mut v, "cluster_id", &r.cluster_id);
        let name = v.check("name", DropletName::parse(&r.name));
        let size = v.check("size", domain::parse_size(&r.size));
        let image = v.check("image", domain::parse_image(&r.image));
        let tags = v.check("tags", Tags::parse(&r.tags));
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        finish(v)?;
        Ok(Self {
            cluster_id: cluster_id.unwrap(),
            name: name.unwrap(),
            size: size.unwrap(),
            image: image.unwrap(),
            tags: tags.unwrap(),
            request_id: request_id.unwrap(),
        })
    }
}

fn action_type(raw: i32) -> Result<ActionType, String> {
    use pb::ActionType as T;
    Ok(
        match T::try_from(raw).map_err(|_| format!("unknown action type {raw}"))? {
            T::Unspecified => return Err("must be set".into()),
            T::Resize => ActionType::Resize,
            T::Reboot => ActionType::Reboot,
            T::PowerCycle => ActionType::PowerCycle,
            T::PowerOff => ActionType::PowerOff,
            T::PowerOn => ActionType::PowerOn,
            T::Shutdown => ActionType::Shutdown,
            T::Snapshot => ActionType::Snapshot,
            T::Rename => ActionType::Rename,
            T::Destroy => ActionType::Destroy,
            T::Create => return Err("create actions come with CreateDroplet".into()),
        },
    )
}

impl TryFrom<pb::CreateDropletActionRequest> for CreateAction {
    type Error = Error;

    fn try_from(r: pb::CreateDropletActionRequest) -> Result<Self, Error> {
        use pb::create_droplet_action_request::Params;
        let mut v = Violations::new();
        let droplet_id = parse_id(&mut v, "droplet_id", &r.droplet_id);
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        let kind = v.check("type", action_type(r.r#type));
        let action = match (kind, r.params) {
            (Some(ActionType::Resize), Some(Params::Resize(p))) => v
                .check("resize.size", domain::parse_size(&p.size))
                .map(ActionRequest::Resize),
            (Some(ActionType::Resize), _) => {
                v.add("resize.size", "a resize needs the target size");
                None
            }
            (Some(ActionType::Rename), Some(Params::Rename(p))) => v
                .check("rename.name", DropletName::parse(&p.name))
                .map(ActionRequest::Rename),
            (Some(ActionType::Rename), _) => {
                v.add("rename.name", "a rename needs the new name");
                None
            }
            (Some(ActionType::Snapshot), params) => {
                let name = match params {
                    Some(Params::Snapshot(p)) if !p.name.is_empty() => v
                        .check("snapshot.name", DropletName::parse(&p.name))
                        .map(|n| Some(n.as_str().to_string())),
                    None | Some(Params::Snapshot(_)) => Some(None),
                    Some(_) => {
                        v.add("params", "snapshot takes snapshot parameters");
                        None
                    }
                };
                name.map(ActionRequest::Snapshot)
            }
            (Some(kind), None) => Some(ActionRequest::Plain(kind)),
            (Some(kind), Some(_)) => {
                v.add("params", format!("{} takes no parameters", kind.as_str()));
                None
            }
            (None, _) => None,
        };
        finish(v)?;
        Ok(Self {
            droplet_id: droplet_id.unwrap(),
            action: action.unwrap(),
            request_id: request_id.unwrap(),
        })
    }
}

fn cluster_status_filter(v: &mut Violations, raw: i32) -> Option<ClusterStatus> {
    match pb::ClusterStatus::try_from(raw) {
        Ok(pb::ClusterStatus::Unspecified) => None,
        Ok(pb::ClusterStatus::Active) => Some(ClusterStatus::Active),
        Ok(pb::ClusterStatus::Deleting) => Some(ClusterStatus::Deleting),
        Err(_) => {
            v.add("status", format!("unknown cluster status {raw}"));
            None
        }
    }
}

fn droplet_status_filter(v: &mut Violations, raw: i32) -> Option<DropletStatus> {
    match pb::DropletStatus::try_from(raw) {
        Ok(pb::DropletStatus::Unspecified) => None,
        Ok(pb::DropletStatus::New) => Some(DropletStatus::New),
        Ok(pb::DropletStatus::Active) => Some(DropletStatus::Active),
        Ok(pb::DropletStatus::Off) => Some(DropletStatus::Off),
        Ok(pb::DropletStatus::Archive) => Some(DropletStatus::Archive),
        Err(_) => {
            v.add("status", format!("unknown droplet status {raw}"));
            None
        }
    }
}

fn action_status_filter(v: &mut Violations, raw: i32) -> Option<ActionStatus> {
    match pb::ActionStatus::try_from(raw) {
        Ok(pb::ActionStatus::Unspecified) => None,
        Ok(pb::ActionStatus::InProgress) => Some(ActionStatus::InProgress),
        Ok(pb::ActionStatus::Completed) => Some(ActionStatus::Completed),
        Ok(pb::ActionStatus::Errored) => Some(ActionStatus::Errored),
        Err(_) => {
            v.add("status", format!("unknown action status {raw}"));
            None
        }
    }
}

// ---------------------------------------------------------------- rendering

impl From<Cluster> for pb::Cluster {
    fn from(c: Cluster) -> Self {
        Self {
            id: c.id,
            name: c.name,
            description: c.description,
            region: c.region,
            status: match c.status {
                ClusterStatus::Active => pb::ClusterStatus::Active,
                ClusterStatus::Deleting => pb::ClusterStatus::Deleting,
            } as i32,
            tags: c.tags,
            droplet_count: i32::try_from(c.droplet_count).unwrap_or(i32::MAX),
            cost: Some(pb::Cost {
                monthly_cents: c.cost.monthly_cents,
                hourly_micros: c.cost.hourly_micros,
                currency: "USD".into(),
            }),
            health: match c.health {
                ClusterHealth::Unknown => pb::ClusterHealth::Unknown,
                ClusterHealth::Healthy => pb::ClusterHealth::Healthy,
                ClusterHealth::Degraded => pb::ClusterHealth::Degraded,
                ClusterHealth::Unhealthy => pb::ClusterHealth::Unhealthy,
            } as i32,
            create_time: Some(timestamp(c.created_at)),
            update_time: Some(timestamp(c.updated_at)),
        }
    }
}

impl From<Droplet> for pb::Droplet {
    fn from(d: Droplet) -> Self {
        let size = catalog::size_by_slug(&d.size);
        Self {
            status: match d.status {
                DropletStatus::New => pb::DropletStatus::New,
                DropletStatus::Active => pb::DropletStatus::Active,
                DropletStatus::Off => pb::DropletStatus::Off,
                DropletStatus::Archive => pb::DropletStatus::Archive,
            } as i32,
            vcpus: size.map_or(0, |s| s.vcpus as i32),
            memory_mb: size.map_or(0, |s| s.memory_mb as i32),
            disk_gb: size.map_or(0, |s| s.disk_gb as i32),
            locked: d.locked_by.is_some(),
            id: d.id,
            number: d.number,
            snapshot_ids: d.snapshot_ids,
            name: d.name,
            cluster_id: d.cluster_id,
            cluster_name: d.cluster_name,
            region: d.region,
            size: d.size,
            image: d.image,
            public_ipv4: d.public_ipv4,
            private_ipv4: d.private_ipv4,
            tags: d.tags,
            create_time: Some(timestamp(d.created_at)),
            update_time: Some(timestamp(d.updated_at)),
        }
    }
}

impl From<Action> for pb::DropletAction {
    fn from(a: Action) -> Self {
        use pb::droplet_action::Params;
        let params = match a.kind {
            ActionType::Resize => Some(Params::Resize(pb::ResizeParams { size: a.param })),
            ActionType::Rename => Some(Params::Rename(pb::RenameParams { name: a.param })),
            ActionType::Snapshot => Some(Params::Snapshot(pb::SnapshotParams { name: a.param })),
            _ => None,
        };
        Self {
            id: a.id,
            number: a.number,
            droplet_number: a.droplet_number,
            droplet_id: a.droplet_id,
            cluster_id: a.cluster_id,
            r#type: match a.kind {
                ActionType::Resize => pb::ActionType::Resize,
                ActionType::Reboot => pb::ActionType::Reboot,
                ActionType::PowerCycle => pb::ActionType::PowerCycle,
                ActionType::PowerOff => pb::ActionType::PowerOff,
                ActionType::PowerOn => pb::ActionType::PowerOn,
                ActionType::Shutdown => pb::ActionType::Shutdown,
                ActionType::Snapshot => pb::ActionType::Snapshot,
                ActionType::Rename => pb::ActionType::Rename,
                ActionType::Destroy => pb::ActionType::Destroy,
                ActionType::Create => pb::ActionType::Create,
            } as i32,
            status: match a.status {
                ActionStatus::InProgress => pb::ActionStatus::InProgress,
                ActionStatus::Completed => pb::ActionStatus::Completed,
                ActionStatus::Errored => pb::ActionStatus::Errored,
            } as i32,
            params,
            error: a.error,
            region: a.region,
            started_at: Some(timestamp(a.started_at)),
            completed_at: opt_timestamp(a.completed_at),
        }
    }
}

impl From<FaultKind> for pb::FaultKind {
    fn from(k: FaultKind) -> Self {
        match k {
            FaultKind::CpuSpike => Self::CpuSpike,
            FaultKind::MemoryLeak => Self::MemoryLeak,
            FaultKind::DiskFilling => Self::DiskFilling,
            FaultKind::Crash => Self::Crash,
            FaultKind::NetworkLoss => Self::NetworkLoss,
        }
    }
}

impl From<Fault> for pb::Fault {
    fn from(f: Fault) -> Self {
        Self {
            kind: pb::FaultKind::from(f.kind) as i32,
            id: f.id,
            droplet_id: f.droplet_id,
            cluster_id: f.cluster_id,
            start_time: Some(timestamp(f.start_at)),
            end_time: Some(timestamp(f.end_at)),
        }
    }
}

// ---------------------------------------------------------------- services

#[tonic::async_trait]
impl<R: ProvisioningRepository, C: CloudProvider> pb::cluster_service_server::ClusterService
    for Api<R, C>
{
    #[tracing::instrument(skip_all)]
    async fn create_cluster(
        &self,
        req: Request<pb::CreateClusterRequest>,
    ) -> Result<Response<pb::CreateClusterResponse>, Status> {
        let input = CreateCluster::try_from(req.into_inner())?;
        let cluster = self.0.create_cluster(input).await?;
        Ok(Response::new(pb::CreateClusterResponse {
            cluster: Some(cluster.into()),
        }))
    }

    async fn get_cluster(
        &self,
        req: Request<pb::GetClusterRequest>,
    ) -> Result<Response<pb::GetClusterResponse>, Status> {
        let mut v = Violations::new();
        let id = parse_id(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let cluster = self.0.get_cluster(&id.unwrap()).await?;
        Ok(Response::new(pb::GetClusterResponse {
            cluster: Some(cluster.into()),
        }))
    }

    async fn list_clusters(
        &self,
        req: Request<pb::ListClustersRequest>,
    ) -> Result<Response<pb::ListClustersResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let filter = ClusterFilter {
            region: optional_region(&mut v, &r.region),
            status: cluster_status_filter(&mut v, r.status),
            tag: optional_tag(&mut v, &r.tag),
            name: if r.name.is_empty() {
                None
            } else {
                v.check("name", ClusterName::parse(&r.name))
                    .map(|n| n.as_str().to_string())
            },
        };
        let key = format!("{}|{}|{}|{}", r.region, r.status, r.tag, r.name);
        let page = page_request(&mut v, r.page_size, &r.page_token, &key);
        finish(v)?;
        let page = self.0.list_clusters(&filter, &page.unwrap()).await?;
        Ok(Response::new(pb::ListClustersResponse {
            next_page_token: page.next_token(&key),
            clusters: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_cluster(
        &self,
        req: Request<pb::UpdateClusterRequest>,
    ) -> Result<Response<pb::UpdateClusterResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let cluster = r.cluster.unwrap_or_default();
        let id = parse_id(&mut v, "cluster.id", &cluster.id);
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            v.add(
                "update_mask",
                "must name at least one of: name, description, tags",
            );
        }
        let mut patch = ClusterPatch::default();
        for path in &paths {
            match path.as_str() {
                "name" => patch.name = v.check("cluster.name", ClusterName::parse(&cluster.name)),
                "description" => {
                    patch.description = v.check(
                        "cluster.description",
                        Description::parse(&cluster.description),
                    );
                }
                "tags" => patch.tags = v.check("cluster.tags", Tags::parse(&cluster.tags)),
                other => v.add(
                    "update_mask",
                    format!("{other:?} cannot be updated (name, description, tags can)"),
                ),
            }
        }
        finish(v)?;
        let cluster = self.0.update_cluster(&id.unwrap(), patch).await?;
        Ok(Response::new(pb::UpdateClusterResponse {
            cluster: Some(cluster.into()),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_cluster(
        &self,
        req: Request<pb::DeleteClusterRequest>,
    ) -> Result<Response<pb::DeleteClusterResponse>, Status> {
        let mut v = Violations::new();
        let id = parse_id(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let destroyed = self
            .0
            .delete_cluster(&id.unwrap(), req.get_ref().force)
            .await?;
        Ok(Response::new(pb::DeleteClusterResponse {
            destroyed_droplets: i32::try_from(destroyed).unwrap_or(i32::MAX),
        }))
    }
}

#[tonic::async_trait]
impl<R: ProvisioningRepository, C: CloudProvider> pb::droplet_service_server::DropletService
    for Api<R, C>
{
    #[tracing::instrument(skip_all)]
    async fn create_droplet(
        &self,
        req: Request<pb::CreateDropletRequest>,
    ) -> Result<Response<pb::CreateDropletResponse>, Status> {
        let input = CreateDroplet::try_from(req.into_inner())?;
        let droplet = self.0.create_droplet(input).await?;
        Ok(Response::new(pb::CreateDropletResponse {
            droplet: Some(droplet.into()),
        }))
    }

    async fn get_droplet(
        &self,
        req: Request<pb::GetDropletRequest>,
    ) -> Result<Response<pb::GetDropletResponse>, Status> {
        let mut v = Violations::new();
        let r = parse_ref(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let id = self.0.droplet_id(&r.unwrap()).await?;
        let droplet = self.0.get_droplet(&id).await?;
        Ok(Response::new(pb::GetDropletResponse {
            droplet: Some(droplet.into()),
        }))
    }

    async fn list_droplets(
        &self,
        req: Request<pb::ListDropletsRequest>,
    ) -> Result<Response<pb::ListDropletsResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let cluster_id = if r.cluster_id.is_empty() {
            None
        } else {
            parse_id(&mut v, "cluster_id", &r.cluster_id).map(|id| id.as_str().to_string())
        };
        let name = if r.name.is_empty() {
            None
        } else {
            v.check("name", DropletName::parse(&r.name))
                .map(|n| n.as_str().to_string())
        };
        let skip = parse_skip(&mut v, r.skip);
        let mut filter = DropletFilter {
            cluster_id,
            status: droplet_status_filter(&mut v, r.status),
            region: optional_region(&mut v, &r.region),
            tag: optional_tag(&mut v, &r.tag),
            name,
            include_archived: r.include_archived,
            skip: 0,
        };
        let key = format!(
            "{}|{}|{}|{}|{}|{}",
            r.cluster_id, r.status, r.region, r.tag, r.include_archived, r.name
        );
        let page = page_request(&mut v, r.page_size, &r.page_token, &key);
        finish(v)?;
        let total_size = if r.want_total_size {
            i32::try_from(self.0.count_droplets(&filter).await?).unwrap_or(i32::MAX)
        } else {
            0
        };
        filter.skip = skip.unwrap_or_default();
        let page = self.0.list_droplets(&filter, &page.unwrap()).await?;
        Ok(Response::new(pb::ListDropletsResponse {
            next_page_token: page.next_token(&key),
            droplets: page.items.into_iter().map(Into::into).collect(),
            total_size,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn destroy_droplet(
        &self,
        req: Request<pb::DestroyDropletRequest>,
    ) -> Result<Response<pb::DestroyDropletResponse>, Status> {
        let mut v = Violations::new();
        let r = parse_ref(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let id = self.0.droplet_id(&r.unwrap()).await?;
        let droplet = self.0.destroy_droplet(&id).await?;
        Ok(Response::new(pb::DestroyDropletResponse {
            droplet: Some(droplet.into()),
        }))
    }

    async fn watch_droplet(
        &self,
        req: Request<pb::WatchDropletRequest>,
    ) -> Result<Response<BoxStream<pb::WatchDropletResponse>>, Status> {
        let mut v = Violations::new();
        let r = parse_ref(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let id = self.0.droplet_id(&r.unwrap()).await?;
        // Fail fast with NOT_FOUND instead of a stream that errors at once.
        self.0.get_droplet(&id).await?;
        let stream = self.0.watch_droplet(id).map(|r| {
            r.map(|d| pb::WatchDropletResponse {
                droplet: Some(d.into()),
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[tonic::async_trait]
impl<R: ProvisioningRepository, C: CloudProvider>
    pb::droplet_action_service_server::DropletActionService for Api<R, C>
{
    #[tracing::instrument(skip_all)]
    async fn create_droplet_action(
        &self,
        req: Request<pb::CreateDropletActionRequest>,
    ) -> Result<Response<pb::CreateDropletActionResponse>, Status> {
        let mut r = req.into_inner();
        // A number names the droplet as well as its id does.
        if let Ok(Ref::Number(n)) = Ref::parse(&r.droplet_id) {
            r.droplet_id = self.0.droplet_id(&Ref::Number(n)).await?.to_string();
        }
        let input = CreateAction::try_from(r)?;
        let action = self.0.create_action(input).await?;
        Ok(Response::new(pb::CreateDropletActionResponse {
            action: Some(action.into()),
        }))
    }

    async fn get_droplet_action(
        &self,
        req: Request<pb::GetDropletActionRequest>,
    ) -> Result<Response<pb::GetDropletActionResponse>, Status> {
        let mut v = Violations::new();
        let r = parse_ref(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let id = self.0.action_id(&r.unwrap()).await?;
        let action = self.0.get_action(&id).await?;
        Ok(Response::new(pb::GetDropletActionResponse {
            action: Some(action.into()),
        }))
    }

    async fn list_droplet_actions(
        &self,
        req: Request<pb::ListDropletActionsRequest>,
    ) -> Result<Response<pb::ListDropletActionsResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let droplet = if r.droplet_id.is_empty() {
            None
        } else {
            parse_ref(&mut v, "droplet_id", &r.droplet_id)
        };
        let status = action_status_filter(&mut v, r.status);
        let skip = parse_skip(&mut v, r.skip);
        let key = format!("{}|{}", r.droplet_id, r.status);
        let page = page_request(&mut v, r.page_size, &r.page_token, &key);
        finish(v)?;
        let droplet_id = match &droplet {
            Some(d) => Some(self.0.droplet_id(d).await?.to_string()),
            None => None,
        };
        let mut filter = ActionFilter {
            droplet_id,
            status,
            skip: 0,
        };
        let total_size = if r.want_total_size {
            i32::try_from(self.0.count_actions(&filter).await?).unwrap_or(i32::MAX)
        } else {
            0
        };
        filter.skip = skip.unwrap_or_default();
        let page = self.0.list_actions(&filter, &page.unwrap()).await?;
        Ok(Response::new(pb::ListDropletActionsResponse {
            next_page_token: page.next_token(&key),
            actions: page.items.into_iter().map(Into::into).collect(),
            total_size,
        }))
    }

    async fn watch_droplet_action(
        &self,
        req: Request<pb::WatchDropletActionRequest>,
    ) -> Result<Response<BoxStream<pb::WatchDropletActionResponse>>, Status> {
        let mut v = Violations::new();
        let r = parse_ref(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let id = self.0.action_id(&r.unwrap()).await?;
        self.0.get_action(&id).await?;
        let stream = self.0.watch_action(id).map(|r| {
            r.map(|a| pb::WatchDropletActionResponse {
                action: Some(a.into()),
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

fn tag_name(v: &mut Violations, field: &str, raw: &str) -> Option<String> {
    v.check(field, Tags::parse_one(raw))
}

impl From<TagInfo> for pb::Tag {
    fn from(t: TagInfo) -> Self {
        Self {
            name: t.name,
            droplet_count: i32::try_from(t.droplets).unwrap_or(i32::MAX),
            create_time: Some(timestamp(t.created_at)),
        }
    }
}

/// Droplets named in one tagging call.
const TAG_DROPLETS_MAX: usize = 100;

#[tonic::async_trait]
impl<R: ProvisioningRepository, C: CloudProvider> pb::tag_service_server::TagService for Api<R, C> {
    #[tracing::instrument(skip_all)]
    async fn create_tag(
        &self,
        req: Request<pb::CreateTagRequest>,
    ) -> Result<Response<pb::CreateTagResponse>, Status> {
        let mut v = Violations::new();
        let name = tag_name(&mut v, "name", &req.get_ref().name);
        finish(v)?;
        let tag = self.0.create_tag(&name.unwrap()).await?;
        Ok(Response::new(pb::CreateTagResponse {
            tag: Some(tag.into()),
        }))
    }

    async fn get_tag(
        &self,
        req: Request<pb::GetTagRequest>,
    ) -> Result<Response<pb::GetTagResponse>, Status> {
        let mut v = Violations::new();
        let name = tag_name(&mut v, "name", &req.get_ref().name);
        finish(v)?;
        let tag = self.0.get_tag(&name.unwrap()).await?;
        Ok(Response::new(pb::GetTagResponse {
            tag: Some(tag.into()),
        }))
    }

    async fn list_tags(
        &self,
        req: Request<pb::ListTagsRequest>,
    ) -> Result<Response<pb::ListTagsResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let skip = parse_skip(&mut v, r.skip);
        let page = page_request(&mut v, r.page_size, &r.page_token, "tags");
        finish(v)?;
        let total_size = if r.want_total_size {
            i32::try_from(self.0.count_tags().await?).unwrap_or(i32::MAX)
        } else {
            0
        };
        let page = self
            .0
            .list_tags(skip.unwrap_or_default(), &page.unwrap())
            .await?;
        Ok(Response::new(pb::ListTagsResponse {
            next_page_token: page.next_token("tags"),
            tags: page.items.into_iter().map(Into::into).collect(),
            total_size,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_tag(
        &self,
        req: Request<pb::DeleteTagRequest>,
    ) -> Result<Response<pb::DeleteTagResponse>, Status> {
        let mut v = Violations::new();
        let name = tag_name(&mut v, "name", &req.get_ref().name);
        finish(v)?;
        self.0.delete_tag(&name.unwrap()).await?;
        Ok(Response::new(pb::DeleteTagResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn tag_droplets(
        &self,
        req: Request<pb::TagDropletsRequest>,
    ) -> Result<Response<pb::TagDropletsResponse>, Status> {
        let r = req.into_inner();
        let (name, refs) = retag_request(&r.tag, &r.droplet_ids)?;
        self.0.retag(&name, &refs, true).await?;
        Ok(Response::new(pb::TagDropletsResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn untag_droplets(
        &self,
        req: Request<pb::UntagDropletsRequest>,
    ) -> Result<Response<pb::UntagDropletsResponse>, Status> {
        let r = req.into_inner();
        let (name, refs) = retag_request(&r.tag, &r.droplet_ids)?;
        self.0.retag(&name, &refs, false).await?;
        Ok(Response::new(pb::UntagDropletsResponse {}))
    }
}

fn retag_request(tag: &str, ids: &[String]) -> Result<(String, Vec<Ref>), Status> {
    let mut v = Violations::new();
    let name = tag_name(&mut v, "tag", tag);
    if ids.is_empty() || ids.len() > TAG_DROPLETS_MAX {
        v.add(
            "droplet_ids",
            format!("must name 1–{TAG_DROPLETS_MAX} droplets"),
        );
    }
    let refs: Vec<Option<Ref>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| parse_ref(&mut v, &format!("droplet_ids[{i}]"), id))
        .collect();
    finish(v)?;
    Ok((name.unwrap(), refs.into_iter().flatten().collect()))
}

/// The catalog is static: no storage behind it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CatalogApi {
    pub region_capacity: u32,
}

#[tonic::async_trait]
impl pb::catalog_service_server::CatalogService for CatalogApi {
    async fn list_regions(
        &self,
        _: Request<pb::ListRegionsRequest>,
    ) -> Result<Response<pb::ListRegionsResponse>, Status> {
        let regions = catalog::REGIONS
            .iter()
            .map(|r| pb::Region {
                slug: r.slug.into(),
                name: r.name.into(),
                available: true,
                capacity: i32::try_from(self.region_capacity).unwrap_or(i32::MAX),
                sizes: r.sizes().map(|s| s.slug.to_string()).collect(),
            })
            .collect();
        Ok(Response::new(pb::ListRegionsResponse { regions }))
    }

    async fn list_sizes(
        &self,
        req: Request<pb::ListSizesRequest>,
    ) -> Result<Response<pb::ListSizesResponse>, Status> {
        let region = &req.get_ref().region;
        let region = if region.is_empty() {
            None
        } else {
            Some(domain::parse_region(region).map_err(|e| Error::invalid("region", e))?)
        };
        let sizes = catalog::SIZES
            .iter()
            .filter(|s| region.is_none_or(|r| r.offers(s.slug)))
            .map(|s| pb::Size {
                slug: s.slug.into(),
                vcpus: s.vcpus as i32,
                memory_mb: s.memory_mb as i32,
                disk_gb: s.disk_gb as i32,
                transfer_tb: s.transfer_tb as i32,
                price_monthly_cents: s.price_monthly_cents,
                price_hourly_micros: s.price_hourly_micros,
                description: s.description.into(),
                regions: s.regions().map(|r| r.slug.to_string()).collect(),
            })
            .collect();
        Ok(Response::new(pb::ListSizesResponse { sizes }))
    }

    async fn list_images(
        &self,
        _: Request<pb::ListImagesRequest>,
    ) -> Result<Response<pb::ListImagesResponse>, Status> {
        let images = catalog::IMAGES
            .iter()
            .map(|i| pb::Image {
                number: i.number,
                slug: i.slug.into(),
                distribution: i.distribution.into(),
                name: i.name.into(),
                min_disk_gb: i.min_disk_gb as i32,
            })
            .collect();
        Ok(Response::new(pb::ListImagesResponse { images }))
    }
}

fn fault_kind(raw: i32) -> Result<FaultKind, &'static str> {
    match pb::FaultKind::try_from(raw) {
        Ok(pb::FaultKind::CpuSpike) => Ok(FaultKind::CpuSpike),
        Ok(pb::FaultKind::MemoryLeak) => Ok(FaultKind::MemoryLeak),
        Ok(pb::FaultKind::DiskFilling) => Ok(FaultKind::DiskFilling),
        Ok(pb::FaultKind::Crash) => Ok(FaultKind::Crash),
        Ok(pb::FaultKind::NetworkLoss) => Ok(FaultKind::NetworkLoss),
        Ok(pb::FaultKind::Unspecified) | Err(_) => {
            Err("must be one of CPU_SPIKE, MEMORY_LEAK, DISK_FILLING, CRASH, NETWORK_LOSS")
        }
    }
}

fn fault_duration(raw: Option<prost_types::Duration>) -> Result<FaultDuration, String> {
    let raw = raw.ok_or("is required")?;
    let d = std::time::Duration::try_from(raw).map_err(|_| "must be positive".to_string())?;
    FaultDuration::parse(d)
}

impl TryFrom<pb::InjectFaultRequest> for InjectFault {
    type Error = Error;

    fn try_from(r: pb::InjectFaultRequest) -> Result<Self, Error> {
        let mut v = Violations::new();
        let droplet_id = parse_id(&mut v, "droplet_id", &r.droplet_id);
        let kind = v.check("kind", fault_kind(r.kind));
        let duration = v.check("duration", fault_duration(r.duration));
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        finish(v)?;
        Ok(Self {
            droplet_id: droplet_id.unwrap(),
            kind: kind.unwrap(),
            duration: duration.unwrap(),
            request_id: request_id.unwrap(),
        })
    }
}

#[tonic::async_trait]
impl<R: ProvisioningRepository, C: CloudProvider> pb::fault_service_server::FaultService
    for Api<R, C>
{
    #[tracing::instrument(skip_all)]
    async fn inject_fault(
        &self,
        req: Request<pb::InjectFaultRequest>,
    ) -> Result<Response<pb::InjectFaultResponse>, Status> {
        let fault = self.0.inject_fault(req.into_inner().try_into()?).await?;
        Ok(Response::new(pb::InjectFaultResponse {
            fault: Some(fault.into()),
        }))
    }

    async fn list_faults(
        &self,
        req: Request<pb::ListFaultsRequest>,
    ) -> Result<Response<pb::ListFaultsResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let mut optional_id = |field: &str, raw: &str| {
            if raw.is_empty() {
                None
            } else {
                parse_id(&mut v, field, raw).map(|id| id.as_str().to_string())
            }
        };
        let filter = FaultFilter {
            cluster_id: optional_id("cluster_id", &r.cluster_id),
            droplet_id: optional_id("droplet_id", &r.droplet_id),
            include_ended: r.include_ended,
            now: cg_runtime::time::now_millis(),
        };
        let key = format!("{}|{}|{}", r.cluster_id, r.droplet_id, r.include_ended);
        let page = page_request(&mut v, r.page_size, &r.page_token, &key);
        finish(v)?;
        let page = self.0.list_faults(&filter, &page.unwrap()).await?;
        Ok(Response::new(pb::ListFaultsResponse {
            next_page_token: page.next_token(&key),
            faults: page.items.into_iter().map(Into::into).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn clear_fault(
        &self,
        req: Request<pb::ClearFaultRequest>,
    ) -> Result<Response<pb::ClearFaultResponse>, Status> {
        let mut v = Violations::new();
        let id = parse_id(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let fault = self.0.clear_fault(&id.unwrap()).await?;
        Ok(Response::new(pb::ClearFaultResponse {
            fault: Some(fault.into()),
        }))
    }
}

/// The executor's queue and workers (zeros when no broker is configured).
pub struct ExecutorApi(pub Option<crate::executor::Executor>);

#[tonic::async_trait]
impl pb::executor_service_server::ExecutorService for ExecutorApi {
    async fn get_executor_stats(
        &self,
        _: Request<pb::GetExecutorStatsRequest>,
    ) -> Result<Response<pb::GetExecutorStatsResponse>, Status> {
        let Some(executor) = &self.0 else {
            return Ok(Response::new(pb::GetExecutorStatsResponse::default()));
        };
        let s = executor.stats();
        let int = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(Response::new(pb::GetExecutorStatsResponse {
            workers: int(s.workers),
            busy_workers: int(s.busy),
            queue_capacity: int(s.queue_capacity),
            queue_length: int(s.queue_length),
            latencies: s
                .latencies
                .into_iter()
                .map(|l| pb::KindLatency {
                    kind: l.kind,
                    completed: l.completed,
                    failed: l.failed,
                    p50: Some(cg_runtime::time::duration(l.p50)),
                    p99: Some(cg_runtime::time::duration(l.p99)),
                })
                .collect(),
        }))
    }
}
