//! What provisioning announces: droplet lifecycle events (through the outbox,
//! in the transaction that makes the change) and the fleet's load samples.

use cg_runtime::{
    activity::{Activity, Severity},
    time::timestamp,
};
use clustergenie_proto::{events::v1 as ev, provisioning::v1 as pb};

pub use ev::DropletEventKind as Kind;

use crate::domain::{Action, Droplet, DropletStatus, Fault};

/// The `DropletEvent` announcing a change.
pub fn droplet_event(
    kind: Kind,
    droplet: Droplet,
    action: Option<Action>,
    fault: Option<Fault>,
    now: i64,
) -> ev::DropletEvent {
    ev::DropletEvent {
        kind: kind as i32,
        droplet: Some(pb::Droplet::from(droplet)),
        action: action.map(pb::DropletAction::from),
        fault: fault.map(pb::Fault::from),
        time: Some(timestamp(now)),
    }
}

/// The activity-log entry a droplet event makes, for the kinds an
/// operator follows (creation, destruction, finished actions, faults).
pub fn activity(
    kind: Kind,
    droplet: &Droplet,
    action: Option<&Action>,
    fault: Option<&Fault>,
    now: i64,
) -> Option<Activity> {
    let name = &droplet.name;
    let (what, severity, message) = match kind {
        Kind::Created => (
            "droplet.created",
            Severity::Info,
            format!(
                "droplet {name} created ({}, {})",
                droplet.size, droplet.region
            ),
        ),
        Kind::Destroyed => (
            "droplet.destroyed",
            Severity::Info,
            format!("droplet {name} destroyed"),
        ),
        Kind::ActionCompleted => {
            let a = action?;
            (
                "action.completed",
                Severity::Info,
                format!("{} of droplet {name} completed", a.kind.as_str()),
            )
        }
        Kind::ActionErrored => {
            let a = action?;
            (
                "action.errored",
                Severity::Error,
                format!("{} of droplet {name} errored: {}", a.kind.as_str(), a.error),
            )
        }
        Kind::FaultStarted => (
            "fault.injected",
            Severity::Warning,
            format!("{} injected into droplet {name}", fault?.kind.as_str()),
        ),
        Kind::FaultEnded => (
            "fault.cleared",
            Severity::Info,
            format!("{} on droplet {name} cleared", fault?.kind.as_str()),
        ),
        _ => return None,
    };
    let mut entry = Activity::new("provisioning", what, severity, message, now)
        .cluster(&droplet.cluster_id)
        .droplet(&droplet.id);
    if let Some(a) = action {
        entry = entry.attribute("action", a.kind.as_str());
        if !a.param.is_empty() {
            entry = entry.attribute("param", a.param.clone());
        }
    }
    if let Some(f) = fault {
        // Diagnosis counts crashes by it.
        entry = entry.attribute("fault", f.kind.as_str());
    }
    if kind == Kind::Created {
        entry = entry
            .attribute("size", droplet.size.clone())
            .attribute("region", droplet.region.clone());
    }
    Some(entry)
}

/// The event a status change announces, if it is one.
pub fn status_change(before: DropletStatus, after: DropletStatus) -> Option<Kind> {
    match (before, after) {
        (a, b) if a == b => None,
        (DropletStatus::New, DropletStatus::Active) => Some(Kind::Active),
        (_, DropletStatus::Off) => Some(Kind::PoweredOff),
        (_, DropletStatus::Active) => Some(Kind::PoweredOn),
        (_, DropletStatus::Archive) => Some(Kind::Destroyed),
        (_, DropletStatus::New) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reboot_that_leaves_the_droplet_active_announces_no_status_change() {
        assert_eq!(
            status_change(DropletStatus::Active, DropletStatus::Active),
            None
        );
    }

    #[test]
    fn booting_is_announced_as_active_and_powering_on_as_powered_on() {
        assert_eq!(
            status_change(DropletStatus::New, DropletStatus::Active),
            Some(Kind::Active)
        );
        assert_eq!(
            status_change(DropletStatus::Off, DropletStatus::Active),
            Some(Kind::PoweredOn)
        );
    }
}
