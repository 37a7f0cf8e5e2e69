//! The fleet's load stream and fault injection, through gRPC, MariaDB and a
//! real tansu broker: samples on `cg.metrics.samples`, lifecycle events on
//! `cg.droplets.events`, and faults changing both.

mod common;

use std::time::Duration;

use cg_runtime::{
    kafka::{Event, KafkaConfig},
    time::now_millis,
    topic::topics,
};
use cg_testkit::provisioning::Clients;
use cg_testkit::{Backend, Broker, Storage, Tap, TestDb};
use clustergenie_proto::{events::v1 as ev, provisioning::v1 as pb};
use common::{Server, config, fast_cloud};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

type Faults = pb::fault_service_client::FaultServiceClient<Channel>;

const TICK: Duration = Duration::from_millis(200);

fn samples(events: &[Event]) -> Vec<ev::MetricSample> {
    events
        .iter()
        .filter(|e| e.topic == topics::METRICS_SAMPLES.name)
        .flat_map(|e| {
            let batch = topics::METRICS_SAMPLES
                .decode(e)
                .expect("a MetricSamples batch");
            // Every sample in a batch belongs to the record key's cluster.
            for s in &batch.samples {
                assert_eq!(e.key.as_deref(), Some(s.cluster_id.as_str()));
            }
            batch.samples
        })
        .collect()
}

fn droplet_events(events: &[Event], droplet_id: &str) -> Vec<ev::DropletEvent> {
    events
        .iter()
        .filter(|e| e.topic == topics::DROPLETS_EVENTS.name)
        .map(|e| {
            let event = topics::DROPLETS_EVENTS.decode(e).expect("a DropletEvent");
            assert_eq!(
                e.key.as_deref(),
                event.droplet.as_ref().map(|d| d.cluster_id.as_str())
            );
            assert!(e.event_id().is_some(), "every event carries its id");
            event
        })
        .filter(|e| e.droplet.as_ref().is_some_and(|d| d.id == droplet_id))
        .collect()
}

fn millis(t: &Option<prost_types::Timestamp>) -> i64 {
    let t = t.as_ref().unwrap();
    t.seconds * 1000 + i64::from(t.nanos / 1_000_000)
}

/// Samples of `droplet` taken at or after `since`.
fn after(all: &[ev::MetricSample], droplet: &str, since: i64) -> Vec<ev::MetricSample> {
    all.iter()
        .filter(|s| s.droplet_id == droplet && millis(&s.time) >= since)
        .cloned()
        .collect()
}

async fn inject(
    faults: &mut Faults,
    droplet_id: &str,
    kind: pb::FaultKind,
    duration: Duration,
) -> pb::Fault {
    faults
        .inject_fault(pb::InjectFaultRequest {
            droplet_id: droplet_id.into(),
            kind: kind as i32,
            duration: Some(duration.try_into().unwrap()),
            request_id: String::new(),
        })
        .await
        .expect("inject fault")
        .into_inner()
        .fault
        .unwrap()
}

struct Fleet {
    server: Server,
    _db: TestDb,
    tap: Tap,
    _broker: Broker,
}

async fn start() -> Fleet {
    let broker = Broker::start(Storage::Memory);
    let kafka = KafkaConfig {
        brokers: broker.bootstrap(),
        partitions: 2,
        ..KafkaConfig::default()
    };
    let db = TestDb::new(Backend::MySql).await;
    let mut cfg = config(&db, fast_cloud());
    cfg.common.kafka = Some(kafka.clone());
    cfg.fleet.sample_interval = TICK;
    let server = common::start(&cfg).await;
    // The service created the topics; the tap reads them from the start.
    let tap = Tap::start(
        &kafka,
        &[topics::METRICS_SAMPLES.name, topics::DROPLETS_EVENTS.name],
    );
    Fleet {
        server,
        _db: db,
        tap,
        _broker: broker,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_droplets_report_their_load_and_faults_change_it() {
    let f = start().await;
    let mut c = Clients::connect(f.server.endpoint()).await;
    let mut faults = Faults::new(cg_testkit::channel(&f.server.endpoint()).await);
    let cluster = c.cluster("web", "nyc1").await;
    // Big droplets: the cluster's demand (at most 2.2 vCPUs) keeps them
    // well below a spike's CPU at any hour, so the spike is unmistakable.
    let big = |name: &str| pb::CreateDropletRequest {
        size: "s-4vcpu-8gb".into(),
        ..Clients::droplet_request(&cluster.id, name)
    };
    let a = c
        .droplets
        .create_droplet(big("a"))
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    let b = c
        .droplets
        .create_droplet(big("b"))
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    c.wait_droplet(&a.id, pb::DropletStatus::Active).await;
    c.wait_droplet(&b.id, pb::DropletStatus::Active).await;

    let seen = f
        .tap
        .wait(Duration::from_secs(15), "samples from both droplets", |e| {
            let s = samples(e);
            s.iter().any(|s| s.droplet_id == a.id) && s.iter().any(|s| s.droplet_id == b.id)
        })
        .await;
    for s in samples(&seen) {
        assert_eq!(s.cluster_id, cluster.id);
        for v in [s.cpu_percent, s.memory_percent, s.disk_percent] {
            assert!((0.0..=100.0).contains(&v), "{s:?}");
        }
        assert!(s.network_in_mbps >= 0.0 && s.load_1m >= 0.0, "{s:?}");
    }

    // A CPU spike pins a's CPU; b is unaffected.
    let spike = inject(
        &mut faults,
        &a.id,
        pb::FaultKind::CpuSpike,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(spike.cluster_id, cluster.id);
    let since = now_millis() + 1;
    let seen = f
        .tap
        .wait(Duration::from_secs(10), "samples after the spike", |e| {
            let s = samples(e);
            after(&s, &a.id, since).len() >= 2 && !after(&s, &b.id, since).is_empty()
        })
        .await;
    let all = samples(&seen);
    assert!(
        after(&all, &a.id, since)
            .iter()
            .all(|s| s.cpu_percent >= 94.0)
    );
    // Network loss collapses b's throughput.
    let before_loss = after(&all, &b.id, since).last().unwrap().network_in_mbps;
    inject(
        &mut faults,
        &b.id,
        pb::FaultKind::NetworkLoss,
        Duration::from_secs(60),
    )
    .await;
    let since = now_millis() + 1;
    let seen = f
        .tap
        .wait(Duration::from_secs(10), "samples after the loss", |e| {
            !after(&samples(e), &b.id, since).is_empty()
        })
        .await;
    let lossy = after(&samples(&seen), &b.id, since)[0].network_in_mbps;
    assert!(
        lossy < before_loss * 0.2,
        "lossy {lossy} vs {before_loss} before"
    );

    // Clearing the spike brings a's CPU back down.
    let cleared = faults
        .clear_fault(pb::ClearFaultRequest {
            id: spike.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .fault
        .unwrap();
    assert!(millis(&cleared.end_time) <= now_millis());
    let since = now_millis() + 1;
    let seen = f
        .tap
        .wait(Duration::from_secs(10), "samples after clearing", |e| {
            after(&samples(e), &a.id, since).len() >= 2
        })
        .await;
    assert!(
        after(&samples(&seen), &a.id, since)
            .iter()
            .all(|s| s.cpu_percent < 94.0)
    );

    // A crash turns a off and silences it until the fault ends by itself.
    let crash = inject(
        &mut faults,
        &a.id,
        pb::FaultKind::Crash,
        Duration::from_secs(2),
    )
    .await;
    let crashed_at = millis(&crash.start_time);
    let down = c
        .droplets
        .get_droplet(pb::GetDropletRequest { id: a.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    assert_eq!(down.status(), pb::DropletStatus::Off);
    c.wait_droplet(&a.id, pb::DropletStatus::Active).await;
    let back = now_millis() + 1;
    let seen = f
        .tap
        .wait(Duration::from_secs(10), "a reporting again", |e| {
            !after(&samples(e), &a.id, back).is_empty()
        })
        .await;
    let all = samples(&seen);
    let silent: Vec<_> = after(&all, &a.id, crashed_at + TICK.as_millis() as i64)
        .into_iter()
        .filter(|s| millis(&s.time) < millis(&crash.end_time))
        .collect();
    assert!(
        silent.is_empty(),
        "a crashed droplet reports nothing: {silent:?}"
    );
    assert!(
        after(&all, &b.id, crashed_at).len() >= 5,
        "b kept reporting while a was down"
    );

    // Every step of a's life was announced, in order.
    use ev::DropletEventKind as K;
    let seen = f
        .tap
        .wait(Duration::from_secs(10), "a's lifecycle events", |e| {
            droplet_events(e, &a.id).len() >= 6
        })
        .await;
    let kinds: Vec<(K, Option<pb::FaultKind>)> = droplet_events(&seen, &a.id)
        .iter()
        .map(|e| (e.kind(), e.fault.as_ref().map(pb::Fault::kind)))
        .collect();
    assert_eq!(
        kinds,
        [
            (K::Created, None),
            (K::Active, None),
            (K::FaultStarted, Some(pb::FaultKind::CpuSpike)),
            (K::FaultEnded, Some(pb::FaultKind::CpuSpike)),
            (K::FaultStarted, Some(pb::FaultKind::Crash)),
            (K::FaultEnded, Some(pb::FaultKind::Crash)),
        ]
    );
    let ended = droplet_events(&seen, &a.id).pop().unwrap();
    assert_eq!(
        ended.droplet.unwrap().status(),
        pb::DropletStatus::Active,
        "the droplet is back up when its crash ends"
    );
    f.server.stop().await.expect("stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_requests_are_validated_idempotent_and_listed() {
    let f = start().await;
    let mut c = Clients::connect(f.server.endpoint()).await;
    let mut faults = Faults::new(cg_testkit::channel(&f.server.endpoint()).await);
    let cluster = c.cluster("db", "ams3").await;
    let d = c.droplet(&cluster.id, "primary").await;

    let bad = faults
        .inject_fault(pb::InjectFaultRequest {
            droplet_id: "nope".into(),
            kind: 0,
            duration: Some(Duration::from_millis(500).try_into().unwrap()),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let mut fields: Vec<String> = bad
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default();
    fields.sort();
    assert_eq!(fields, ["droplet_id", "duration", "kind"]);
    let missing = faults
        .inject_fault(pb::InjectFaultRequest {
            droplet_id: cg_runtime::new_id(),
            kind: pb::FaultKind::CpuSpike as i32,
            duration: Some(Duration::from_secs(5).try_into().unwrap()),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Still booting: it cannot crash yet.
    let booting = faults
        .inject_fault(pb::InjectFaultRequest {
            droplet_id: d.id.clone(),
            kind: pb::FaultKind::Crash as i32,
            duration: Some(Duration::from_secs(5).try_into().unwrap()),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(booting.code(), Code::FailedPrecondition);

    let leak = pb::InjectFaultRequest {
        droplet_id: d.id.clone(),
        kind: pb::FaultKind::MemoryLeak as i32,
        duration: Some(Duration::from_secs(600).try_into().unwrap()),
        request_id: "leak-1".into(),
    };
    let first = faults
        .inject_fault(leak.clone())
        .await
        .unwrap()
        .into_inner();
    let replay = faults
        .inject_fault(leak.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        first.fault, replay.fault,
        "a replayed request_id answers the same fault"
    );
    let other_body = faults
        .inject_fault(pb::InjectFaultRequest {
            kind: pb::FaultKind::DiskFilling as i32,
            ..leak.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(other_body.code(), Code::AlreadyExists);
    let twice = faults
        .inject_fault(pb::InjectFaultRequest {
            request_id: String::new(),
            ..leak
        })
        .await
        .unwrap_err();
    assert_eq!(
        twice.code(),
        Code::AlreadyExists,
        "one open leak per droplet"
    );

    let disk = inject(
        &mut faults,
        &d.id,
        pb::FaultKind::DiskFilling,
        Duration::from_secs(600),
    )
    .await;
    let list = |include_ended: bool| pb::ListFaultsRequest {
        cluster_id: cluster.id.clone(),
        include_ended,
        page_size: 1,
        ..Default::default()
    };
    let page = faults.list_faults(list(false)).await.unwrap().into_inner();
    assert_eq!(page.faults.len(), 1);
    assert!(!page.next_page_token.is_empty());
    let rest = faults
        .list_faults(pb::ListFaultsRequest {
            page_token: page.next_page_token.clone(),
            ..list(false)
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<String> = page
        .faults
        .iter()
        .chain(&rest.faults)
        .map(|f| f.id.clone())
        .collect();
    assert_eq!(
        ids,
        [first.fault.as_ref().unwrap().id.clone(), disk.id.clone()]
    );
    let changed_filter = faults
        .list_faults(pb::ListFaultsRequest {
            page_token: page.next_page_token,
            ..list(true)
        })
        .await
        .unwrap_err();
    assert_eq!(changed_filter.code(), Code::InvalidArgument);

    faults
        .clear_fault(pb::ClearFaultRequest {
            id: disk.id.clone(),
        })
        .await
        .unwrap();
    let open = faults
        .list_faults(pb::ListFaultsRequest {
            page_size: 10,
            ..list(false)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(open.faults.len(), 1);
    let all = faults
        .list_faults(pb::ListFaultsRequest {
            page_size: 10,
            ..list(true)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.faults.len(), 2);
    let unknown = faults
        .clear_fault(pb::ClearFaultRequest {
            id: cg_runtime::new_id(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    f.server.stop().await.expect("stops cleanly");
}
