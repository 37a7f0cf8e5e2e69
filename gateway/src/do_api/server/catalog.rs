//! The account, and the catalog: sizes, regions, images and snapshots.

use super::*;

impl Call {
    pub(super) async fn sizes(&self) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let c = self.catalog().await?;
        let all: Vec<_> = c.sizes.iter().map(|s| c.size_json(s)).collect();
        Ok(self.page_of("/v2/sizes", paging.slice(&all), paging, all.len() as u64))
    }

    pub(super) async fn regions(&self) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let c = self.catalog().await?;
        let all: Vec<_> = c.regions.iter().map(|r| c.region_json(r)).collect();
        Ok(self.page_of("/v2/regions", paging.slice(&all), paging, all.len() as u64))
    }

    pub(super) async fn account(&self) -> Reply {
        let mut tokens = gpb::token_service_client::TokenServiceClient::new(self.inner.clone());
        let token = tokens
            .who_am_i(gpb::WhoAmIRequest {})
            .await?
            .into_inner()
            .token
            .ok_or_else(|| DoError::from_status(&Status::unauthenticated("no token")))?;
        let name = token.name.clone();
        let local: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &Envelope::one(model::Account {
                droplet_limit: 1000,
                floating_ip_limit: 0,
                reserved_ip_limit: 0,
                volume_limit: 0,
                email: format!("{local}@clustergenie.local"),
                name,
                uuid: token.id,
                email_verified: true,
                status: "active".into(),
                status_message: String::new(),
                team: model::Team {
                    uuid: "00000000-0000-4000-8000-000000000001".into(),
                    name: "ClusterGenie".into(),
                },
            }),
        ))
    }

    pub(super) async fn images(&self) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let c = self.catalog().await?;
        // The catalog holds distribution images; snapshots are found by id.
        let private = self.query("private") == Some("true");
        let all: Vec<_> = match self.query("type") {
            _ if private => Vec::new(),
            None | Some("distribution" | "base") => {
                c.images.iter().map(|i| c.image_json(i)).collect()
            }
            Some(_) => Vec::new(),
        };
        Ok(self.page_of("/v2/images", paging.slice(&all), paging, all.len() as u64))
    }

    pub(super) async fn image(&self, raw: &str) -> Reply {
        let c = self.catalog().await?;
        let found = match number(raw) {
            Some(n) => match c.image_by_number(n) {
                Some(i) => Some(c.image_json(i)),
                None => self.snapshot(n, &c).await?,
            },
            None => c.image_by_slug(raw).map(|i| c.image_json(i)),
        };
        let image = found.ok_or_else(DoError::not_found)?;
        Ok(json(StatusCode::OK, &Envelope::one(image)))
    }

    /// Image `n` when it is a completed snapshot.
    pub(super) async fn snapshot(
        &self,
        n: i64,
        c: &Catalog,
    ) -> Result<Option<model::Image>, DoError> {
        let action = match self.action(n).await {
            Ok(a) => a,
            Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(None),
            Err(e) => return Err(e),
        };
        let done = action.r#type == ppb::ActionType::Snapshot as i32
            && action.status == ppb::ActionStatus::Completed as i32;
        if !done {
            return Ok(None);
        }
        let d = self.droplet_by_id(&action.droplet_id).await?;
        Ok(Some(c.snapshot_json(&action, &d)))
    }
}
