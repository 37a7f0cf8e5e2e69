//! Droplets: list, create (one or many, into their cluster), delete.

use super::*;

/// At most this many droplets per create, as DigitalOcean.
const NAMES_MAX: usize = 10;
/// Pages read when acting on every droplet of a tag.
const TAG_PAGE: i32 = 200;

impl Call {
    pub(super) fn tag_filter(&self) -> Result<String, DoError> {
        self.query("tag_name")
            .map(str::to_string)
            .ok_or_else(|| DoError::unprocessable("tag_name is required"))
    }

    pub(super) async fn list_droplets(&self) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let c = self.catalog().await?;
        let r = self
            .droplets()
            .list_droplets(ppb::ListDropletsRequest {
                page_size: paging.page_size(),
                skip: paging.skip_rows(),
                want_total_size: true,
                tag: self.query("tag_name").unwrap_or_default().to_string(),
                name: self.query("name").unwrap_or_default().to_string(),
                ..Default::default()
            })
            .await?
            .into_inner();
        let items = r.droplets.iter().map(|d| c.droplet_json(d)).collect();
        let total = u64::try_from(r.total_size).unwrap_or_default();
        Ok(self.page_of("/v2/droplets", items, paging, total))
    }

    /// Every live droplet with `tag`.
    pub(super) async fn tagged(&self, tag: &str) -> Result<Vec<ppb::Droplet>, DoError> {
        let mut all = Vec::new();
        let mut page_token = String::new();
        loop {
            let r = self
                .droplets()
                .list_droplets(ppb::ListDropletsRequest {
                    page_size: TAG_PAGE,
                    page_token,
                    tag: tag.to_string(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            all.extend(r.droplets);
            if r.next_page_token.is_empty() {
                return Ok(all);
            }
            page_token = r.next_page_token;
        }
    }

    pub(super) async fn destroy_by_tag(&self) -> Reply {
        let tag = self.tag_filter()?;
        let droplets = self.tagged(&tag).await?;
        self.charge(droplets.len().saturating_sub(1)).await?;
        let mut busy = false;
        for d in droplets {
            match self
                .droplets()
                .destroy_droplet(ppb::DestroyDropletRequest { id: d.id.clone() })
                .await
            {
                Ok(_) => {}
                Err(s) if s.code() == Code::FailedPrecondition => busy = true,
                Err(s) if s.code() == Code::NotFound => {}
                Err(s) => return Err(s.into()),
            }
        }
        if busy {
            return Err(DoError::pending_event());
        }
        Ok(no_content())
    }

    pub(super) async fn droplet_by_id(&self, id: &str) -> Result<ppb::Droplet, DoError> {
        self.droplets()
            .get_droplet(ppb::GetDropletRequest { id: id.to_string() })
            .await?
            .into_inner()
            .droplet
            .ok_or_else(DoError::not_found)
    }

    /// Droplet `n`, archived or not (its actions stay readable).
    pub(super) async fn any_droplet(&self, n: i64) -> Result<ppb::Droplet, DoError> {
        self.droplet_by_id(&n.to_string()).await
    }

    /// Droplet `n`; a destroyed one is gone (404), as on DigitalOcean.
    pub(super) async fn live_droplet(&self, n: i64) -> Result<ppb::Droplet, DoError> {
        let d = self.any_droplet(n).await?;
        if d.status == ppb::DropletStatus::Archive as i32 {
            return Err(DoError::not_found());
        }
        Ok(d)
    }

    pub(super) async fn create_droplets(&self, body: &Bytes) -> Reply {
        let request: model::CreateDroplet = parse_json(body)?;
        let names = match (&request.name, &request.names) {
            (Some(name), None) => vec![name.clone()],
            (None, Some(names)) if !names.is_empty() && names.len() <= NAMES_MAX => names.clone(),
            (None, Some(_)) => {
                return Err(DoError::unprocessable(format!(
                    "names must hold 1 to {NAMES_MAX} names"
                )));
            }
            (Some(_), Some(_)) => {
                return Err(DoError::unprocessable("give name or names, not both"));
            }
            (None, None) => return Err(DoError::unprocessable("name is required")),
        };
        let c = self.catalog().await?;
        let region = request
            .region
            .as_deref()
            .ok_or_else(|| DoError::unprocessable("region is required"))?;
        if c.region(region).is_none() {
            return Err(DoError::unprocessable(format!(
                "You specified an invalid region for Droplet creation: {region:?}."
            )));
        }
        let size = request
            .size
            .as_deref()
            .ok_or_else(|| DoError::unprocessable("size is required"))?;
        if c.size(size).is_none() {
            return Err(DoError::unprocessable(format!(
                "You specified an invalid size for Droplet creation: {size:?}."
            )));
        }
        let image = match &request.image {
            Some(model::ImageRef::Slug(slug)) => c.image_by_slug(slug),
            Some(model::ImageRef::Id(id)) => {
                i64::try_from(*id).ok().and_then(|n| c.image_by_number(n))
            }
            None => return Err(DoError::unprocessable("image is required")),
        }
        .ok_or_else(|| {
            DoError::unprocessable("You specified an invalid image for Droplet creation.")
        })?
        .slug
        .clone();
        let tags = request.tags.clone().unwrap_or_default();
        // Each droplet costs what a CreateDroplet costs; all are paid for
        // before the first is made, so a budget never stops a batch halfway.
        self.charge(names.len() - 1).await?;
        let cluster = self.cluster_for(&tags, region).await?;
        let mut droplets = Vec::with_capacity(names.len());
        let mut links = Vec::with_capacity(names.len());
        for name in names {
            let d = self
                .droplets()
                .create_droplet(ppb::CreateDropletRequest {
                    cluster_id: cluster.clone(),
                    name,
                    size: size.to_string(),
                    image: image.clone(),
                    tags: tags.clone(),
                    request_id: String::new(),
                })
                .await?
                .into_inner()
                .droplet
                .ok_or_else(DoError::not_found)?;
            let create = self
                .actions()
                .list_droplet_actions(ppb::ListDropletActionsRequest {
                    droplet_id: d.id.clone(),
                    page_size: 1,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .actions
                .into_iter()
                .find(|a| a.r#type == ppb::ActionType::Create as i32);
            if let Some(a) = create {
                links.push(ActionLink::for_action(
                    &c.action_json(&a, d.number),
                    &self.root,
                ));
            }
            droplets.push(c.droplet_json(&d));
        }
        Ok(if droplets.len() == 1 && request.names.is_none() {
            let one = droplets
                .pop()
                .unwrap_or_else(|| unreachable!("one droplet"));
            json(StatusCode::ACCEPTED, &Envelope::created(one, links))
        } else {
            json(
                StatusCode::ACCEPTED,
                &Envelope::created_many(droplets, links),
            )
        })
    }

    /// The cluster a new droplet joins: the one a `cluster:<name>` tag
    /// names (created in the droplet's region if it does not exist), else
    /// the region's default cluster `do-<region>`.
    pub(super) async fn cluster_for(
        &self,
        tags: &[String],
        region: &str,
    ) -> Result<String, DoError> {
        let named = tags.iter().find_map(|t| t.strip_prefix("cluster:"));
        let name = named.map_or_else(|| format!("do-{region}"), str::to_string);
        for _ in 0..3 {
            let found = self
                .clusters()
                .list_clusters(ppb::ListClustersRequest {
                    name: name.clone(),
                    page_size: 1,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .clusters
                .into_iter()
                .next();
            if let Some(cluster) = found {
                if cluster.region != region {
                    return Err(DoError::unprocessable(format!(
                        "cluster {name} is in {}, not {region}",
                        cluster.region
                    )));
                }
                return Ok(cluster.id);
            }
            let created = self
                .clusters()
                .create_cluster(ppb::CreateClusterRequest {
                    name: name.clone(),
                    region: region.to_string(),
                    description: "created for droplets from the DigitalOcean API".into(),
                    tags: Vec::new(),
                    // No idempotency key: a key would replay a cluster that
                    // was deleted since; a race is settled by the name.
                    request_id: String::new(),
                })
                .await;
            match created {
                Ok(r) => {
                    if let Some(c) = r.into_inner().cluster {
                        return Ok(c.id);
                    }
                }
                // Created meanwhile by someone else: look again.
                Err(s) if s.code() == Code::AlreadyExists => {}
                Err(s) => return Err(s.into()),
            }
        }
        Err(DoError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!("cluster {name} could not be found or created; try again"),
        ))
    }
}
