//! The jobs repository suite: every case runs on MariaDB and on SQLite,
//! against the trait (so a new implementation runs the same cases).

use cg_runtime::{
    ApiError, db,
    outbox::NewEvent,
    page::PageRequest,
    types::{Id, RequestId},
};
use cg_testkit::{Backend, TestDb, on_both_backends};
use jobs::{
    domain::{Action, Filter, Job, Kind, MaxAttempts, Outcome, Slug, Source, Status},
    repo::{Change, Inserted, JobRepository, SqlJobs, Transition},
};

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";
const OTHER: &str = "0190b6a8-7d2c-7f3e-8a4b-000000000002";

struct Suite {
    repo: SqlJobs,
    db: TestDb,
}

async fn suite(backend: Backend) -> Suite {
    let db = TestDb::new(backend).await;
    let migrated = db::connect(&db.config(), &db::with_runtime(&jobs::MIGRATOR))
        .await
        .expect("migrated");
    Suite {
        repo: SqlJobs::new(&migrated),
        db,
    }
}

fn scale(n: u32) -> Action {
    Action::ScaleCluster {
        target_count: n,
        size: Slug::parse("s-1vcpu-1gb").unwrap(),
        image: Slug::parse("ubuntu-24-04-x64").unwrap(),
        remove_droplet_ids: Vec::new(),
    }
}

fn job(cluster: &str, action: Action, request_id: Option<&str>) -> Job {
    let now = cg_runtime::time::now_millis();
    Job {
        id: cg_runtime::new_id(),
        cluster_id: cluster.into(),
        action,
        status: Status::Queued,
        progress: 0,
        message: "queued".into(),
        attempt: 1,
        max_attempts: MaxAttempts::DEFAULT.get(),
        error: String::new(),
        cancel_requested: false,
        outcome: Outcome::default(),
        source: Source::User,
        origin_id: String::new(),
        requested_by: "tester".into(),
        trace_id: String::new(),
        request_id: request_id.map(|r| RequestId::parse(r).unwrap().unwrap().to_string()),
        created_at: now,
        started_at: None,
        finished_at: None,
        updated_at: now,
        deadline: Some(now + 60_000),
        retry_at: None,
    }
}

fn announce(job: &Job) -> NewEvent {
    NewEvent {
        id: None,
        topic: "cg.jobs.requested",
        key: job.cluster_id.clone(),
        event_type: "test.Requested".into(),
        payload: job.id.as_bytes().to_vec(),
    }
}

async fn outbox_rows(s: &Suite) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&s.db.pool().await)
        .await
        .unwrap()
}

async fn an_inserted_job_reads_back_whole_with_its_announcement(backend: Backend) {
    let s = suite(backend).await;
    let mut j = job(CLUSTER, scale(3), None);
    j.outcome.created_droplet_ids.push("d1".into());
    assert_eq!(
        s.repo.insert(&j, "fp", vec![announce(&j)]).await.unwrap(),
        Inserted::New
    );
    assert_eq!(s.repo.get(&j.id).await.unwrap(), j);
    assert_eq!(
        outbox_rows(&s).await,
        1,
        "announced in the same transaction"
    );
}

async fn a_request_id_replays_the_same_body_and_refuses_another(backend: Backend) {
    let s = suite(backend).await;
    let first = job(CLUSTER, scale(3), Some("key-1"));
    s.repo
        .insert(&first, "fp-a", vec![announce(&first)])
        .await
        .unwrap();
    let again = job(CLUSTER, scale(3), Some("key-1"));
    assert_eq!(
        s.repo
            .insert(&again, "fp-a", vec![announce(&again)])
            .await
            .unwrap(),
        Inserted::Replayed(first.id.clone())
    );
    let other = job(CLUSTER, scale(4), Some("key-1"));
    assert!(matches!(
        s.repo.insert(&other, "fp-b", vec![announce(&other)]).await,
        Err(ApiError::IdempotencyMismatch(_))
    ));
    assert_eq!(outbox_rows(&s).await, 1, "a replay announces nothing");
}

async fn an_unknown_job_is_not_found(backend: Backend) {
    let s = suite(backend).await;
    assert!(matches!(
        s.repo.get(CLUSTER).await,
        Err(ApiError::NotFound { kind: "job", .. })
    ));
}

async fn lists_are_newest_first_filtered_and_paged(backend: Backend) {
    let s = suite(backend).await;
    let mut ids = Vec::new();
    for i in 0..5u32 {
        let cluster = if i % 2 == 0 { CLUSTER } else { OTHER };
        let action = if i == 4 {
            Action::RebootDroplet {
                droplet_id: Id::parse(OTHER).unwrap(),
            }
        } else {
            scale(i)
        };
        let mut j = job(cluster, action, None);
        if i == 3 {
            j.source = Source::Scaler;
            j.origin_id = "decision-1".into();
        }
        s.repo.insert(&j, "fp", vec![announce(&j)]).await.unwrap();
        ids.push(j.id);
    }
    let page = |size, after: Option<String>| PageRequest { size, after };
    let all = s
        .repo
        .list(&Filter::default(), &page(10, None))
        .await
        .unwrap();
    let listed: Vec<_> = all.items.iter().map(|j| j.id.clone()).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    assert_eq!(all.next_after, None);

    let first = s
        .repo
        .list(&Filter::default(), &page(2, None))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let second = s
        .repo
        .list(&Filter::default(), &page(2, first.next_after.clone()))
        .await
        .unwrap();
    assert_eq!(
        second.items[0].id, newest_first[2],
        "the next page follows on"
    );

    let cases = [
        (
            Filter {
                cluster_id: Some(Id::parse(CLUSTER).unwrap()),
                ..Filter::default()
            },
            3,
        ),
        (
            Filter {
                kind: Some(Kind::RebootDroplet),
                ..Filter::default()
            },
            1,
        ),
        (
            Filter {
                source: Some(Source::Scaler),
                origin_id: Some("decision-1".into()),
                ..Filter::default()
            },
            1,
        ),
        (
            Filter {
                status: Some(Status::Running),
                ..Filter::default()
            },
            0,
        ),
    ];
    for (filter, n) in cases {
        let found = s.repo.list(&filter, &page(10, None)).await.unwrap();
        assert_eq!(found.items.len(), n, "{filter:?}");
    }
}

async fn transitions_follow_the_state_machine(backend: Backend) {
    let s = suite(backend).await;
    let j = job(CLUSTER, scale(1), None);
    s.repo.insert(&j, "fp", vec![announce(&j)]).await.unwrap();
    let now = cg_runtime::time::now_millis();

    let mut running = Transition::to(Status::Running, now);
    running.attempt = Some(1);
    running.progress = Some(40);
    assert!(s.repo.transition(&j.id, &running, vec![]).await.unwrap());
    // Progress only rises: a late, lower report leaves it.
    running.progress = Some(10);
    assert!(s.repo.transition(&j.id, &running, vec![]).await.unwrap());
    let read = s.repo.get(&j.id).await.unwrap();
    assert_eq!((read.status, read.progress), (Status::Running, 40));
    assert!(read.started_at.is_some());

    // Another attempt's report changes nothing.
    let mut stale = Transition::to(Status::Succeeded, now);
    stale.attempt = Some(2);
    assert!(
        !s.repo
            .transition(&j.id, &stale, vec![announce(&j)])
            .await
            .unwrap()
    );

    let mut done = Transition::to(Status::Succeeded, now);
    done.attempt = Some(1);
    done.outcome = Some(Outcome {
        created_droplet_ids: vec!["d9".into()],
        ..Outcome::default()
    });
    assert!(
        s.repo
            .transition(&j.id, &done, vec![announce(&j)])
            .await
            .unwrap()
    );
    let finished = s.repo.get(&j.id).await.unwrap();
    assert_eq!(finished.status, Status::Succeeded);
    assert_eq!(finished.outcome.created_droplet_ids, ["d9"]);
    assert!(finished.finished_at.is_some());

    // A finished job cannot run again, and a refused change announces nothing.
    assert!(
        !s.repo
            .transition(&j.id, &running, vec![announce(&j)])
            .await
            .unwrap()
    );
    assert_eq!(outbox_rows(&s).await, 2, "the insert's and the success's");
}

async fn overlong_messages_are_clipped_to_fit(backend: Backend) {
    let s = suite(backend).await;
    let j = job(CLUSTER, scale(1), None);
    s.repo.insert(&j, "fp", vec![announce(&j)]).await.unwrap();
    let mut t = Transition::to(Status::Failed, cg_runtime::time::now_millis());
    t.message = Some("m".repeat(5000));
    t.error = Some("é".repeat(5000));
    assert!(s.repo.transition(&j.id, &t, vec![]).await.unwrap());
    let read = s.repo.get(&j.id).await.unwrap();
    assert_eq!(read.message.chars().count(), 1024);
    assert_eq!(read.error.chars().count(), 2048);
}

async fn a_retry_starts_the_next_attempt_from_scratch(backend: Backend) {
    let s = suite(backend).await;
    let j = job(CLUSTER, scale(1), None);
    s.repo.insert(&j, "fp", vec![announce(&j)]).await.unwrap();
    let now = cg_runtime::time::now_millis();
    let mut failed = Transition::to(Status::Failed, now);
    failed.error = Some("boom".into());
    assert!(s.repo.transition(&j.id, &failed, vec![]).await.unwrap());
    let mut retry = Transition::to(Status::Queued, now);
    retry.attempt = Some(1);
    retry.next_attempt = true;
    retry.reset_progress = true;
    retry.error = Some(String::new());
    assert!(
        s.repo
            .transition(&j.id, &retry, vec![announce(&j)])
            .await
            .unwrap()
    );
    let read = s.repo.get(&j.id).await.unwrap();
    assert_eq!(
        (read.status, read.attempt, read.progress),
        (Status::Queued, 2, 0)
    );
    assert!(read.error.is_empty() && read.finished_at.is_none());
}

/// A batch of changes applies in order in one transaction: a job's start
/// and finish in one batch both apply, a change the one before it made
/// impossible does not (and announces nothing), and it holds back none of
/// the others.
async fn changes_in_one_batch_apply_in_order_and_each_answers_alone(backend: Backend) {
    let s = suite(backend).await;
    let (a, b) = (job(CLUSTER, scale(1), None), job(OTHER, scale(2), None));
    for j in [&a, &b] {
        s.repo.insert(j, "fp", vec![announce(j)]).await.unwrap();
    }
    let now = cg_runtime::time::now_millis();
    let change = |j: &Job, to: Status, announced: bool| {
        let mut transition = Transition::to(to, now);
        transition.attempt = Some(1);
        Change {
            id: j.id.clone(),
            transition,
            announce: if announced { vec![announce(j)] } else { vec![] },
        }
    };
    let applied = s
        .repo
        .transition_all(&[
            change(&a, Status::Running, false),
            change(&a, Status::Succeeded, true),
            // Finished by the change before it: refused, announces nothing.
            change(&a, Status::Running, true),
            change(&b, Status::Running, false),
            Change {
                id: "0190b6a8-7d2c-7f3e-8a4b-0000000000ff".into(),
                ..change(&b, Status::Failed, true)
            },
        ])
        .await
        .unwrap();
    assert_eq!(applied, [true, true, false, true, false]);
    let (ra, rb) = (
        s.repo.get(&a.id).await.unwrap(),
        s.repo.get(&b.id).await.unwrap(),
    );
    assert_eq!(ra.status, Status::Succeeded);
    assert!(ra.started_at.is_some() && ra.finished_at.is_some());
    assert_eq!(rb.status, Status::Running);
    assert_eq!(outbox_rows(&s).await, 3, "the two inserts' and a's success");

    let mut found: Vec<String> = s
        .repo
        .get_many(&[
            a.id.as_str(),
            "0190b6a8-7d2c-7f3e-8a4b-0000000000ff",
            b.id.as_str(),
        ])
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    found.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(found, expected, "the unknown id is left out");
    assert!(s.repo.get_many(&[]).await.unwrap().is_empty());
}

on_both_backends!(
    an_inserted_job_reads_back_whole_with_its_announcement,
    a_request_id_replays_the_same_body_and_refuses_another,
    an_unknown_job_is_not_found,
    lists_are_newest_first_filtered_and_paged,
    transitions_follow_the_state_machine,
    overlong_messages_are_clipped_to_fit,
    a_retry_starts_the_next_attempt_from_scratch,
    changes_in_one_batch_apply_in_order_and_each_answers_alone,
);
