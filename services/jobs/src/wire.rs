//! The protobuf forms of jobs' domain types, in one place: the gRPC adapter
//! answers with them, events carry them, and storage keeps an action and an
//! outcome as their encoded messages (one stable, versioned format).

use cg_runtime::{
    time::{opt_timestamp, timestamp},
    types::Id,
    validate::Violations,
};
use clustergenie_proto::jobs::v1 as pb;
use prost::Message as _;

use crate::domain::{Action, Job, Kind, NamePrefix, Outcome, Slug, Source, Status};

impl From<Status> for pb::JobStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Queued => Self::Queued,
            Status::Running => Self::Running,
            Status::Succeeded => Self::Succeeded,
            Status::Failed => Self::Failed,
            Status::Cancelled => Self::Cancelled,
        }
    }
}

impl From<Kind> for pb::JobKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::ProvisionDroplets => Self::ProvisionDroplets,
            Kind::DestroyDroplet => Self::DestroyDroplet,
            Kind::ResizeDroplet => Self::ResizeDroplet,
            Kind::RebootDroplet => Self::RebootDroplet,
            Kind::PowerCycleDroplet => Self::PowerCycleDroplet,
            Kind::ScaleCluster => Self::ScaleCluster,
        }
    }
}

impl From<Source> for pb::JobSource {
    fn from(s: Source) -> Self {
        match s {
            Source::User => Self::User,
            Source::Diagnosis => Self::Diagnosis,
            Source::Scaler => Self::Scaler,
        }
    }
}

/// A status filter: unspecified is none; an unknown number is an error.
pub fn status(raw: i32) -> Result<Option<Status>, String> {
    match pb::JobStatus::try_from(raw) {
        Ok(pb::JobStatus::Unspecified) => Ok(None),
        Ok(s) => Ok(Status::ALL
            .into_iter()
            .find(|x| pb::JobStatus::from(*x) == s)),
        Err(_) => Err(format!("unknown job status {raw}")),
    }
}

pub fn kind(raw: i32) -> Result<Option<Kind>, String> {
    match pb::JobKind::try_from(raw) {
        Ok(pb::JobKind::Unspecified) => Ok(None),
        Ok(k) => Ok(Kind::ALL.into_iter().find(|x| pb::JobKind::from(*x) == k)),
        Err(_) => Err(format!("unknown job kind {raw}")),
    }
}

pub fn source(raw: i32) -> Result<Option<Source>, String> {
    match pb::JobSource::try_from(raw) {
        Ok(pb::JobSource::Unspecified) => Ok(None),
        Ok(s) => Ok(Source::ALL
            .into_iter()
            .find(|x| pb::JobSource::from(*x) == s)),
        Err(_) => Err(format!("unknown job source {raw}")),
    }
}

impl From<&Action> for pb::JobAction {
    fn from(a: &Action) -> Self {
        use pb::job_action::Action as A;
        let action = match a {
            Action::ProvisionDroplets {
                count,
                size,
                image,
                name_prefix,
            } => A::ProvisionDroplets(pb::ProvisionDroplets {
                count: i32::try_from(*count).unwrap_or(i32::MAX),
                size: size.as_str().into(),
                image: image.as_str().into(),
                name_prefix: name_prefix
                    .as_ref()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
            }),
            Action::DestroyDroplet { droplet_id } => A::DestroyDroplet(pb::DestroyDroplet {
                droplet_id: droplet_id.to_string(),
            }),
            Action::ResizeDroplet { droplet_id, size } => A::ResizeDroplet(pb::ResizeDroplet {
                droplet_id: droplet_id.to_string(),
                size: size.as_str().into(),
            }),
            Action::RebootDroplet { droplet_id } => A::RebootDroplet(pb::RebootDroplet {
                droplet_id: droplet_id.to_string(),
            }),
            Action::PowerCycleDroplet { droplet_id } => {
                A::PowerCycleDroplet(pb::PowerCycleDroplet {
                    droplet_id: droplet_id.to_string(),
                })
            }
            Action::ScaleCluster {
                target_count,
                size,
                image,
                remove_droplet_ids,
            } => A::ScaleCluster(pb::ScaleCluster {
                target_count: i32::try_from(*target_count).unwrap_or(i32::MAX),
                size: size.as_str().into(),
                image: image.as_str().into(),
                remove_droplet_ids: remove_droplet_ids.iter().map(Id::to_string).collect(),
            }),
        };
        Self {
            action: Some(action),
        }
    }
}

fn count(
    v: &mut Violations,
    field: &str,
    raw: i32,
    range: std::ops::RangeInclusive<u32>,
) -> Option<u32> {
    match u32::try_from(raw) {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            v.add(
                field,
                format!("must be between {} and {}", range.start(), range.end()),
            );
            None
        }
    }
}

/// Parses an action, naming each bad field `action.<case>.<field>`.
pub fn action(v: &mut Violations, raw: Option<&pb::JobAction>) -> Option<Action> {
    use pb::job_action::Action as A;
    let Some(action) = raw.and_then(|a| a.action.as_ref()) else {
        v.add("action", "must be set");
        return None;
    };
    let id = |v: &mut Violations, field: &str, raw: &str| v.check(field, Id::parse(raw));
    let slug = |v: &mut Violations, field: &str, raw: &str| v.check(field, Slug::parse(raw));
    match action {
        A::ProvisionDroplets(p) => {
            let n = count(
                v,
                "action.provision_droplets.count",
                p.count,
                1..=Action::MAX_PROVISION,
            );
            let size = slug(v, "action.provision_droplets.size", &p.size);
            let image = slug(v, "action.provision_droplets.image", &p.image);
            let prefix = v.check(
                "action.provision_droplets.name_prefix",
                NamePrefix::parse_prefix(&p.name_prefix),
            );
            Some(Action::ProvisionDroplets {
                count: n?,
                size: size?,
                image: image?,
                name_prefix: prefix?,
            })
        }
        A::DestroyDroplet(p) => Some(Action::DestroyDroplet {
            droplet_id: id(v, "action.destroy_droplet.droplet_id", &p.droplet_id)?,
        }),
        A::ResizeDroplet(p) => {
            let droplet_id = id(v, "action.resize_droplet.droplet_id", &p.droplet_id);
            let size = slug(v, "action.resize_droplet.size", &p.size);
            Some(Action::ResizeDroplet {
                droplet_id: droplet_id?,
                size: size?,
            })
        }
        A::RebootDroplet(p) => Some(Action::RebootDroplet {
            droplet_id: id(v, "action.reboot_droplet.droplet_id", &p.droplet_id)?,
        }),
        A::PowerCycleDroplet(p) => Some(Action::PowerCycleDroplet {
            droplet_id: id(v, "action.power_cycle_droplet.droplet_id", &p.droplet_id)?,
        }),
        A::ScaleCluster(p) => {
            let n = count(
                v,
                "action.scale_cluster.target_count",
                p.target_count,
                0..=Action::MAX_SCALE,
            );
            let size = slug(v, "action.scale_cluster.size", &p.size);
            let image = slug(v, "action.scale_cluster.image", &p.image);
            if p.remove_droplet_ids.len() > Action::MAX_SCALE as usize {
                v.add(
                    "action.scale_cluster.remove_droplet_ids",
                    format!("at most {} ids", Action::MAX_SCALE),
                );
            }
            let remove: Vec<Option<Id>> = p
                .remove_droplet_ids
                .iter()
                .map(|d| id(v, "action.scale_cluster.remove_droplet_ids", d))
                .collect();
            Some(Action::ScaleCluster {
                target_count: n?,
                size: size?,
                image: image?,
                remove_droplet_ids: remove.into_iter().collect::<Option<Vec<_>>>()?,
            })
        }
    }
}

/// The stored form of an action.
pub fn encode_action(a: &Action) -> Vec<u8> {
    pb::JobAction::from(a).encode_to_vec()
}

/// An action read back from storage.
pub fn decode_action(bytes: &[u8]) -> Result<Action, String> {
    let raw = pb::JobAction::decode(bytes).map_err(|e| e.to_string())?;
    let mut v = Violations::new();
    let action = action(&mut v, Some(&raw));
    v.into_result()
        .map_err(|vs| format!("stored action is invalid: {vs:?}"))?;
    action.ok_or_else(|| "stored action is empty".into())
}

impl From<&Outcome> for pb::JobResult {
    fn from(o: &Outcome) -> Self {
        Self {
            created_droplet_ids: o.created_droplet_ids.clone(),
            destroyed_droplet_ids: o.destroyed_droplet_ids.clone(),
            affected_droplet_ids: o.affected_droplet_ids.clone(),
        }
    }
}

impl From<pb::JobResult> for Outcome {
    fn from(r: pb::JobResult) -> Self {
        Self {
            created_droplet_ids: r.created_droplet_ids,
            destroyed_droplet_ids: r.destroyed_droplet_ids,
            affected_droplet_ids: r.affected_droplet_ids,
        }
    }
}

pub fn encode_outcome(o: &Outcome) -> Vec<u8> {
    pb::JobResult::from(o).encode_to_vec()
}

pub fn decode_outcome(bytes: &[u8]) -> Result<Outcome, String> {
    pb::JobResult::decode(bytes)
        .map(Outcome::from)
        .map_err(|e| e.to_string())
}

impl From<Job> for pb::Job {
    fn from(j: Job) -> Self {
        Self {
            kind: pb::JobKind::from(j.kind()) as i32,
            action: Some(pb::JobAction::from(&j.action)),
            status: pb::JobStatus::from(j.status) as i32,
            progress: i32::try_from(j.progress).unwrap_or(100),
            attempts: i32::try_from(j.attempt).unwrap_or(i32::MAX),
            max_attempts: i32::try_from(j.max_attempts).unwrap_or(i32::MAX),
            result: Some(pb::JobResult::from(&j.outcome)),
            create_time: Some(timestamp(j.created_at)),
            start_time: opt_timestamp(j.started_at),
            finish_time: opt_timestamp(j.finished_at),
            update_time: Some(timestamp(j.updated_at)),
            next_attempt_time: None,
            source: pb::JobSource::from(j.source) as i32,
            request_id: j.request_id.unwrap_or_default(),
            id: j.id,
            cluster_id: j.cluster_id,
            message: j.message,
            error: j.error,
            cancel_requested: j.cancel_requested,
            trace_id: j.trace_id,
            requested_by: j.requested_by,
            origin_id: j.origin_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_survives_its_stored_form() {
        let id = Id::parse("0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b").unwrap();
        let slug = |s: &str| Slug::parse(s).unwrap();
        let actions = [
            Action::ProvisionDroplets {
                count: 2,
                size: slug("s-1vcpu-1gb"),
                image: slug("ubuntu-24-04-x64"),
                name_prefix: NamePrefix::parse_prefix("web").unwrap(),
            },
            Action::DestroyDroplet {
                droplet_id: id.clone(),
            },
            Action::ResizeDroplet {
                droplet_id: id.clone(),
                size: slug("s-2vcpu-4gb"),
            },
            Action::RebootDroplet {
                droplet_id: id.clone(),
            },
            Action::PowerCycleDroplet {
                droplet_id: id.clone(),
            },
            Action::ScaleCluster {
                target_count: 0,
                size: slug("c-2"),
                image: slug("ubuntu-24-04-x64"),
                remove_droplet_ids: vec![id],
            },
        ];
        for a in actions {
            assert_eq!(decode_action(&encode_action(&a)), Ok(a));
        }
    }

    #[test]
    fn a_missing_action_is_named() {
        let mut v = Violations::new();
        assert_eq!(action(&mut v, None), None);
        let fields: Vec<_> = v
            .into_result()
            .unwrap_err()
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["action"]);
    }

    #[test]
    fn every_bad_field_of_an_action_is_named_at_once() {
        let raw = pb::JobAction {
            action: Some(pb::job_action::Action::ProvisionDroplets(
                pb::ProvisionDroplets {
                    count: 0,
                    size: String::new(),
                    image: "ubuntu-24-04-x64".into(),
                    name_prefix: "Bad".into(),
                },
            )),
        };
        let mut v = Violations::new();
        assert_eq!(action(&mut v, Some(&raw)), None);
        let fields: Vec<_> = v
            .into_result()
            .unwrap_err()
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(
            fields,
            [
                "action.provision_droplets.count",
                "action.provision_droplets.size",
                "action.provision_droplets.name_prefix"
            ]
        );
    }

    #[test]
    fn scaling_to_more_than_a_hundred_droplets_is_rejected() {
        let raw = pb::JobAction {
            action: Some(pb::job_action::Action::ScaleCluster(pb::ScaleCluster {
                target_count: 101,
                size: "s-1vcpu-1gb".into(),
                image: "ubuntu-24-04-x64".into(),
                remove_droplet_ids: Vec::new(),
            })),
        };
        let mut v = Violations::new();
        assert_eq!(action(&mut v, Some(&raw)), None);
        assert!(!v.is_empty());
    }
}
