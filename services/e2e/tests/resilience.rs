//! The event runtime heals: a database outage mid-burst, a replica killed
//! with -9, replicas joining and leaving. Afterwards every job has ended,
//! each ran once, no droplet was made twice, nothing sits in a DLQ, and no
//! committed offset ever moved backwards.

use std::{
    collections::{HashMap, HashSet},
    process::{Child, Command, Stdio},
    time::Duration,
};

use cg_runtime::topic::topics;
use cg_testkit::{
    Backend, Broker, OffsetWatch, Proxy, Storage, Tap, TestDb, config_for, eventually, free_port,
};
use clustergenie_proto::{events::v1 as ev, jobs::v1 as jpb, provisioning::v1 as pb};
use e2e::{JobsClient, all_jobs, is_terminal};
use jobs::JobsService;
use provisioning::ProvisioningService;
use sqlx::Row as _;
use tonic::transport::Channel;

type Droplets = pb::droplet_service_client::DropletServiceClient<Channel>;
type Clusters = pb::cluster_service_client::ClusterServiceClient<Channel>;

/// A replica process, killed when the test ends however it ends.
struct Replica(Child);

impl Replica {
    fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A provisioning replica as its own process.
fn replica(addr: &str, db: &str, brokers: &str, boot: &str) -> Replica {
    Replica(
        Command::new(env!("CARGO_BIN_EXE_cg-service"))
            .env("CG_SERVICE", "provisioning")
            .env("CLUSTERGENIE_LISTEN_ADDR", addr)
            .env("CLUSTERGENIE_DATABASE__URL", db)
            .env("CLUSTERGENIE_KAFKA__BROKERS", brokers)
            .env("CLUSTERGENIE_KAFKA__PARTITIONS", "4")
            .env("CLUSTERGENIE_KAFKA__SESSION_TIMEOUT", "6s")
            .env("CLUSTERGENIE_EXECUTOR__LEASE", "3s")
            .env("CLUSTERGENIE_EXECUTOR__WORKERS", "8")
            .env("CLUSTERGENIE_EXECUTOR__QUEUE", "16")
            .env("CLUSTERGENIE_CLOUD__BOOT_DELAY", boot)
            .env("CLUSTERGENIE_CLOUD__ACTION_DURATION", "100ms")
            .env("CLUSTERGENIE_TELEMETRY__LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start a provisioning replica"),
    )
}

async fn healthy(addr: &str) {
    eventually(Duration::from_secs(30), "a replica to serve", || {
        cg_runtime::grpc::probe(addr.parse().unwrap())
    })
    .await;
}

fn terminate(replica: &mut Replica) {
    cg_testkit::signal(replica.id(), "-TERM");
    let _ = replica.0.wait();
}

fn kill_9(replica: &mut Replica) {
    replica.0.kill().unwrap();
    replica.0.wait().unwrap();
}

async fn clients(addr: &str) -> (Clusters, Droplets) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    (Clusters::new(channel.clone()), Droplets::new(channel))
}

async fn cluster(clusters: &mut Clusters, name: &str) -> String {
    clusters
        .create_cluster(pb::CreateClusterRequest {
            name: name.into(),
            region: "nyc1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap()
        .id
}

/// Creates `n` one-droplet jobs spread over `clusters`; returns their ids.
async fn burst(jobs: &mut JobsClient, clusters: &[String], n: usize, tag: &str) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let c = &clusters[i % clusters.len()];
        let job = jobs
            .create_job(cg_testkit::jobs::provision_one(c, &format!("{tag}{i}")))
            .await
            .unwrap()
            .into_inner()
            .job
            .unwrap();
        ids.push(job.id);
    }
    ids
}

async fn wait_all_ended(jobs: &mut JobsClient, ids: &[String], within: Duration) -> Vec<jpb::Job> {
    let wanted: HashSet<&String> = ids.iter().collect();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let all = all_jobs(jobs, |j| wanted.contains(&j.id)).await;
        let open = all.iter().filter(|j| !is_terminal(j)).count();
        if all.len() == ids.len() && open == 0 {
            return all;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{open} of {} jobs still queued or running",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Every droplet of `clusters` (archived too), by name: each name once.
async fn assert_no_droplet_twice(droplets: &mut Droplets, clusters: &[String], want: usize) {
    let names = e2e::droplet_names(droplets, clusters).await;
    let twice: Vec<_> = names.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "droplets made twice: {twice:?}");
    assert_eq!(names.len(), want, "one droplet per job");
}

/// How often each (job, attempt) was started, from what executors reported.
fn starts(tap: &Tap) -> HashMap<(String, i32), usize> {
    let mut starts = HashMap::new();
    let mut seen = HashSet::new();
    for e in tap.events() {
        // A relay may publish a row twice (at least once): count events.
        if !seen.insert(e.event_id().unwrap_or_default().to_string()) {
            continue;
        }
        let Ok(p) = topics::JOBS_PROGRESS.decode(&e) else {
            continue;
        };
        if p.status == ev::JobProgressStatus::Running as i32 && p.message == "started" {
            *starts.entry((p.job_id, p.attempt)).or_default() += 1;
        }
    }
    starts
}

async fn assert_dlqs_empty(kafka: &cg_runtime::kafka::KafkaConfig) {
    for topic in [topics::JOBS_REQUESTED.name, topics::JOBS_PROGRESS.name] {
        let dead = cg_runtime::dlq::list(kafka, topic, Duration::from_secs(2))
            .await
            .unwrap();
        assert!(dead.is_empty(), "{topic}.dlq holds {dead:?}");
    }
}

fn via(db: &TestDb, proxy: &Proxy) -> String {
    let port = format!(":{}/", proxy.addr.port());
    db.url.replacen(":3306/", &port, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_30s_database_outage_mid_burst_strands_no_job_and_makes_no_droplet_twice() {
    let broker = Broker::start(Storage::Memory);
    let proxy = Proxy::start("127.0.0.1:3306".parse().unwrap()).await;
    let prov_db = TestDb::new(Backend::MySql).await;
    let jobs_db = TestDb::new(Backend::MySql).await;

    let mut prov = config_for::<ProvisioningService>(Some(&prov_db), Some(&broker));
    prov.common.database = cg_runtime::config::DatabaseConfig::new(via(&prov_db, &proxy));
    prov.cloud = e2e::fast_cloud();
    prov.cloud.boot_delay = Duration::from_millis(800);
    prov.executor.lease = Duration::from_secs(3);
    let mut jobs_config = config_for::<JobsService>(Some(&jobs_db), Some(&broker));
    jobs_config.common.database = cg_runtime::config::DatabaseConfig::new(via(&jobs_db, &proxy));
    jobs_config.retry_base = Duration::from_millis(200);
    let kafka = jobs_config.common.kafka.clone().unwrap();

    let prov_server = cg_testkit::start::<ProvisioningService>(&prov).await;
    let jobs_server = cg_testkit::start::<JobsService>(&jobs_config).await;
    let (mut clusters, mut droplets) = clients(&prov_server.addr.to_string()).await;
    let mut jobs = JobsClient::new(cg_testkit::channel(&jobs_server.endpoint()).await);
    let mut ids = Vec::new();
    let mut cluster_ids = Vec::new();
    for c in 0..4 {
        cluster_ids.push(cluster(&mut clusters, &format!("outage-{c}")).await);
    }
    ids.extend(burst(&mut jobs, &cluster_ids, 50, "pre").await);

    // The database goes away mid-burst for 30 s.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(30)).await;
    proxy.heal();
    ids.extend(burst(&mut jobs, &cluster_ids, 50, "post").await);

    let ended = wait_all_ended(&mut jobs, &ids, Duration::from_secs(180)).await;
    let not_ok: Vec<_> = ended
        .iter()
        .filter(|j| j.status != jpb::JobStatus::Succeeded as i32)
        .map(|j| (j.id.clone(), j.status, j.error.clone()))
        .collect();
    assert!(not_ok.is_empty(), "jobs that did not succeed: {not_ok:?}");
    assert_no_droplet_twice(&mut droplets, &cluster_ids, ids.len()).await;
    assert_dlqs_empty(&kafka).await;
    jobs_server.stop().await.unwrap();
    prov_server.stop().await.unwrap();
}

/// Rows of the executions table: (job, attempt) → (status, owner).
async fn executions(pool: &sqlx::AnyPool) -> HashMap<(String, i64), (String, String)> {
    sqlx::query("SELECT job_id, attempt, status, owner FROM executions")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.get::<String, _>(0), r.get::<i64, _>(1)),
                (
                    r.get::<String, _>(2),
                    r.get::<Option<String>, _>(3).unwrap_or_default(),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_burst_is_taken_over_and_a_restart_starts_nothing_twice() {
    let broker = Broker::start(Storage::Memory);
    let prov_db = TestDb::new(Backend::MySql).await;
    let jobs_db = TestDb::new(Backend::MySql).await;
    let (addr_a, addr_b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut a = replica(&addr_a, &prov_db.url, &broker.bootstrap(), "1500ms");
    healthy(&addr_a).await;
    let mut b = replica(&addr_b, &prov_db.url, &broker.bootstrap(), "1500ms");
    healthy(&addr_b).await;
    // The replicas created the database.
    let pool = prov_db.pool().await;
    let jobs_server =
        cg_testkit::start::<JobsService>(&config_for::<JobsService>(Some(&jobs_db), Some(&broker)))
            .await;
    let kafka = broker.kafka();
    let tap = Tap::start(&kafka, &[topics::JOBS_PROGRESS.name]);
    let mut jobs = JobsClient::new(cg_testkit::channel(&jobs_server.endpoint()).await);
    let (mut clusters, mut droplets) = clients(&addr_b).await;
    let mut cluster_ids = Vec::new();
    for c in 0..6 {
        cluster_ids.push(cluster(&mut clusters, &format!("kill-{c}")).await);
    }

    // Phase 1: a burst over both replicas; A dies with work in hand.
    let first = burst(&mut jobs, &cluster_ids, 40, "k").await;
    let a_prefix = format!("pid{}-", a.id());
    let b_prefix = format!("pid{}-", b.id());
    let in_hand = eventually(
        Duration::from_secs(30),
        "A to hold running attempts",
        || {
            let pool = pool.clone();
            let a_prefix = a_prefix.clone();
            async move {
                let held: Vec<(String, i64)> = executions(&pool)
                    .await
                    .into_iter()
                    .filter(|(_, (status, owner))| status != "done" && owner.starts_with(&a_prefix))
                    .map(|(k, _)| k)
                    .collect();
                if held.is_empty() {
                    Err("none yet")
                } else {
                    Ok(held)
                }
            }
        },
    )
    .await;
    kill_9(&mut a);
    let ended = wait_all_ended(&mut jobs, &first, Duration::from_secs(120)).await;
    assert!(
        ended
            .iter()
            .all(|j| j.status == jpb::JobStatus::Succeeded as i32 && j.attempts == 1),
        "every job finished once, on its first attempt: {ended:?}"
    );
    let rows = executions(&pool).await;
    for key in &in_hand {
        let (status, owner) = &rows[key];
        assert_eq!(status, "done");
        assert!(
            owner.starts_with(&b_prefix),
            "{key:?} was taken over by the survivor, not {owner}"
        );
    }
    assert_no_droplet_twice(&mut droplets, &cluster_ids, first.len()).await;

    // Phase 2: B runs a burst alone; A comes back while it runs. A takes
    // over nothing B holds: no attempt starts twice.
    let second = burst(&mut jobs, &cluster_ids, 30, "r").await;
    eventually(
        Duration::from_secs(30),
        "B running the second burst",
        || {
            let pool = pool.clone();
            async move {
                let running = executions(&pool)
                    .await
                    .values()
                    .filter(|(status, _)| status == "running")
                    .count();
                if running > 0 {
                    Ok(())
                } else {
                    Err("none running")
                }
            }
        },
    )
    .await;
    let mut a = replica(&addr_a, &prov_db.url, &broker.bootstrap(), "1500ms");
    healthy(&addr_a).await;
    let ended = wait_all_ended(&mut jobs, &second, Duration::from_secs(120)).await;
    assert!(
        ended
            .iter()
            .all(|j| j.status == jpb::JobStatus::Succeeded as i32 && j.attempts == 1),
        "{ended:?}"
    );
    let started = starts(&tap);
    for id in &second {
        assert_eq!(
            started.get(&(id.clone(), 1)),
            Some(&1),
            "job {id} started once"
        );
    }
    assert_no_droplet_twice(&mut droplets, &cluster_ids, first.len() + second.len()).await;
    assert_dlqs_empty(&kafka).await;
    terminate(&mut a);
    terminate(&mut b);
    jobs_server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_joining_and_leaving_a_300_job_burst_run_each_job_once_and_never_commit_backwards()
{
    let broker = Broker::start(Storage::Memory);
    let prov_db = TestDb::new(Backend::MySql).await;
    let jobs_db = TestDb::new(Backend::MySql).await;
    let (addr_a, addr_b) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let mut a = replica(&addr_a, &prov_db.url, &broker.bootstrap(), "200ms");
    healthy(&addr_a).await;
    let jobs_server =
        cg_testkit::start::<JobsService>(&config_for::<JobsService>(Some(&jobs_db), Some(&broker)))
            .await;
    let kafka = broker.kafka();
    let tap = Tap::start(&kafka, &[topics::JOBS_PROGRESS.name]);
    let mut jobs = JobsClient::new(cg_testkit::channel(&jobs_server.endpoint()).await);
    let (mut clusters, _) = clients(&addr_a).await;
    let mut cluster_ids = Vec::new();
    for c in 0..8 {
        cluster_ids.push(cluster(&mut clusters, &format!("churn-{c}")).await);
    }

    // The group's committed offsets, sampled throughout: none may go down.
    let watch = OffsetWatch::start(&kafka, "provisioning", topics::JOBS_REQUESTED.name);

    let mut ids = burst(&mut jobs, &cluster_ids, 100, "j").await;
    // B joins mid-burst…
    let mut b = replica(&addr_b, &prov_db.url, &broker.bootstrap(), "200ms");
    healthy(&addr_b).await;
    ids.extend(burst(&mut jobs, &cluster_ids, 100, "k").await);
    // …and A leaves while records still flow.
    terminate(&mut a);
    ids.extend(burst(&mut jobs, &cluster_ids, 100, "l").await);

    let ended = wait_all_ended(&mut jobs, &ids, Duration::from_secs(240)).await;
    let (_, mut droplets) = clients(&addr_b).await;
    assert!(
        ended
            .iter()
            .all(|j| j.status == jpb::JobStatus::Succeeded as i32 && j.attempts == 1),
        "every job succeeded on its first attempt"
    );
    let started = starts(&tap);
    let twice: Vec<_> = ids
        .iter()
        .map(|id| (id, started.get(&(id.clone(), 1)).copied().unwrap_or(0)))
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(twice.is_empty(), "jobs not started exactly once: {twice:?}");
    assert_no_droplet_twice(&mut droplets, &cluster_ids, ids.len()).await;
    assert!(
        watch.finish().await > 20,
        "the offsets were sampled throughout"
    );
    assert_dlqs_empty(&kafka).await;
    terminate(&mut b);
    jobs_server.stop().await.unwrap();
}
