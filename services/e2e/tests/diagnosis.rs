//! Diagnosis over the real chain, on MariaDB, Redis and a tansu broker:
//! faults injected into provisioning's simulated fleet reach monitoring as
//! samples, health results and activity, and diagnosis reads them over gRPC
//! (no metric row is made by hand). Each analyzer's finding comes with its
//! evidence and recommendation; implementing one makes exactly one job that
//! really resizes or scales. The LLM is a local fake that speaks the
//! chat-completions protocol, its tool calls and its failures.

use std::time::Duration;

use cg_testkit::{
    Backend, Broker, Storage, TestDb, config_for, eventually,
    fake_llm::{FakeLlm, Reply},
    provisioning::Clients,
};
use clustergenie_proto::{
    diagnosis::v1 as dpb, jobs::v1 as jpb, monitoring::v1 as mpb, provisioning::v1 as ppb,
};
use diagnosis::DiagnosisService;
use futures::StreamExt as _;
use jobs::JobsService;
use monitoring::MonitoringService;
use provisioning::ProvisioningService;
use tonic::transport::Channel;

const TICK: Duration = Duration::from_millis(500);
const WAIT: Duration = Duration::from_secs(120);

type Diagnosis = dpb::diagnosis_service_client::DiagnosisServiceClient<Channel>;
type Jobs = jpb::job_service_client::JobServiceClient<Channel>;

fn secs(s: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: s,
        nanos: 0,
    }
}

/// Provisioning (fleet sampling every 500 ms), monitoring, jobs and
/// diagnosis, each on its own MariaDB database, over one broker.
struct Mesh {
    c: Clients,
    diagnosis: Diagnosis,
    jobs: Jobs,
    checks: mpb::health_check_service_client::HealthCheckServiceClient<Channel>,
    activity: mpb::activity_service_client::ActivityServiceClient<Channel>,
    _running: (
        cg_runtime::kit::Running<ProvisioningService>,
        cg_runtime::kit::Running<MonitoringService>,
        cg_runtime::kit::Running<JobsService>,
        cg_runtime::kit::Running<DiagnosisService>,
    ),
    _dbs: Vec<TestDb>,
    _broker: Broker,
}

impl Mesh {
    async fn start(tune: impl FnOnce(&mut diagnosis::Config)) -> Self {
        cg_runtime::telemetry::init_for_tests();
        let broker = Broker::start(Storage::Memory);
        let mut dbs = Vec::new();
        for _ in 0..4 {
            dbs.push(TestDb::new(Backend::MySql).await);
        }
        let mut prov_config = config_for::<ProvisioningService>(Some(&dbs[0]), Some(&broker));
        prov_config.cloud = e2e::fast_cloud();
        prov_config.fleet.sample_interval = TICK;
        let prov = cg_testkit::start::<ProvisioningService>(&prov_config).await;
        let mon = cg_testkit::start::<MonitoringService>(&config_for::<MonitoringService>(
            Some(&dbs[1]),
            Some(&broker),
        ))
        .await;
        let jobs = cg_testkit::start::<JobsService>(&config_for::<JobsService>(
            Some(&dbs[2]),
            Some(&broker),
        ))
        .await;
        let mut diag_config = config_for::<DiagnosisService>(Some(&dbs[3]), Some(&broker));
        diag_config.provisioning_url = prov.endpoint();
        diag_config.monitoring_url = mon.endpoint();
        diag_config.jobs_url = jobs.endpoint();
        diag_config.rules.window = Duration::from_secs(60);
        diag_config.rules.recent = Duration::from_secs(20);
        diag_config.rules.idle_cpu_percent = 25.0;
        diag_config.llm.per_cluster_per_minute = 1000;
        tune(&mut diag_config);
        let diag = cg_testkit::start::<DiagnosisService>(&diag_config).await;
        Self {
            c: Clients::connect(prov.endpoint()).await,
            diagnosis: Diagnosis::new(cg_testkit::channel(&diag.endpoint()).await),
            jobs: Jobs::new(cg_testkit::channel(&jobs.endpoint()).await),
            checks: mpb::health_check_service_client::HealthCheckServiceClient::new(
                cg_testkit::channel(&mon.endpoint()).await,
            ),
            activity: mpb::activity_service_client::ActivityServiceClient::new(
                cg_testkit::channel(&mon.endpoint()).await,
            ),
            _running: (prov, mon, jobs, diag),
            _dbs: dbs,
            _broker: broker,
        }
    }

    async fn droplets(&mut self, cluster: &str, size: &str, names: &[&str]) -> Vec<ppb::Droplet> {
        let mut out = Vec::new();
        for name in names {
            let d = self
                .c
                .droplets
                .create_droplet(ppb::CreateDropletRequest {
                    size: size.into(),
                    ..Clients::droplet_request(cluster, name)
                })
                .await
                .expect("a droplet")
                .into_inner()
                .droplet
                .unwrap();
            out.push(self.c.wait_droplet(&d.id, ppb::DropletStatus::Active).await);
        }
        out
    }

    async fn inject(&mut self, droplet: &str, kind: ppb::FaultKind, seconds: i64) -> ppb::Fault {
        self.c
            .faults
            .inject_fault(ppb::InjectFaultRequest {
                droplet_id: droplet.into(),
                kind: kind as i32,
                duration: Some(secs(seconds)),
                ..Default::default()
            })
            .await
            .expect("a fault")
            .into_inner()
            .fault
            .unwrap()
    }

    async fn diagnose(&self, cluster: &str, use_llm: bool) -> dpb::Diagnosis {
        self.diagnosis
            .clone()
            .diagnose(dpb::DiagnoseRequest {
                cluster_id: cluster.into(),
                use_llm,
                ..Default::default()
            })
            .await
            .expect("a diagnosis")
            .into_inner()
            .diagnosis
            .unwrap()
    }

    /// Diagnoses until `done` accepts the answer.
    async fn diagnose_until(
        &self,
        cluster: &str,
        what: &str,
        done: impl Fn(&dpb::Diagnosis) -> bool,
    ) -> dpb::Diagnosis {
        eventually(WAIT, what, || {
            let d = self.diagnose(cluster, false);
            let done = &done;
            async move {
                let d = d.await;
                if done(&d) {
                    Ok(d)
                } else {
                    Err(d
                        .findings
                        .iter()
                        .map(|f| format!("{}({})", f.analyzer, f.droplet_id))
                        .collect::<Vec<_>>()
                        .join(", "))
                }
            }
        })
        .await
    }

    /// Follows job `id` until it succeeds.
    async fn wait_job(&self, id: &str) -> jpb::Job {
        e2e::follow_job(&self.jobs, id, WAIT).await.0
    }

    /// The cluster's live droplets.
    async fn live(&mut self, cluster: &str) -> Vec<ppb::Droplet> {
        self.c
            .droplets
            .list_droplets(ppb::ListDropletsRequest {
                cluster_id: cluster.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .droplets
    }

    async fn implement(
        &self,
        d: &dpb::Diagnosis,
        rec: &str,
        request_id: &str,
    ) -> Result<jpb::Job, tonic::Status> {
        self.diagnosis
            .clone()
            .implement_recommendation(dpb::ImplementRecommendationRequest {
                diagnosis_id: d.id.clone(),
                recommendation_id: rec.into(),
                request_id: request_id.into(),
            })
            .await
            .map(|r| r.into_inner().job.unwrap())
    }
}

fn finding<'a>(d: &'a dpb::Diagnosis, analyzer: &str, droplet: &str) -> Option<&'a dpb::Finding> {
    d.findings
        .iter()
        .find(|f| f.analyzer == analyzer && f.droplet_id == droplet)
}

fn has(d: &dpb::Diagnosis, analyzer: &str, droplet: &str) -> bool {
    finding(d, analyzer, droplet).is_some()
}

/// The recommendations answering finding `f`.
fn answering<'a>(d: &'a dpb::Diagnosis, f: &dpb::Finding) -> Vec<&'a dpb::Recommendation> {
    d.recommendations
        .iter()
        .filter(|r| r.finding_ids.contains(&f.id))
        .collect()
}

fn resize_target(r: &dpb::Recommendation) -> Option<(&str, &str)> {
    match r.action.as_ref()?.action.as_ref()? {
        jpb::job_action::Action::ResizeDroplet(x) => Some((x.droplet_id.as_str(), x.size.as_str())),
        _ => None,
    }
}

fn evidence<'a>(f: &'a dpb::Finding, metric: &str) -> &'a dpb::Evidence {
    f.evidence
        .iter()
        .find(|e| e.metric == metric)
        .unwrap_or_else(|| panic!("{} has no {metric} evidence: {:?}", f.analyzer, f.evidence))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_the_fleet_become_findings_with_evidence_and_a_recommendation_becomes_one_job() {
    let mut m = Mesh::start(|_| {}).await;
    let cluster = m.c.cluster("acme", "nyc1").await;
    let ds = m
        .droplets(
            &cluster.id,
            "s-2vcpu-4gb",
            &["hot", "leaky", "full", "lossy"],
        )
        .await;
    let (hot, leaky, full, lossy) = (&ds[0], &ds[1], &ds[2], &ds[3]);
    let check = m
        .checks
        .create_health_check(cg_testkit::monitoring::web_check(&cluster.id))
        .await
        .expect("a health check")
        .into_inner()
        .health_check
        .unwrap();
    m.inject(&hot.id, ppb::FaultKind::CpuSpike, 300).await;
    m.inject(&leaky.id, ppb::FaultKind::MemoryLeak, 180).await;
    m.inject(&full.id, ppb::FaultKind::DiskFilling, 180).await;
    m.inject(&lossy.id, ppb::FaultKind::NetworkLoss, 300).await;

    let d = m
        .diagnose_until(&cluster.id, "every fault's finding", |d| {
            has(d, "cpu_saturation", &hot.id)
                && has(d, "failing_health_checks", &hot.id)
                && has(d, "memory_leak", &leaky.id)
                && has(d, "disk_filling", &full.id)
                && finding(d, "network_loss", &lossy.id).is_some_and(|f| {
                    f.evidence
                        .iter()
                        .any(|e| e.metric == "health_check_failures")
                })
        })
        .await;
    assert_eq!(d.status, dpb::DiagnosisStatus::Completed as i32);
    assert_eq!(d.severity, dpb::Severity::Critical as i32);
    assert!(d.summary.contains("critical"), "{}", d.summary);

    // CPU: observed above the threshold over the recent window, answered by
    // a resize to more vCPUs that costs more.
    let cpu = finding(&d, "cpu_saturation", &hot.id).unwrap();
    let e = evidence(cpu, "cpu_percent");
    assert!(e.value >= e.threshold && e.threshold == 80.0, "{e:?}");
    assert_eq!(e.window, Some(secs(20)));
    assert!(e.window_end.is_some() && e.unit == "%");
    let r = answering(&d, cpu);
    assert_eq!(resize_target(r[0]), Some((hot.id.as_str(), "s-4vcpu-8gb")));
    assert_eq!(r[0].monthly_cost_delta_cents, 2_400);
    assert_eq!(r[0].risk, dpb::Risk::Medium as i32);

    // The HTTP check fails on the hot droplet: its id backs the finding.
    let checks = finding(&d, "failing_health_checks", &hot.id).unwrap();
    let e = evidence(checks, "health_check_failures");
    assert_eq!(e.health_check_ids, vec![check.id.clone()]);
    assert!(e.value >= 3.0);

    // Memory: a sustained slope, a resize to more memory and a reboot.
    let leak = finding(&d, "memory_leak", &leaky.id).unwrap();
    let e = evidence(leak, "memory_growth_percent_per_hour");
    assert!(e.value >= e.threshold && e.unit == "%/h", "{e:?}");
    let recs = answering(&d, leak);
    let resize = recs
        .iter()
        .find(|r| resize_target(r).is_some())
        .expect("a resize for the leak");
    assert_eq!(
        resize_target(resize),
        Some((leaky.id.as_str(), "s-4vcpu-8gb"))
    );
    assert!(recs.iter().any(|r| matches!(
        r.action.as_ref().and_then(|a| a.action.as_ref()),
        Some(jpb::job_action::Action::RebootDroplet(x)) if x.droplet_id == leaky.id
    )));

    // Disk: a time-to-full estimate from the regression.
    let disk = finding(&d, "disk_filling", &full.id).unwrap();
    assert_eq!(disk.severity, dpb::Severity::Critical as i32);
    let e = evidence(disk, "disk_hours_to_full");
    assert!(e.value > 0.0 && e.value < 1.0 && e.unit == "h", "{e:?}");

    // Network: traffic collapsed against its peers, probes failed; advice
    // only (no job mends a link).
    let net = finding(&d, "network_loss", &lossy.id).unwrap();
    let e = evidence(net, "network_in_mbps");
    assert!(e.value < e.threshold, "{e:?}");
    assert_eq!(
        evidence(net, "health_check_failures").health_check_ids,
        vec![check.id.clone()]
    );
    assert!(answering(&d, net).iter().all(|r| r.action.is_none()));

    // ---- Implement the leak's resize: exactly one job.
    // A crash between creating the job and recording it: the job exists,
    // nothing is recorded.
    let crashed = m
        .jobs
        .clone()
        .create_job(jpb::CreateJobRequest {
            cluster_id: cluster.id.clone(),
            action: resize.action.clone(),
            request_id: diagnosis::service::job_request_id(&d.id, &resize.id),
            source: jpb::JobSource::Diagnosis as i32,
            origin_id: d.id.clone(),
            max_attempts: 0,
        })
        .await
        .expect("the job created before the crash")
        .into_inner()
        .job
        .unwrap();
    // Three at once, after it.
    let calls = futures::future::join_all((0..3).map(|_| m.implement(&d, &resize.id, ""))).await;
    let mut answered = 0;
    for call in &calls {
        match call {
            Ok(job) => {
                assert_eq!(job.id, crashed.id, "the same job");
                answered += 1;
            }
            Err(s) => {
                assert_eq!(s.code(), tonic::Code::FailedPrecondition, "{s:?}");
                assert!(s.message().contains(&crashed.id), "{}", s.message());
            }
        }
    }
    assert!(answered >= 1);
    let made = m
        .jobs
        .clone()
        .list_jobs(jpb::ListJobsRequest {
            origin_id: d.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(made.len(), 1, "one job for the recommendation: {made:?}");
    assert_eq!(made[0].source, jpb::JobSource::Diagnosis as i32);

    let done = m.wait_job(&crashed.id).await;
    assert_eq!(done.status, jpb::JobStatus::Succeeded as i32);
    assert_eq!(m.c.get_droplet(&leaky.id).await.size, "s-4vcpu-8gb");

    let stored = m
        .diagnosis
        .clone()
        .get_diagnosis(dpb::GetDiagnosisRequest { id: d.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .diagnosis
        .unwrap();
    let rec = stored
        .recommendations
        .iter()
        .find(|r| r.id == resize.id)
        .unwrap();
    assert_eq!(rec.implemented_job_id, crashed.id);
    // The diagnosis and its implementation are in the activity log.
    eventually(WAIT, "diagnosis entries in the activity log", || {
        let (mut activity, cluster, id, job) = (
            m.activity.clone(),
            cluster.id.clone(),
            d.id.clone(),
            crashed.id.clone(),
        );
        async move {
            let entries = activity
                .list_activity(mpb::ListActivityRequest {
                    cluster_id: cluster,
                    kind: "diagnosis.".into(),
                    page_size: 1000,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .entries;
            let completed = entries
                .iter()
                .any(|e| e.kind == "diagnosis.completed" && e.diagnosis_id == id);
            let implemented = entries.iter().any(|e| {
                e.kind == "diagnosis.implemented" && e.diagnosis_id == id && e.job_id == job
            });
            if completed && implemented {
                Ok(())
            } else {
                Err(format!("{} entries", entries.len()))
            }
        }
    })
    .await;
    // Once more, with a new key: refused, naming the job.
    let again = m.implement(&d, &resize.id, "again-1").await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
    assert!(again.message().contains(&crashed.id));
    // Advice cannot be implemented; an unknown recommendation is not found.
    let advice = d
        .recommendations
        .iter()
        .find(|r| r.action.is_none())
        .unwrap();
    assert_eq!(
        m.implement(&d, &advice.id, "").await.unwrap_err().code(),
        tonic::Code::FailedPrecondition
    );
    assert_eq!(
        m.implement(&d, "r999", "").await.unwrap_err().code(),
        tonic::Code::NotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_droplet_is_scaled_to_two_and_its_crashes_are_a_crash_loop() {
    let mut m = Mesh::start(|_| {}).await;
    let cluster = m.c.cluster("solo", "nyc1").await;
    let only = m
        .droplets(&cluster.id, "s-2vcpu-4gb", &["only"])
        .await
        .remove(0);

    let d = m
        .diagnose_until(&cluster.id, "no redundancy", |d| {
            has(d, "no_redundancy", "")
        })
        .await;
    let lone = finding(&d, "no_redundancy", "").unwrap();
    assert_eq!(evidence(lone, "active_droplets").value, 1.0);
    let scale = answering(&d, lone)[0];
    assert!(matches!(
        scale.action.as_ref().and_then(|a| a.action.as_ref()),
        Some(jpb::job_action::Action::ScaleCluster(s)) if s.target_count == 2 && s.size == "s-2vcpu-4gb"
    ));
    assert_eq!(scale.monthly_cost_delta_cents, 2_400);
    assert_eq!(scale.risk, dpb::Risk::Low as i32);
    let job = m.implement(&d, &scale.id, "scale-1").await.expect("a job");
    // The same key replays the same job.
    assert_eq!(
        m.implement(&d, &scale.id, "scale-1").await.unwrap().id,
        job.id
    );
    m.wait_job(&job.id).await;
    let live = m.live(&cluster.id).await;
    assert_eq!(live.len(), 2, "scaled to two");

    // Three short crashes, then one that keeps it down.
    for _ in 0..3 {
        m.inject(&only.id, ppb::FaultKind::Crash, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        eventually(WAIT, "the droplet back up", || {
            let mut c = m.c.droplets.clone();
            let id = only.id.clone();
            async move {
                let d = c
                    .get_droplet(ppb::GetDropletRequest { id })
                    .await
                    .unwrap()
                    .into_inner()
                    .droplet
                    .unwrap();
                if d.status == ppb::DropletStatus::Active as i32 && !d.locked {
                    Ok(())
                } else {
                    Err(d.status)
                }
            }
        })
        .await;
    }
    m.inject(&only.id, ppb::FaultKind::Crash, 120).await;
    let d = m
        .diagnose_until(&cluster.id, "a crash loop with the droplet down", |d| {
            finding(d, "crash_loop", &only.id).is_some_and(|f| {
                f.severity == dpb::Severity::Critical as i32
                    && evidence(f, "restarts").activity_ids.len() >= 4
            })
        })
        .await;
    let lp = finding(&d, "crash_loop", &only.id).unwrap();
    let recs = answering(&d, lp);
    assert!(recs.iter().any(|r| matches!(
        r.action.as_ref().and_then(|a| a.action.as_ref()),
        Some(jpb::job_action::Action::PowerCycleDroplet(x)) if x.droplet_id == only.id
    )));
    assert!(
        recs.iter().any(|r| r.action.is_none()),
        "and advice to find the cause"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_jobs_and_an_idle_cluster_are_reported_with_ids_and_savings() {
    let mut m = Mesh::start(|_| {}).await;
    let cluster = m.c.cluster("idle", "nyc1").await;
    m.droplets(&cluster.id, "s-8vcpu-16gb", &["big-1", "big-2"])
        .await;
    // Resizes of a droplet that does not exist fail on their only attempt.
    let mut failed = Vec::new();
    for _ in 0..2 {
        let job = m
            .jobs
            .clone()
            .create_job(jpb::CreateJobRequest {
                cluster_id: cluster.id.clone(),
                action: Some(jpb::JobAction {
                    action: Some(jpb::job_action::Action::ResizeDroplet(jpb::ResizeDroplet {
                        droplet_id: cg_runtime::new_id(),
                        size: "s-2vcpu-4gb".into(),
                    })),
                }),
                max_attempts: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .job
            .unwrap();
        failed.push(job.id);
    }
    let d = m
        .diagnose_until(&cluster.id, "failing jobs and over-provisioning", |d| {
            has(d, "failing_jobs", "")
                && d.findings.iter().any(|f| f.analyzer == "over_provisioning")
        })
        .await;
    let jobs = finding(&d, "failing_jobs", "").unwrap();
    let mut cited = evidence(jobs, "failed_jobs").job_ids.clone();
    cited.sort();
    failed.sort();
    assert_eq!(cited, failed);
    assert!(answering(&d, jobs).iter().all(|r| r.action.is_none()));
    let idle = d
        .findings
        .iter()
        .find(|f| f.analyzer == "over_provisioning")
        .unwrap();
    assert_eq!(idle.severity, dpb::Severity::Info as i32);
    let r = answering(&d, idle)[0];
    let (_, to) = resize_target(r).expect("a smaller size");
    assert_ne!(to, "s-8vcpu-16gb");
    assert!(
        r.monthly_cost_delta_cents < 0,
        "a saving: {}",
        r.monthly_cost_delta_cents
    );
}

// ---------------------------------------------------------------- the LLM

/// Every real name, address and id of the cluster, none of which may reach
/// the LLM.
async fn secrets(m: &mut Mesh, cluster: &ppb::Cluster) -> Vec<String> {
    let mut out = vec![cluster.id.clone(), cluster.name.clone()];
    let live = m.live(&cluster.id).await;
    for d in live {
        out.extend([d.id, d.name, d.public_ipv4, d.private_ipv4]);
    }
    out.retain(|s| !s.is_empty());
    out
}

fn assert_nothing_leaked(fake: &FakeLlm, secrets: &[String]) {
    let bodies: Vec<String> = fake.requests().iter().map(ToString::to_string).collect();
    assert!(!bodies.is_empty(), "the fake was asked");
    for body in &bodies {
        for s in secrets {
            assert!(!body.contains(s.as_str()), "{s:?} reached the LLM: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_investigates_with_tools_explains_in_real_names_and_never_sees_one() {
    let fake = FakeLlm::start().await;
    let url = fake.base_url();
    let mut m = Mesh::start(|c| {
        c.llm.base_url = Some(url);
        c.llm.model = "fake-model".into();
    })
    .await;
    let cluster = m.c.cluster("acme-payments", "nyc1").await;
    let ds = m
        .droplets(&cluster.id, "s-2vcpu-4gb", &["pay-api-1", "pay-api-2"])
        .await;
    fake.script([
        Reply::ToolCalls(vec![
            (
                "get_droplet".into(),
                serde_json::json!({"droplet": "DROPLET_1"}),
            ),
            (
                "query_metric".into(),
                serde_json::json!({"droplet": "DROPLET_1", "metric": "cpu_percent", "minutes": 5}),
            ),
            ("list_activity".into(), serde_json::json!({"limit": 10})),
        ]),
        Reply::answer("DROPLET_1 in CLUSTER_1 looks fine; nothing to do."),
    ]);
    let mut stream = m
        .diagnosis
        .clone()
        .stream_diagnosis(dpb::DiagnoseRequest {
            cluster_id: cluster.id.clone(),
            use_llm: true,
            ..Default::default()
        })
        .await
        .expect("a stream")
        .into_inner();
    let first = stream.next().await.unwrap().unwrap().diagnosis.unwrap();
    assert_eq!(
        first.status,
        dpb::DiagnosisStatus::Enriching as i32,
        "the rules first"
    );
    assert!(first.llm.as_ref().unwrap().explanation.is_empty());
    let last = stream.next().await.unwrap().unwrap().diagnosis.unwrap();
    assert!(
        stream.next().await.is_none(),
        "the stream ends after the enriched one"
    );
    assert_eq!(last.id, first.id);
    assert_eq!(last.status, dpb::DiagnosisStatus::Completed as i32);
    let llm = last.llm.unwrap();
    assert!(llm.used && llm.error.is_empty(), "{llm:?}");
    assert_eq!(llm.source, dpb::ExplanationSource::Llm as i32);
    assert_eq!((llm.model.as_str(), llm.tool_calls), ("fake-model", 3));
    assert!(
        llm.explanation.contains("acme-payments"),
        "{}",
        llm.explanation
    );
    let named = ds.iter().any(|d| llm.explanation.starts_with(&d.name));
    assert!(named, "unmasked to a droplet's name: {}", llm.explanation);

    // The tool results went back masked, and answered the question.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let tool_messages: Vec<&serde_json::Value> = requests[1]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|msg| msg["role"] == "tool")
        .collect();
    assert_eq!(tool_messages.len(), 3);
    let droplet = tool_messages[0]["content"].as_str().unwrap();
    assert!(
        droplet.contains("s-2vcpu-4gb") && droplet.contains("DROPLET_1"),
        "{droplet}"
    );
    let metric = tool_messages[1]["content"].as_str().unwrap();
    assert!(metric.contains("\"points\""), "{metric}");
    assert!(
        requests[0]["tools"]
            .as_array()
            .is_some_and(|t| t.len() == 4)
    );
    assert_nothing_leaked(&fake, &secrets(&mut m, &cluster).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_failures_leave_the_rules_answer_with_the_reason_and_the_breaker_opens_and_closes() {
    let fake = FakeLlm::start().await;
    let url = fake.base_url();
    let mut m = Mesh::start(|c| {
        c.llm.base_url = Some(url);
        c.llm.timeout = Duration::from_millis(500);
        c.llm.deadline = Duration::from_secs(5);
        c.llm.retries = 1;
        c.llm.retry_base = Duration::from_millis(10);
        c.llm.breaker_failures = 3;
        c.llm.breaker_cooldown = Duration::from_secs(2);
    })
    .await;
    // A cluster without droplets: the rules find nothing, the same prompt
    // every time, yet nothing failed is cached.
    let cluster = m.c.cluster("quiet", "nyc1").await;
    let error = |d: &dpb::Diagnosis| d.llm.as_ref().unwrap().error.clone();

    // Malformed content: the endpoint answered, so neither retried nor
    // counted against it.
    fake.script([Reply::Content("this is not json".into())]);
    let d = m.diagnose(&cluster.id, true).await;
    assert_eq!(d.status, dpb::DiagnosisStatus::Completed as i32);
    assert!(error(&d).starts_with("malformed answer"), "{}", error(&d));
    assert_eq!(
        d.llm.as_ref().unwrap().source,
        dpb::ExplanationSource::Rules as i32
    );
    assert_eq!(fake.requests().len(), 1);

    // 429 twice (the retry included): the rules' answer, and why.
    fake.script([Reply::Status(429), Reply::Status(429)]);
    let d = m.diagnose(&cluster.id, true).await;
    assert!(error(&d).contains("429"), "{}", error(&d));
    assert_eq!(fake.requests().len(), 3, "retried once");

    // Slower than the 500 ms timeout: the third failure in a row opens the
    // breaker, which refuses the retry; the answer says what failed.
    fake.script([Reply::Slow(
        Duration::from_secs(2),
        Box::new(Reply::answer("late")),
    )]);
    let d = m.diagnose(&cluster.id, true).await;
    assert!(error(&d).starts_with("timed out"), "{}", error(&d));
    assert_eq!(fake.requests().len(), 4);

    // Open: refused without asking.
    fake.script([Reply::answer("the cluster is empty")]);
    let d = m.diagnose(&cluster.id, true).await;
    assert!(error(&d).contains("circuit breaker open"), "{}", error(&d));
    assert_eq!(fake.requests().len(), 4, "an open breaker does not call");

    // After the cooldown one trial goes through and closes it.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let d = m.diagnose(&cluster.id, true).await;
    let llm = d.llm.unwrap();
    assert!(llm.used && llm.error.is_empty(), "{llm:?}");
    assert_eq!(llm.explanation, "the cluster is empty");
    assert_eq!(fake.requests().len(), 5);
    assert_nothing_leaked(&fake, &secrets(&mut m, &cluster).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_findings_again_are_answered_from_the_redis_cache() {
    let fake = FakeLlm::start().await;
    let url = fake.base_url();
    let prefix = format!("cg:test:{}", cg_runtime::new_id());
    let mut m = Mesh::start(|c| {
        c.llm.base_url = Some(url);
        c.llm.cache_redis_url = Some("redis://127.0.0.1:6379".to_string().into());
        c.llm.cache_prefix = prefix;
    })
    .await;
    let cluster = m.c.cluster("cached", "nyc1").await;
    fake.fallback(Reply::answer("an empty cluster costs nothing"));
    let first = m.diagnose(&cluster.id, true).await.llm.unwrap();
    assert_eq!(first.source, dpb::ExplanationSource::Llm as i32);
    assert!(!first.cached);
    let second = m.diagnose(&cluster.id, true).await.llm.unwrap();
    assert_eq!(second.source, dpb::ExplanationSource::Cache as i32);
    assert!(second.cached && second.used);
    assert_eq!(second.explanation, "an empty cluster costs nothing");
    assert_eq!(fake.requests().len(), 1, "the second came from Redis");
    assert_nothing_leaked(&fake, &secrets(&mut m, &cluster).await);

    // Without an endpoint the rules answer alone and say so.
    let mut plain = Mesh::start(|_| {}).await;
    let c = plain.c.cluster("plain", "nyc1").await;
    let d = plain.diagnose(&c.id, true).await;
    assert!(d.llm.unwrap().error.starts_with("not configured"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_field_violations_and_unknown_clusters_not_found() {
    let m = Mesh::start(|_| {}).await;
    let err = m
        .diagnosis
        .clone()
        .diagnose(dpb::DiagnoseRequest {
            cluster_id: "not-a-uuid".into(),
            request_id: "has space".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let details = tonic_types::StatusExt::get_error_details(&err);
    let fields: Vec<String> = details
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(fields, ["cluster_id", "request_id"]);
    let missing = m
        .diagnosis
        .clone()
        .diagnose(dpb::DiagnoseRequest {
            cluster_id: cg_runtime::new_id(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    // Idempotency: the same key and body replays, another body conflicts.
    let mut c = Clients::connect(m._running.0.endpoint()).await;
    let cluster = c.cluster("keyed", "nyc1").await;
    let ask = |use_llm| dpb::DiagnoseRequest {
        cluster_id: cluster.id.clone(),
        use_llm,
        request_id: "diag-key-1".into(),
        ..Default::default()
    };
    let a = m
        .diagnosis
        .clone()
        .diagnose(ask(false))
        .await
        .unwrap()
        .into_inner()
        .diagnosis
        .unwrap();
    let b = m
        .diagnosis
        .clone()
        .diagnose(ask(false))
        .await
        .unwrap()
        .into_inner()
        .diagnosis
        .unwrap();
    assert_eq!(a.id, b.id);
    let conflict = m.diagnosis.clone().diagnose(ask(true)).await.unwrap_err();
    assert_eq!(conflict.code(), tonic::Code::AlreadyExists);
    // History, newest first, filtered by cluster.
    let listed = m
        .diagnosis
        .clone()
        .list_diagnoses(dpb::ListDiagnosesRequest {
            cluster_id: cluster.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .diagnoses;
    assert_eq!(
        listed.iter().map(|d| d.id.clone()).collect::<Vec<_>>(),
        [a.id]
    );
}
