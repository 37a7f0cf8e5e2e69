//! Scale-out on one machine: three replicas of each consumer service
//! (provisioning, jobs, monitoring, scaler), each its own process, share the
//! work of a 500-job burst; one provisioning replica is killed with SIGKILL
//! mid-run. Every job finishes once, one droplet each, and the work is
//! spread over the replicas (the counts are printed).

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use cg_testkit::{Broker, Storage, provisioning::Clients};
use clustergenie_proto::jobs::v1 as jpb;
use e2e::{JobsClient, all_jobs, is_terminal, procs::ProcMesh};
use sqlx::Row as _;

const JOBS: usize = 500;
const CLUSTERS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_of_each_consumer_share_a_500_job_burst_and_survive_a_kill_9() {
    let broker = Broker::start(Storage::Memory);
    let mut mesh = ProcMesh::new(env!("CARGO_BIN_EXE_cg-service"), &broker)
        .set("provisioning", "CLUSTERGENIE_EXECUTOR__LEASE", "2s")
        .start(&["provisioning", "jobs", "monitoring", "scaler"])
        .await;
    for service in ["provisioning", "jobs", "monitoring", "scaler"] {
        for _ in 0..2 {
            mesh.add(service).await;
        }
    }

    let mut c = Clients::connect(mesh.first("provisioning").endpoint()).await;
    let mut clusters = Vec::new();
    for i in 0..CLUSTERS {
        clusters.push(c.cluster(&format!("wide-{i}"), "nyc1").await);
    }
    // Requests go to the jobs replicas in turn.
    let mut jobs: Vec<JobsClient> = Vec::new();
    for p in mesh.procs.iter().filter(|p| p.service == "jobs") {
        jobs.push(JobsClient::new(cg_testkit::channel(&p.endpoint()).await));
    }
    let mut ids = Vec::with_capacity(JOBS);
    let replicas = jobs.len();
    for i in 0..JOBS {
        let cluster = &clusters[i % CLUSTERS].id;
        let job = jobs[i % replicas]
            .create_job(cg_testkit::jobs::provision_one(cluster, &format!("w{i}")))
            .await
            .expect("CreateJob")
            .into_inner()
            .job
            .unwrap();
        ids.push(job.id);
        if i == JOBS / 2 {
            // Mid-run: one provisioning replica dies without a word. It is one
            // that has finished work already: a replica the last rebalance
            // has not reached yet would have nothing to lose (the first one
            // stays, the test's clients talk to it).
            let victim = busy_replica(&mut mesh).await;
            println!("killing provisioning pid {victim} after {i} jobs");
            mesh.replicas("provisioning")
                .find(|p| p.pid() == victim)
                .unwrap()
                .kill_9();
        }
    }

    let wanted: HashSet<&String> = ids.iter().collect();
    let started = tokio::time::Instant::now();
    let (mut done_before, mut moved) = (0, started);
    let ended = loop {
        let all = all_jobs(&mut jobs[0], |j| wanted.contains(&j.id)).await;
        let done = all.iter().filter(|j| is_terminal(j)).count();
        if all.len() == JOBS && done == JOBS {
            break all;
        }
        if done > done_before {
            (done_before, moved) = (done, tokio::time::Instant::now());
        }
        // A minute without a job ending is a stall, not slowness (the
        // burst ends within seconds): say where the work stopped.
        if moved.elapsed() > Duration::from_secs(60) {
            let brokers = broker.bootstrap();
            let group = tokio::task::spawn_blocking(move || {
                cg_testkit::group::report(&brokers, "provisioning", "cg.jobs.requested")
            })
            .await
            .unwrap();
            let mut lag = String::new();
            for p in mesh.replicas("provisioning") {
                let text = p.scrape().await.unwrap_or_else(|e| e);
                for l in text.lines().filter(|l| {
                    l.starts_with("cg_kafka_consumer_lag{") && l.contains("cg.jobs.requested")
                }) {
                    lag += &format!("  pid {}: {l}\n", p.pid());
                }
            }
            panic!(
                "{} of {JOBS} jobs still open, none ended for a minute\n{group}\
                 lag as the provisioning replicas see it:\n{lag}",
                JOBS - done
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "{JOBS} jobs ended {:.1} s after the burst",
        started.elapsed().as_secs_f64()
    );
    let failed: Vec<_> = ended
        .iter()
        .filter(|j| j.status != jpb::JobStatus::Succeeded as i32)
        .map(|j| (j.id.as_str(), j.error.as_str()))
        .collect();
    assert!(failed.is_empty(), "jobs that did not succeed: {failed:?}");
    let retried: Vec<_> = ended
        .iter()
        .filter(|j| j.attempts != 1)
        .map(|j| &j.id)
        .collect();
    assert!(retried.is_empty(), "jobs run more than once: {retried:?}");

    // One droplet per job, none twice.
    let cluster_ids: Vec<String> = clusters.iter().map(|c| c.id.clone()).collect();
    let names = e2e::droplet_names(&mut c.droplets, &cluster_ids).await;
    let twice: Vec<_> = names.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "droplets made twice: {twice:?}");
    assert_eq!(names.len(), JOBS, "one droplet per job");

    // The work was spread: attempts by the executor that ran them (the
    // survivors hold what they took over from the dead one).
    let pool = mesh.db("provisioning").pool().await;
    let rows = sqlx::query("SELECT owner, COUNT(*) AS n FROM executions GROUP BY owner")
        .fetch_all(&pool)
        .await
        .unwrap();
    let per_owner: BTreeMap<String, i64> = rows
        .iter()
        .map(|r| {
            (
                r.get::<Option<String>, _>("owner").unwrap_or_default(),
                r.get::<i64, _>("n"),
            )
        })
        .collect();
    println!("attempts per provisioning replica: {per_owner:?}");
    assert_eq!(
        per_owner.values().sum::<i64>(),
        JOBS as i64,
        "one attempt per job"
    );
    assert!(
        per_owner.values().filter(|n| **n > 0).count() >= 3,
        "three replicas shared the attempts: {per_owner:?}"
    );
    // And the jobs replicas shared the progress they consumed.
    let mut per_jobs_replica = Vec::new();
    for p in mesh.procs.iter().filter(|p| p.service == "jobs") {
        let text = p.scrape().await.unwrap();
        let handled: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with("cg_kafka_records_total{")
                    && l.contains("topic=\"cg.jobs.progress\"")
                    && l.contains("outcome=\"handled\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        per_jobs_replica.push(handled);
    }
    println!("progress records handled per jobs replica: {per_jobs_replica:?}");
    assert!(
        per_jobs_replica.iter().filter(|n| **n > 0.0).count() >= 2,
        "the jobs replicas shared the progress: {per_jobs_replica:?}"
    );
}

/// The pid of a provisioning replica, not the first, with a finished
/// attempt (executor ids start with `pid<pid>-`).
async fn busy_replica(mesh: &mut ProcMesh) -> u32 {
    let pids: Vec<u32> = mesh
        .replicas("provisioning")
        .skip(1)
        .map(|p| p.pid())
        .collect();
    let pool = mesh.db("provisioning").pool().await;
    cg_testkit::eventually(
        Duration::from_secs(60),
        "a second provisioning replica to finish an attempt",
        || async {
            let owners: Vec<Option<String>> = sqlx::query_scalar(
                "SELECT DISTINCT owner FROM executions WHERE finished_at IS NOT NULL",
            )
            .fetch_all(&pool)
            .await
            .map_err(|e| e.to_string())?;
            pids.iter()
                .copied()
                .find(|pid| {
                    let prefix = format!("pid{pid}-");
                    owners.iter().flatten().any(|o| o.starts_with(&prefix))
                })
                .ok_or_else(|| format!("finished attempts by {owners:?}, replicas {pids:?}"))
        },
    )
    .await
}
