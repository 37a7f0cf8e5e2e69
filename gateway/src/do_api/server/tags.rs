//! Tags: created, listed, counted, put on and taken off droplets.

use super::*;

impl Call {
    pub(super) fn tags(&self) -> ppb::tag_service_client::TagServiceClient<Inner> {
        ppb::tag_service_client::TagServiceClient::new(self.inner.clone())
    }

    pub(super) fn tag_json(&self, t: &ppb::Tag) -> model::Tag {
        let droplets = u64::try_from(t.droplet_count).unwrap_or_default();
        model::Tag {
            name: t.name.clone(),
            resources: model::TagResources {
                count: droplets,
                last_tagged_uri: None,
                droplets: model::TagResourceCount {
                    count: droplets,
                    last_tagged_uri: None,
                },
                ..model::TagResources::default()
            },
        }
    }

    pub(super) async fn list_tags(&self) -> Reply {
        let paging = Paging::parse(&self.query)?;
        let r = self
            .tags()
            .list_tags(ppb::ListTagsRequest {
                page_size: paging.page_size(),
                skip: paging.skip_rows(),
                want_total_size: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        let items = r.tags.iter().map(|t| self.tag_json(t)).collect();
        let total = u64::try_from(r.total_size).unwrap_or_default();
        Ok(self.page_of("/v2/tags", items, paging, total))
    }

    pub(super) async fn create_tag(&self, body: &Bytes) -> Reply {
        let request: model::CreateTag = parse_json(body)?;
        let tag = self
            .tags()
            .create_tag(ppb::CreateTagRequest { name: request.name })
            .await?
            .into_inner()
            .tag
            .ok_or_else(DoError::not_found)?;
        Ok(json(
            StatusCode::CREATED,
            &Envelope::one(self.tag_json(&tag)),
        ))
    }

    pub(super) async fn get_tag(&self, name: String) -> Reply {
        let tag = self
            .tags()
            .get_tag(ppb::GetTagRequest { name })
            .await?
            .into_inner()
            .tag
            .ok_or_else(DoError::not_found)?;
        Ok(json(StatusCode::OK, &Envelope::one(self.tag_json(&tag))))
    }

    pub(super) async fn delete_tag(&self, name: String) -> Reply {
        self.tags()
            .delete_tag(ppb::DeleteTagRequest { name })
            .await?;
        Ok(no_content())
    }

    /// Puts tag `name` on (`on`) or takes it off the droplets in `body`.
    pub(super) async fn retag(&self, name: String, body: &Bytes, on: bool) -> Reply {
        let request: model::TagResourcesRequest = parse_json(body)?;
        let mut ids = Vec::with_capacity(request.resources.len());
        for r in request.resources {
            if r.resource_type != "droplet" {
                return Err(DoError::unprocessable(format!(
                    "resource_type {:?} cannot be tagged here (droplet only)",
                    r.resource_type
                )));
            }
            // A number that cannot exist is simply not found.
            if number(&r.resource_id).is_none() {
                return Err(DoError::not_found());
            }
            ids.push(r.resource_id);
        }
        if on {
            self.tags()
                .tag_droplets(ppb::TagDropletsRequest {
                    tag: name,
                    droplet_ids: ids,
                })
                .await?;
        } else {
            self.tags()
                .untag_droplets(ppb::UntagDropletsRequest {
                    tag: name,
                    droplet_ids: ids,
                })
                .await?;
        }
        Ok(no_content())
    }
}
