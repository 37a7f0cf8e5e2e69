//! The event chain end to end on MariaDB and a real Kafka-protocol broker
//! (tansu): jobs.CreateJob → outbox → cg.jobs.requested → provisioning's
//! worker pool → droplets → cg.jobs.progress → jobs' state machine → WatchJob.

use std::time::Duration;

use cg_runtime::{
    kafka::{self, Outgoing, Producer},
    topic::topics,
};
use cg_testkit::{Storage, check, eventually, provisioning::Clients};
use clustergenie_proto::{jobs::v1 as jpb, provisioning::v1 as pb};
use e2e::{Flow, FlowOptions, all_jobs, channel, fast_cloud, is_terminal, wait_job};
use provisioning::ProvisioningService;

/// Watches a job to its end; returns the (status, progress) seen.
async fn run_to_end(
    client: &mut jpb::job_service_client::JobServiceClient<tonic::transport::Channel>,
    req: jpb::CreateJobRequest,
) -> Vec<(i32, i32)> {
    let job = client
        .create_job(req)
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    let mut stream = client
        .watch_job(jpb::WatchJobRequest { id: job.id })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(update) = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("the job ends within 30 s")
        .unwrap()
    {
        let j = update.job.unwrap();
        seen.push((j.status, j.progress));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_job_flows_through_kafka_to_the_executor_and_back() {
    let flow = Flow::start(fast_cloud()).await;
    let kafka = flow.kafka.clone();
    let mut jobs_client = flow.jobs().await;
    let mut c = flow.clients().await;
    let cluster = c.cluster("scaled", "nyc1").await;

    let up = run_to_end(
        &mut jobs_client,
        cg_testkit::jobs::scale_cluster(&cluster.id, 3),
    )
    .await;
    assert_eq!(
        up.first().map(|s| s.0),
        Some(jpb::JobStatus::Queued as i32),
        "{up:?}"
    );
    assert_eq!(
        up.last(),
        Some(&(jpb::JobStatus::Succeeded as i32, 100)),
        "{up:?}"
    );
    let progress: Vec<i32> = up.iter().map(|s| s.1).collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only rises: {up:?}"
    );
    let live = |c: &mut Clients| {
        let mut droplets = c.droplets.clone();
        let cluster_id = cluster.id.clone();
        async move {
            droplets
                .list_droplets(pb::ListDropletsRequest {
                    cluster_id,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .droplets
        }
    };
    let droplets = live(&mut c).await;
    assert_eq!(droplets.len(), 3);
    assert!(
        droplets
            .iter()
            .all(|d| d.status == pb::DropletStatus::Active as i32)
    );

    let down = run_to_end(
        &mut jobs_client,
        cg_testkit::jobs::scale_cluster(&cluster.id, 1),
    )
    .await;
    assert_eq!(
        down.last(),
        Some(&(jpb::JobStatus::Succeeded as i32, 100)),
        "{down:?}"
    );
    let left = live(&mut c).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, droplets[0].id, "the newest droplets go first");

    let mut stats =
        pb::executor_service_client::ExecutorServiceClient::new(flow.prov_channel().await);
    let s = stats
        .get_executor_stats(pb::GetExecutorStatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.workers, 4);
    let scale_stats = s
        .latencies
        .iter()
        .find(|l| l.kind == "JOB_KIND_SCALE_CLUSTER")
        .expect("scale latency recorded");
    assert_eq!(scale_stats.completed, 2);

    // Garbage on the request topic is dead-lettered; the executor goes on.
    Producer::new(&kafka)
        .unwrap()
        .send(Outgoing {
            topic: topics::JOBS_REQUESTED.name,
            key: &cluster.id,
            event_id: "garbage",
            event_type: "clustergenie.events.v1.JobRequested",
            payload: b"\xff\x00 definitely not protobuf",
            traceparent: None,
        })
        .await
        .unwrap();
    let again = run_to_end(
        &mut jobs_client,
        cg_testkit::jobs::scale_cluster(&cluster.id, 2),
    )
    .await;
    assert_eq!(
        again.last(),
        Some(&(jpb::JobStatus::Succeeded as i32, 100)),
        "{again:?}"
    );
    let tap = cg_testkit::Tap::start(&kafka, &[&kafka::dlq(topics::JOBS_REQUESTED.name)]);
    let dead = tap
        .wait(Duration::from_secs(10), "the dead letter", |e| {
            !e.is_empty()
        })
        .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id(), Some("garbage"));

    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_resize_leaves_the_droplet_unlocked_and_consistent() {
    let cloud = provisioning::cloud::CloudConfig {
        // A resize takes 3 × this: long enough to cancel mid-way.
        action_duration: Duration::from_millis(400),
        ..fast_cloud()
    };
    let flow = Flow::start(cloud).await;
    let mut jobs_client = flow.jobs().await;
    let mut c = flow.clients().await;
    let cluster = c.cluster("resizing", "ams3").await;
    let d = c.droplet(&cluster.id, "big").await;
    c.wait_droplet(&d.id, pb::DropletStatus::Active).await;

    let created = jobs_client
        .create_job(cg_testkit::jobs::request(
            &cluster.id,
            jpb::job_action::Action::ResizeDroplet(jpb::ResizeDroplet {
                droplet_id: d.id.clone(),
                size: "s-2vcpu-4gb".into(),
            }),
        ))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    wait_job(
        &mut jobs_client,
        &created.id,
        Duration::from_secs(4),
        "the resize never started",
        |j| j.status == jpb::JobStatus::Running as i32,
    )
    .await;
    jobs_client
        .cancel_job(jpb::CancelJobRequest {
            id: created.id.clone(),
        })
        .await
        .unwrap();
    let end = wait_job(
        &mut jobs_client,
        &created.id,
        Duration::from_secs(6),
        "the job never ended",
        |j| j.status != jpb::JobStatus::Running as i32,
    )
    .await;
    assert_eq!(end.status, jpb::JobStatus::Cancelled as i32, "{end:?}");
    // The action in flight was let finish: unlocked, on one size or the other.
    let after = c.wait_droplet(&d.id, pb::DropletStatus::Active).await;
    assert!(!after.locked);
    assert!(["s-1vcpu-1gb", "s-2vcpu-4gb"].contains(&after.size.as_str()));
    let actions = c
        .actions
        .list_droplet_actions(pb::ListDropletActionsRequest {
            droplet_id: d.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .actions;
    assert!(
        actions
            .iter()
            .all(|a| a.status != pb::ActionStatus::InProgress as i32)
    );
    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_beyond_the_queue_slows_intake_but_loses_nothing() {
    let executor = provisioning::executor::ExecutorConfig {
        workers: 1,
        queue: 2,
        ..Default::default()
    };
    let flow = Flow::start_with(FlowOptions {
        executor,
        ..FlowOptions::default()
    })
    .await;
    let mut jobs_client = flow.jobs().await;
    let mut c = flow.clients().await;
    let cluster = c.cluster("flooded", "sfo3").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let created = jobs_client
            .create_job(cg_testkit::jobs::provision_one(
                &cluster.id,
                &format!("f{i}"),
            ))
            .await
            .unwrap()
            .into_inner()
            .job
            .unwrap();
        ids.push(created.id);
    }
    let stats = pb::executor_service_client::ExecutorServiceClient::new(flow.prov_channel().await);
    let max_queue = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    eventually(
        Duration::from_secs(60),
        "every flooded job to succeed",
        || {
            let (mut stats, mut jobs_client, cluster_id, max_queue) = (
                stats.clone(),
                jobs_client.clone(),
                cluster.id.clone(),
                max_queue.clone(),
            );
            async move {
                let s = stats
                    .get_executor_stats(pb::GetExecutorStatsRequest {})
                    .await
                    .unwrap()
                    .into_inner();
                assert!(
                    s.queue_length <= 2,
                    "the queue never grows past its capacity"
                );
                max_queue.fetch_max(s.queue_length, std::sync::atomic::Ordering::Relaxed);
                let finished = jobs_client
                    .list_jobs(jpb::ListJobsRequest {
                        cluster_id,
                        status: jpb::JobStatus::Succeeded as i32,
                        page_size: 100,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .jobs
                    .len();
                check(finished == 30, finished)
            }
        },
    )
    .await;
    assert_eq!(
        max_queue.load(std::sync::atomic::Ordering::Relaxed),
        2,
        "the flood filled the queue: intake had to wait"
    );
    let droplets = c
        .droplets
        .list_droplets(pb::ListDropletsRequest {
            cluster_id: cluster.id.clone(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .droplets;
    assert_eq!(droplets.len(), ids.len(), "one droplet per job, none twice");
    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_split_the_jobs_and_run_each_once() {
    let flow = Flow::start(fast_cloud()).await;
    // A second replica: same database, same consumer group.
    let second = cg_testkit::start::<ProvisioningService>(&flow.prov_config()).await;
    let jobs_client = flow.jobs().await;
    let mut c = flow.clients().await;
    let mut clusters = Vec::new();
    for i in 0..20 {
        clusters.push(c.cluster(&format!("r{i}"), "fra1").await.id);
    }
    let created = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Jobs for every cluster, `n` at a time: they land on both partitions.
    let burst = |n: usize| {
        let (jobs_client, clusters, created) =
            (jobs_client.clone(), clusters.clone(), created.clone());
        async move {
            let start = created.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            let creates = (start..start + n).map(|i| {
                let mut client = jobs_client.clone();
                let cluster = clusters[i % clusters.len()].clone();
                async move {
                    client
                        .create_job(cg_testkit::jobs::provision_one(&cluster, &format!("j{i}")))
                        .await
                        .unwrap()
                }
            });
            futures::future::join_all(creates).await;
        }
    };
    let all_succeed = || async {
        let total = created.load(std::sync::atomic::Ordering::SeqCst);
        eventually(Duration::from_secs(120), "every job to succeed", || {
            let mut jobs_client = jobs_client.clone();
            async move {
                let n = all_jobs(&mut jobs_client, |j| {
                    j.status == jpb::JobStatus::Succeeded as i32
                })
                .await
                .len();
                check(n == total, (n, total))
            }
        })
        .await;
        total
    };
    let completed = |endpoint: String| async move {
        pb::executor_service_client::ExecutorServiceClient::new(channel(&endpoint).await)
            .get_executor_stats(pb::GetExecutorStatsRequest {})
            .await
            .unwrap()
            .into_inner()
            .latencies
            .iter()
            .map(|l| l.completed)
            .sum::<i64>()
    };
    let (first_at, second_at) = (flow.mesh.endpoint("provisioning"), second.endpoint());
    // The group settles on both members: rounds of jobs go out until each
    // replica has run some (no guess at how long a rebalance takes).
    eventually(
        Duration::from_secs(60),
        "both replicas to take work",
        || {
            let (burst, all_succeed, completed) = (&burst, &all_succeed, &completed);
            let (first_at, second_at) = (first_at.clone(), second_at.clone());
            async move {
                burst(20).await;
                all_succeed().await;
                let (a, b) = (completed(first_at).await, completed(second_at).await);
                check(a > 0 && b > 0, (a, b))
            }
        },
    )
    .await;
    burst(200).await;
    let total = all_succeed().await;
    let mut jobs_client = jobs_client.clone();
    let failed_or_retried = all_jobs(&mut jobs_client, |j| j.attempts != 1).await.len();
    assert_eq!(failed_or_retried, 0, "no job needed a second attempt");
    let droplets = c
        .droplets
        .list_droplets(pb::ListDropletsRequest {
            region: "fra1".into(),
            page_size: 1000,
            include_archived: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .droplets;
    assert_eq!(droplets.len(), total, "each job made exactly one droplet");
    let (a, b) = (completed(first_at).await, completed(second_at).await);
    assert_eq!(
        usize::try_from(a + b).unwrap(),
        total,
        "each job ran once across the replicas ({a} + {b})"
    );
    second.stop().await.expect("stops cleanly");
    flow.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_mid_burst_loses_no_job_and_runs_none_twice() {
    let mut flow = Flow::start_with(FlowOptions {
        storage: Storage::Sqlite,
        ..FlowOptions::default()
    })
    .await;
    let jobs_client = flow.jobs().await;
    let mut c = flow.clients().await;
    let mut clusters = Vec::new();
    for i in 0..10 {
        clusters.push(c.cluster(&format!("o{i}"), "lon1").await.id);
    }
    let burst = |range: std::ops::Range<usize>| {
        let creates = range.map(|i| {
            let mut client = jobs_client.clone();
            let cluster = clusters[i % clusters.len()].clone();
            async move {
                client
                    .create_job(cg_testkit::jobs::provision_one(&cluster, &format!("o{i}")))
                    .await
                    .expect("CreateJob needs only the database")
            }
        });
        futures::future::join_all(creates)
    };
    burst(0..50).await;
    flow.broker.stop();
    // Jobs keep being accepted: their requests wait in the outbox.
    burst(50..100).await;
    // The outage itself: the broker stays away for 10 s.
    tokio::time::sleep(Duration::from_secs(10)).await;
    flow.broker.restart();

    let terminal = eventually(Duration::from_secs(120), "all 100 jobs to end", || {
        let mut jobs_client = jobs_client.clone();
        async move {
            let done = all_jobs(&mut jobs_client, is_terminal).await;
            if done.len() == 100 {
                Ok(done)
            } else {
                Err(done.len())
            }
        }
    })
    .await;
    assert_eq!(terminal.len(), 100, "every job reached a terminal state");
    let succeeded = terminal
        .iter()
        .filter(|j| j.status == jpb::JobStatus::Succeeded as i32)
        .count();
    assert_eq!(succeeded, 100);
    let droplets = c
        .droplets
        .list_droplets(pb::ListDropletsRequest {
            region: "lon1".into(),
            include_archived: true,
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .droplets;
    assert_eq!(droplets.len(), 100, "no job ran twice");
    flow.stop().await;
}

/// An attempt reports its state changes at once and its steps coalesced:
/// two droplets made within a few milliseconds are one step report (the
/// latest), sent while the droplets boot, and a job's reports are then
/// started, that step, done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_made_together_are_reported_once_and_state_changes_at_once() {
    use clustergenie_proto::events::v1 as ev;
    let flow = Flow::start(provisioning::cloud::CloudConfig {
        boot_delay: Duration::from_secs(1),
        ..fast_cloud()
    })
    .await;
    let mut jobs_client = flow.jobs().await;
    let mut c = flow.clients().await;
    let cluster = c.cluster("coalesced", "nyc1").await;
    let job = jobs_client
        .create_job(cg_testkit::jobs::request(
            &cluster.id,
            jpb::job_action::Action::ProvisionDroplets(jpb::ProvisionDroplets {
                count: 2,
                size: "s-1vcpu-1gb".into(),
                image: "ubuntu-24-04-x64".into(),
                name_prefix: "pair".into(),
            }),
        ))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();

    // Every report of this job, as a consumer group of its own reads them.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = tokio_util::sync::CancellationToken::new();
    let consumer = {
        let (kafka, stop, id) = (flow.kafka.clone(), stop.clone(), job.id.clone());
        tokio::spawn(async move {
            kafka::consume(
                &kafka,
                "test-progress-reports",
                &[topics::JOBS_PROGRESS.name],
                stop,
                move |event| {
                    if let Ok(p) = topics::JOBS_PROGRESS.decode(&event)
                        && p.job_id == id
                    {
                        let _ = tx.send(p);
                    }
                    async { Ok(()) }
                },
            )
            .await
        })
    };
    let mut reports = Vec::new();
    while let Ok(Some(p)) = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
        let done = p.status != ev::JobProgressStatus::Running as i32;
        reports.push((p.status, p.percent, p.message));
        if done {
            break;
        }
    }
    stop.cancel();
    consumer.await.unwrap().expect("the consumer ends cleanly");
    let running = ev::JobProgressStatus::Running as i32;
    assert_eq!(
        reports,
        vec![
            (running, 0, "started".to_string()),
            (running, 99, "created 2 of 2".to_string()),
            (
                ev::JobProgressStatus::Succeeded as i32,
                100,
                "done".to_string()
            ),
        ],
        "one report per state change and one for both steps"
    );
}

/// Requests that reach the executor together are recorded together, and
/// a batch of redeliveries (every request sent again at once, as after a
/// rebalance) starts nothing a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_redelivered_requests_runs_no_job_twice() {
    let flow = Flow::start(fast_cloud()).await;
    let mut jobs_client = flow.jobs().await;
    let mut c = flow.clients().await;
    let cluster = c.cluster("redelivered", "ams3").await;
    // One cluster: one partition, so the requests queue in one lane.
    let creates = (0..12).map(|i| {
        let mut client = jobs_client.clone();
        let cluster = cluster.id.clone();
        async move {
            client
                .create_job(cg_testkit::jobs::provision_one(&cluster, &format!("r{i}")))
                .await
                .unwrap()
        }
    });
    futures::future::join_all(creates).await;
    let watcher = jobs_client.clone();
    let done = move |n: usize| {
        let jobs_client = watcher.clone();
        async move {
            eventually(Duration::from_secs(60), "the jobs to succeed", || {
                let mut jobs_client = jobs_client.clone();
                async move {
                    let ok = all_jobs(&mut jobs_client, |j| {
                        j.status == jpb::JobStatus::Succeeded as i32
                    })
                    .await;
                    check(ok.len() == n, ok.len())
                }
            })
            .await;
        }
    };
    done(12).await;

    let kafka = flow.kafka.clone();
    let tap = cg_testkit::Tap::start(&kafka, &[topics::JOBS_REQUESTED.name]);
    let requests = tap
        .wait(Duration::from_secs(10), "the requests", |e| e.len() >= 12)
        .await;
    let again: Vec<Outgoing<'_>> = requests
        .iter()
        .map(|e| Outgoing {
            topic: topics::JOBS_REQUESTED.name,
            key: e.key.as_deref().unwrap_or_default(),
            event_id: e.event_id().unwrap_or_default(),
            event_type: e.event_type().unwrap_or_default(),
            payload: &e.payload,
            traceparent: None,
        })
        .collect();
    Producer::new(&kafka)
        .unwrap()
        .send_all(&again)
        .await
        .unwrap();
    // One more job behind them: once it is done, the redeliveries were read.
    run_to_end(
        &mut jobs_client,
        cg_testkit::jobs::provision_one(&cluster.id, "last"),
    )
    .await;
    done(13).await;
    let droplets = c
        .droplets
        .list_droplets(pb::ListDropletsRequest {
            cluster_id: cluster.id.clone(),
            include_archived: true,
            page_size: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .droplets;
    assert_eq!(droplets.len(), 13, "one droplet per job, none twice");
    let stats = pb::executor_service_client::ExecutorServiceClient::new(flow.prov_channel().await)
        .get_executor_stats(pb::GetExecutorStatsRequest {})
        .await
        .unwrap()
        .into_inner();
    let completed: i64 = stats.latencies.iter().map(|l| l.completed).sum();
    assert_eq!(completed, 13, "each attempt ran once");
    flow.stop().await;
}
