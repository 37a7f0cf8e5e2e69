//! Droplet actions: posted, listed and read.

use super::*;

impl Call {
    pub(super) async fn action(&self, n: i64) -> Result<ppb::DropletAction, DoError> {
        self.actions()
            .get_droplet_action(ppb::GetDropletActionRequest { id: n.to_string() })
            .await?
            .into_inner()
            .action
            .ok_or_else(DoError::not_found)
    }

    pub(super) async fn list_actions(&self, droplet: Option<i64>) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let c = self.catalog().await?;
        let known = match droplet {
            Some(n) => Some(self.any_droplet(n).await?),
            None => None,
        };
        let r = self
            .actions()
            .list_droplet_actions(ppb::ListDropletActionsRequest {
                droplet_id: known.as_ref().map(|d| d.id.clone()).unwrap_or_default(),
                page_size: paging.page_size(),
                skip: paging.skip_rows(),
                want_total_size: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        let items = r
            .actions
            .iter()
            .map(|a| c.action_json(a, a.droplet_number))
            .collect();
        let path = match droplet {
            Some(n) => format!("/v2/droplets/{n}/actions"),
            None => "/v2/actions".to_string(),
        };
        let total = u64::try_from(r.total_size).unwrap_or_default();
        Ok(self.page_of(&path, items, paging, total))
    }

    pub(super) async fn post_action(
        &self,
        d: &ppb::Droplet,
        request: &model::ActionRequest,
    ) -> Result<model::Action, DoError> {
        use ppb::{ActionType as T, create_droplet_action_request::Params};
        let (kind, params) = match request.kind.as_str() {
            "power_off" => (T::PowerOff, None),
            "power_on" => (T::PowerOn, None),
            "shutdown" => (T::Shutdown, None),
            "reboot" => (T::Reboot, None),
            "power_cycle" => (T::PowerCycle, None),
            "resize" => {
                let size = request
                    .size
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| DoError::unprocessable("size is required for a resize"))?;
                (T::Resize, Some(Params::Resize(ppb::ResizeParams { size })))
            }
            "rename" => {
                let name = request
                    .name
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| DoError::unprocessable("name is required for a rename"))?;
                (T::Rename, Some(Params::Rename(ppb::RenameParams { name })))
            }
            "snapshot" => (
                T::Snapshot,
                Some(Params::Snapshot(ppb::SnapshotParams {
                    name: request.name.clone().unwrap_or_default(),
                })),
            ),
            other => {
                return Err(DoError::unprocessable(format!(
                    "{other:?} is not an action type this cloud offers (power_off, power_on, \
                     shutdown, reboot, power_cycle, resize, rename, snapshot)"
                )));
            }
        };
        let action = self
            .actions()
            .create_droplet_action(ppb::CreateDropletActionRequest {
                droplet_id: d.id.clone(),
                r#type: kind as i32,
                params,
                request_id: String::new(),
            })
            .await?
            .into_inner()
            .action
            .ok_or_else(DoError::not_found)?;
        let c = self.catalog().await?;
        Ok(c.action_json(&action, d.number))
    }

    /// The same action on every droplet carrying the `tag_name` tag.
    pub(super) async fn post_by_tag(&self, body: &Bytes) -> Reply {
        let request: model::ActionRequest = parse_json(body)?;
        let tag = self.tag_filter()?;
        let droplets = self.tagged(&tag).await?;
        // One action per droplet, each charged as its gRPC twin is.
        self.charge(droplets.len().saturating_sub(1)).await?;
        let mut done = Vec::new();
        let mut busy = false;
        for d in &droplets {
            match self.post_action(d, &request).await {
                Ok(a) => done.push(a),
                // A droplet mid-action is passed over, as in delete
                // by tag; the rest still act.
                Err(e) if e.is_pending_event() => busy = true,
                Err(e) => return Err(e),
            }
        }
        if done.is_empty() && busy {
            return Err(DoError::pending_event());
        }
        Ok(json(StatusCode::CREATED, &Envelope::many(done)))
    }
}
