//! Jobs' contract and state machine on MariaDB and SQLite.

use cg_runtime::kit::Running;
use cg_testkit::{Backend, TestDb, config_for, on_both_backends};
use clustergenie_proto::{events::v1 as ev, jobs::v1 as pb};
use futures::StreamExt as _;
use jobs::JobsService;
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

type Client = pb::job_service_client::JobServiceClient<Channel>;

/// Jobs started on `db` (no broker: requests wait in the outbox) and a
/// client of it.
struct Started {
    client: Client,
    server: Running<JobsService>,
}

async fn start(db: &TestDb) -> Started {
    let server = cg_testkit::start::<JobsService>(&config_for::<JobsService>(Some(db), None)).await;
    let client = Client::connect(server.endpoint()).await.unwrap();
    Started { client, server }
}

impl Started {
    fn jobs(&self) -> &jobs::Jobs {
        &self.server.service().jobs
    }

    async fn stop(self) {
        self.server.stop().await.expect("jobs stops cleanly");
    }
}

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";

fn scale_to(n: i32) -> pb::JobAction {
    pb::JobAction {
        action: Some(pb::job_action::Action::ScaleCluster(pb::ScaleCluster {
            target_count: n,
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            remove_droplet_ids: Vec::new(),
        })),
    }
}

fn create(action: pb::JobAction, request_id: &str) -> pb::CreateJobRequest {
    pb::CreateJobRequest {
        cluster_id: CLUSTER.into(),
        action: Some(action),
        request_id: request_id.into(),
        ..Default::default()
    }
}

async fn new_job(c: &mut Client, action: pb::JobAction) -> pb::Job {
    c.create_job(create(action, ""))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap()
}

fn progress(job: &pb::Job, status: ev::JobProgressStatus, percent: i32) -> ev::JobProgress {
    ev::JobProgress {
        job_id: job.id.clone(),
        cluster_id: job.cluster_id.clone(),
        attempt: job.attempts,
        status: status as i32,
        percent,
        ..Default::default()
    }
}

async fn get(c: &mut Client, id: &str) -> pb::Job {
    c.get_job(pb::GetJobRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap()
}

async fn a_job_is_created_queued_and_announced(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    let job = new_job(&mut s.client, scale_to(3)).await;
    assert_eq!(job.status, pb::JobStatus::Queued as i32);
    assert_eq!(job.kind, pb::JobKind::ScaleCluster as i32);
    assert_eq!(job.attempts, 1);
    assert_eq!(job.max_attempts, 3);
    assert_eq!(job.requested_by, "anonymous");
    // The request waits in the outbox, committed with the job.
    let pending: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND event_type = 'clustergenie.events.v1.JobRequested'",
    )
    .fetch_one(&db.pool().await)
    .await
    .unwrap();
    assert_eq!(pending, 1);
    s.stop().await;
}

async fn bad_requests_name_their_fields(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    let err = s
        .client
        .create_job(pb::CreateJobRequest {
            cluster_id: "nope".into(),
            action: Some(pb::JobAction {
                action: Some(pb::job_action::Action::ProvisionDroplets(
                    pb::ProvisionDroplets {
                        count: 0,
                        size: "s-1vcpu-1gb".into(),
                        image: String::new(),
                        name_prefix: String::new(),
                    },
                )),
            }),
            max_attempts: 99,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields: Vec<_> = err
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    assert_eq!(
        fields,
        [
            "cluster_id",
            "action.provision_droplets.count",
            "action.provision_droplets.image",
            "max_attempts"
        ]
    );
    let err = s
        .client
        .create_job(pb::CreateJobRequest {
            cluster_id: CLUSTER.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = s
        .client
        .get_job(pb::GetJobRequest {
            id: "01900000-0000-7000-8000-000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    s.stop().await;
}

async fn a_request_id_makes_one_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    let calls = (0..10).map(|_| {
        let mut c = s.client.clone();
        async move { c.create_job(create(scale_to(5), "decision-1")).await }
    });
    let ids: std::collections::HashSet<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().into_inner().job.unwrap().id)
        .collect();
    assert_eq!(ids.len(), 1);
    let err = s
        .client
        .create_job(create(scale_to(6), "decision-1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    s.stop().await;
}

async fn progress_drives_the_state_machine_and_late_reports_are_ignored(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    let job = new_job(&mut s.client, scale_to(3)).await;
    assert!(
        s.jobs()
            .apply_progress(&progress(&job, ev::JobProgressStatus::Running, 40))
            .await
            .unwrap()
    );
    // Progress never goes backwards.
    s.jobs()
        .apply_progress(&progress(&job, ev::JobProgressStatus::Running, 20))
        .await
        .unwrap();
    let running = get(&mut s.client, &job.id).await;
    assert_eq!(running.status, pb::JobStatus::Running as i32);
    assert_eq!(running.progress, 40);
    assert!(running.start_time.is_some());
    assert!(
        s.jobs()
            .apply_progress(&progress(&job, ev::JobProgressStatus::Succeeded, 100))
            .await
            .unwrap()
    );
    // A finished job ignores whatever arrives late.
    assert!(
        !s.jobs()
            .apply_progress(&progress(&job, ev::JobProgressStatus::Failed, 0))
            .await
            .unwrap()
    );
    assert!(
        !s.jobs()
            .apply_progress(&progress(&job, ev::JobProgressStatus::Running, 50))
            .await
            .unwrap()
    );
    let done = get(&mut s.client, &job.id).await;
    assert_eq!(done.status, pb::JobStatus::Succeeded as i32);
    assert_eq!(done.progress, 100);
    assert!(done.finish_time.is_some());
    s.stop().await;
}

async fn a_failed_attempt_is_retried_until_attempts_run_out(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    let job = s
        .client
        .create_job(pb::CreateJobRequest {
            max_attempts: 2,
            ..create(scale_to(2), "")
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    let mut failed = progress(&job, ev::JobProgressStatus::Failed, 0);
    failed.error = "region full".into();
    s.jobs().apply_progress(&failed).await.unwrap();
    let again = get(&mut s.client, &job.id).await;
    assert_eq!(again.status, pb::JobStatus::Queued as i32);
    assert_eq!(again.attempts, 2);
    // A report for the old attempt changes nothing.
    assert!(
        !s.jobs()
            .apply_progress(&progress(&job, ev::JobProgressStatus::Succeeded, 100))
            .await
            .unwrap()
    );
    let mut failed_again = progress(&again, ev::JobProgressStatus::Failed, 0);
    failed_again.error = "still full".into();
    s.jobs().apply_progress(&failed_again).await.unwrap();
    let done = get(&mut s.client, &job.id).await;
    assert_eq!(done.status, pb::JobStatus::Failed as i32);
    assert_eq!(done.error, "still full");
    // RetryJob starts a third attempt by hand.
    let retried = s
        .client
        .retry_job(pb::RetryJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(retried.status, pb::JobStatus::Queued as i32);
    assert_eq!(retried.attempts, 3);
    assert_eq!(retried.error, "");
    s.stop().await;
}

async fn cancelling_follows_the_state_machine(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    // Queued: cancelled at once.
    let queued = new_job(&mut s.client, scale_to(1)).await;
    let c = s
        .client
        .cancel_job(pb::CancelJobRequest {
            id: queued.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(c.status, pb::JobStatus::Cancelled as i32);
    let err = s
        .client
        .cancel_job(pb::CancelJobRequest {
            id: queued.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // Running: asked to stop; cancelled when the executor confirms.
    let running = new_job(&mut s.client, scale_to(4)).await;
    s.jobs()
        .apply_progress(&progress(&running, ev::JobProgressStatus::Running, 10))
        .await
        .unwrap();
    let asked = s
        .client
        .cancel_job(pb::CancelJobRequest {
            id: running.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(asked.status, pb::JobStatus::Running as i32);
    assert!(asked.cancel_requested);
    s.jobs()
        .apply_progress(&progress(&running, ev::JobProgressStatus::Cancelled, 10))
        .await
        .unwrap();
    assert_eq!(
        get(&mut s.client, &running.id).await.status,
        pb::JobStatus::Cancelled as i32
    );
    // A succeeded job cannot be retried.
    let ok = new_job(&mut s.client, scale_to(2)).await;
    s.jobs()
        .apply_progress(&progress(&ok, ev::JobProgressStatus::Succeeded, 100))
        .await
        .unwrap();
    let err = s
        .client
        .retry_job(pb::RetryJobRequest { id: ok.id })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    s.stop().await;
}

async fn jobs_list_newest_first_with_filters_and_pages(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    let mut made = Vec::new();
    for n in 0..5 {
        made.push(new_job(&mut s.client, scale_to(n)).await.id);
    }
    let reboot = new_job(
        &mut s.client,
        pb::JobAction {
            action: Some(pb::job_action::Action::RebootDroplet(pb::RebootDroplet {
                droplet_id: CLUSTER.into(),
            })),
        },
    )
    .await;
    let kind = s
        .client
        .list_jobs(pb::ListJobsRequest {
            kind: pb::JobKind::RebootDroplet as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .jobs;
    assert_eq!(kind.len(), 1);
    assert_eq!(kind[0].id, reboot.id);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = s
            .client
            .list_jobs(pb::ListJobsRequest {
                kind: pb::JobKind::ScaleCluster as i32,
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.jobs.into_iter().map(|j| j.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    made.reverse();
    assert_eq!(seen, made, "newest first, each once");
    s.stop().await;
}

async fn watching_a_job_streams_each_change_until_it_ends(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    let job = new_job(&mut s.client, scale_to(3)).await;
    let mut stream = s
        .client
        .watch_job(pb::WatchJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap().job.unwrap();
    assert_eq!(first.status, pb::JobStatus::Queued as i32);
    for pct in [30, 60] {
        s.jobs()
            .apply_progress(&progress(&job, ev::JobProgressStatus::Running, pct))
            .await
            .unwrap();
        let update = stream.message().await.unwrap().unwrap().job.unwrap();
        assert_eq!(
            (update.status, update.progress),
            (pb::JobStatus::Running as i32, pct)
        );
    }
    s.jobs()
        .apply_progress(&progress(&job, ev::JobProgressStatus::Succeeded, 100))
        .await
        .unwrap();
    let rest: Vec<_> = stream.map(|r| r.unwrap().job.unwrap()).collect().await;
    assert_eq!(
        rest.last().map(|j| j.status),
        Some(pb::JobStatus::Succeeded as i32)
    );
    s.stop().await;
}

async fn requested_attempts(db: &TestDb) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE topic = 'cg.jobs.requested'")
        .fetch_one(&db.pool().await)
        .await
        .unwrap()
}

async fn the_reconciler_requests_retries_after_their_backoff_and_fails_silent_attempts(
    backend: Backend,
) {
    use std::time::Duration;
    let db = TestDb::new(backend).await;
    let mut config = config_for::<JobsService>(Some(&db), None);
    // Rounds are run by hand below.
    config.reconcile_interval = Duration::from_secs(3600);
    config.retry_base = Duration::from_millis(300);
    config.retry_cap = Duration::from_millis(300);
    config.attempt_timeout = Duration::from_millis(400);
    let server = cg_testkit::start::<JobsService>(&config).await;
    let mut client = Client::connect(server.endpoint()).await.unwrap();
    let jobs = &server.service().jobs;
    let job = client
        .create_job(pb::CreateJobRequest {
            max_attempts: 3,
            ..create(scale_to(2), "")
        })
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert_eq!(requested_attempts(&db).await, 1);

    // Attempt 1 fails: attempt 2 waits out its backoff before it is requested.
    let mut failed = progress(&job, ev::JobProgressStatus::Failed, 0);
    failed.error = "region full".into();
    assert!(jobs.apply_progress(&failed).await.unwrap());
    let waiting = get(&mut client, &job.id).await;
    assert_eq!(
        (waiting.status, waiting.attempts),
        (pb::JobStatus::Queued as i32, 2)
    );
    assert!(
        waiting.message.contains("retrying in"),
        "{}",
        waiting.message
    );
    assert_eq!(
        requested_attempts(&db).await,
        1,
        "not requested before the backoff"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(jobs.reconcile(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(
        requested_attempts(&db).await,
        2,
        "requested once the backoff is over"
    );
    assert_eq!(
        jobs.reconcile(Duration::ZERO).await.unwrap(),
        0,
        "a requested retry is not requested again"
    );

    // Attempt 2 is never reported on: past its deadline it is failed and
    // retried like any failed attempt.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(jobs.reconcile(Duration::ZERO).await.unwrap(), 1);
    let retried = get(&mut client, &job.id).await;
    assert_eq!(
        (retried.status, retried.attempts),
        (pb::JobStatus::Queued as i32, 3)
    );
    assert!(retried.error.contains("deadline"), "{}", retried.error);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(jobs.reconcile(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(requested_attempts(&db).await, 3);

    // The last attempt goes silent too: the job fails for good.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(jobs.reconcile(Duration::ZERO).await.unwrap(), 1);
    let done = get(&mut client, &job.id).await;
    assert_eq!(done.status, pb::JobStatus::Failed as i32);
    assert!(done.error.contains("deadline"), "{}", done.error);
    assert_eq!(
        jobs.reconcile(Duration::ZERO).await.unwrap(),
        0,
        "nothing left to do"
    );
    server.stop().await.unwrap();
}

/// Reports consumed together apply together: two jobs' starts and ends,
/// a report of an old attempt and one for a job nobody knows, in one
/// batch, end as the same reports one by one would.
async fn reports_that_arrive_together_apply_as_one_by_one_would(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut s = start(&db).await;
    let (a, b) = (
        new_job(&mut s.client, scale_to(3)).await,
        new_job(&mut s.client, scale_to(4)).await,
    );
    let mut stale = progress(&b, ev::JobProgressStatus::Succeeded, 100);
    stale.attempt = 7;
    let mut unknown = progress(&a, ev::JobProgressStatus::Succeeded, 100);
    unknown.job_id = "01900000-0000-7000-8000-000000000000".into();
    let mut failed = progress(&b, ev::JobProgressStatus::Failed, 0);
    failed.error = "region full".into();
    let reports = [
        progress(&a, ev::JobProgressStatus::Running, 40),
        progress(&b, ev::JobProgressStatus::Running, 10),
        stale,
        unknown,
        progress(&a, ev::JobProgressStatus::Succeeded, 100),
        // Late: a is finished by the report before it.
        progress(&a, ev::JobProgressStatus::Running, 60),
        failed,
    ]
    .into_iter()
    .map(|p| (p, tracing::Span::none()))
    .collect::<Vec<_>>();
    let applied = s.jobs().apply_progress_all(&reports).await.unwrap();
    assert_eq!(applied, 4, "a's start and end, b's start and failure");
    let (ra, rb) = (
        get(&mut s.client, &a.id).await,
        get(&mut s.client, &b.id).await,
    );
    assert_eq!(ra.status, pb::JobStatus::Succeeded as i32);
    assert_eq!(ra.progress, 100);
    assert!(ra.start_time.is_some() && ra.finish_time.is_some());
    // b's failure queues its next attempt, as a lone report would.
    assert_eq!(rb.status, pb::JobStatus::Queued as i32);
    assert_eq!(rb.attempts, 2);
    assert_eq!(rb.error, "region full");
    s.stop().await;
}

on_both_backends!(
    the_reconciler_requests_retries_after_their_backoff_and_fails_silent_attempts,
    a_job_is_created_queued_and_announced,
    bad_requests_name_their_fields,
    a_request_id_makes_one_job,
    progress_drives_the_state_machine_and_late_reports_are_ignored,
    a_failed_attempt_is_retried_until_attempts_run_out,
    cancelling_follows_the_state_machine,
    jobs_list_newest_first_with_filters_and_pages,
    watching_a_job_streams_each_change_until_it_ends,
    reports_that_arrive_together_apply_as_one_by_one_would,
);
