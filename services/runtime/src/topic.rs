//! Typed topics: a topic knows the messages it carries, so a producer
//! cannot put the wrong message on it, a consumer decodes what it gets in
//! one call, and the `ce-type` header is each message's protobuf full name
//! (prost's `Name`), never a hand-typed string.

use std::marker::PhantomData;

use clustergenie_proto::events::v1 as ev;
use prost::{Message, Name};

use crate::kafka::{Event, Failure};

/// A message that travels on a topic.
pub trait EventMessage: Sized + Send + 'static {
    /// Its `ce-type` header.
    fn event_type(&self) -> String;
    fn encode(&self) -> Vec<u8>;
    /// Decodes a payload of type `event_type`; any other type, or bytes
    /// that are not one, fail permanently (they never will decode).
    fn decode(event_type: Option<&str>, payload: &[u8]) -> Result<Self, Failure>;
}

impl<M: Name + Message + Default + 'static> EventMessage for M {
    fn event_type(&self) -> String {
        M::full_name()
    }

    fn encode(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    fn decode(event_type: Option<&str>, payload: &[u8]) -> Result<Self, Failure> {
        let expected = M::full_name();
        if event_type != Some(expected.as_str()) {
            return Err(Failure::Permanent(format!(
                "expected event type {expected}, got {event_type:?}"
            )));
        }
        M::decode(payload).map_err(|e| Failure::Permanent(format!("cannot decode {expected}: {e}")))
    }
}

/// A topic and the messages on it.
#[derive(Debug)]
pub struct Topic<M> {
    pub name: &'static str,
    message: PhantomData<fn() -> M>,
}

impl<M> Clone for Topic<M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Topic<M> {}

impl<M: EventMessage> Topic<M> {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            message: PhantomData,
        }
    }

    /// The message a record of this topic carries.
    pub fn decode(&self, event: &Event) -> Result<M, Failure> {
        M::decode(event.event_type(), &event.payload)
    }

    /// `message`, keyed by `key` (the cluster id), ready for the outbox.
    pub fn event(&self, key: &str, message: &M) -> crate::outbox::NewEvent {
        crate::outbox::NewEvent {
            id: None,
            topic: self.name,
            key: key.to_string(),
            event_type: message.event_type(),
            payload: message.encode(),
        }
    }
}

/// `cg.jobs.requested` carries two messages: a job attempt to run, and a
/// request to cancel one.
#[derive(Debug, Clone, PartialEq)]
pub enum JobRequest {
    Run(ev::JobRequested),
    Cancel(ev::JobCancelRequested),
}

impl EventMessage for JobRequest {
    fn event_type(&self) -> String {
        match self {
            Self::Run(m) => m.event_type(),
            Self::Cancel(m) => m.event_type(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Self::Run(m) => m.encode_to_vec(),
            Self::Cancel(m) => m.encode_to_vec(),
        }
    }

    fn decode(event_type: Option<&str>, payload: &[u8]) -> Result<Self, Failure> {
        if event_type == Some(ev::JobCancelRequested::full_name().as_str()) {
            EventMessage::decode(event_type, payload).map(Self::Cancel)
        } else {
            EventMessage::decode(event_type, payload).map(Self::Run)
        }
    }
}

/// The mesh's topics (see `proto/clustergenie/events/v1/events.proto`).
pub mod topics {
    use super::{JobRequest, Topic, ev};

    pub const JOBS_REQUESTED: Topic<JobRequest> = Topic::new("cg.jobs.requested");
    pub const JOBS_PROGRESS: Topic<ev::JobProgress> = Topic::new("cg.jobs.progress");
    pub const DROPLETS_EVENTS: Topic<ev::DropletEvent> = Topic::new("cg.droplets.events");
    pub const METRICS_SAMPLES: Topic<ev::MetricSamples> = Topic::new("cg.metrics.samples");
    pub const HEALTH_RESULTS: Topic<ev::HealthResult> = Topic::new("cg.health.results");
    pub const ACTIVITY: Topic<ev::Activity> = Topic::new("cg.activity");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, payload: Vec<u8>) -> Event {
        Event {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            key: None,
            headers: vec![(
                crate::kafka::HEADER_EVENT_TYPE.into(),
                event_type.as_bytes().to_vec(),
            )],
            payload,
        }
    }

    #[test]
    fn the_event_type_is_the_messages_full_name() {
        let m = ev::JobProgress::default();
        assert_eq!(m.event_type(), "clustergenie.events.v1.JobProgress");
    }

    #[test]
    fn a_job_request_topic_decodes_both_of_its_messages() {
        let cancel = ev::JobCancelRequested {
            job_id: "j".into(),
            ..Default::default()
        };
        let e = event(
            "clustergenie.events.v1.JobCancelRequested",
            cancel.encode_to_vec(),
        );
        assert_eq!(
            topics::JOBS_REQUESTED.decode(&e).unwrap(),
            JobRequest::Cancel(cancel)
        );
        let run = topics::JOBS_REQUESTED.event("k", &JobRequest::Run(ev::JobRequested::default()));
        assert_eq!(run.event_type, "clustergenie.events.v1.JobRequested");
    }

    #[test]
    fn a_record_of_another_type_fails_permanently() {
        let e = event("clustergenie.events.v1.DropletEvent", vec![]);
        assert!(matches!(
            topics::JOBS_PROGRESS.decode(&e),
            Err(Failure::Permanent(_))
        ));
    }

    #[test]
    fn garbage_fails_permanently() {
        let e = event("clustergenie.events.v1.JobProgress", vec![0xff, 0xff, 0xff]);
        assert!(matches!(
            topics::JOBS_PROGRESS.decode(&e),
            Err(Failure::Permanent(_))
        ));
    }
}
