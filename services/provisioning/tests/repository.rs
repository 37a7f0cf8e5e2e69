//! One repository suite, run against MariaDB and SQLite.

use cg_testkit::{Backend, TestDb, on_both_backends};

use std::collections::HashSet;

use cg_runtime::db;
use clustergenie_proto::events::v1 as ev;
use provisioning::{
    MIGRATOR,
    cloud::{CloudConfig, SimulatedCloud},
    domain::{
        ActionStatus, ActionType, ClusterName, ClusterStatus, Description, DropletName,
        DropletStatus, FaultKind, Tags,
    },
    error::Error,
    repo::{
        ActionFilter, ClusterFilter, ClusterPatch, Created, DropletFilter, Effect, FaultFilter,
        Idempotency, NewAction, NewCluster, NewDroplet, NewFault, Outcome, PageRequest, Pending,
        ProvisioningRepository, SqlRepository,
    },
};

struct Fixture {
    repo: SqlRepository,
    cloud: SimulatedCloud,
    _db: TestDb,
}

async fn fixture(backend: Backend, capacity: u32) -> Fixture {
    let db = TestDb::new(backend).await;
    let pool = db::connect(&db.config(), &db::with_runtime(&MIGRATOR))
        .await
        .expect("connect");
    Fixture {
        repo: SqlRepository::new(&pool),
        cloud: SimulatedCloud::new(CloudConfig {
            region_capacity: capacity,
            ..CloudConfig::default()
        }),
        _db: db,
    }
}

const NOW: i64 = 1_700_000_000_000;

fn new_cluster(name: &str, region: &'static str, tags: &[&str]) -> NewCluster {
    NewCluster {
        id: cg_runtime::new_id(),
        name: ClusterName::parse(name).unwrap(),
        description: Description::parse("").unwrap(),
        region,
        tags: Tags::parse(&tags.iter().map(|t| t.to_string()).collect::<Vec<_>>()).unwrap(),
        now: NOW,
    }
}

fn new_droplet(cluster_id: &str, name: &str) -> NewDroplet {
    NewDroplet {
        id: cg_runtime::new_id(),
        cluster_id: cluster_id.into(),
        name: DropletName::parse(name).unwrap(),
        size: "s-1vcpu-1gb",
        image: "ubuntu-24-04-x64",
        tags: Tags::default(),
        boot_at: NOW,
        now: NOW,
    }
}

fn page(size: u32) -> PageRequest {
    PageRequest { size, after: None }
}

async fn cluster(f: &Fixture, name: &str) -> String {
    f.repo
        .create_cluster(new_cluster(name, "nyc1", &[]), None)
        .await
        .unwrap()
        .id()
        .to_string()
}

async fn droplet(f: &Fixture, cluster_id: &str, name: &str) -> String {
    f.repo
        .create_droplet(new_droplet(cluster_id, name), &f.cloud, None)
        .await
        .unwrap()
        .id()
        .to_string()
}

async fn clusters_are_created_read_filtered_and_paginated(backend: Backend) {
    let f = fixture(backend, 100).await;
    for i in 0..5 {
        let region = if i % 2 == 0 { "nyc1" } else { "ams3" };
        let tags: &[&str] = if i < 2 { &["prod"] } else { &["dev"] };
        f.repo
            .create_cluster(new_cluster(&format!("c{i}"), region, tags), None)
            .await
            .unwrap();
    }
    let nyc = f
        .repo
        .list_clusters(
            &ClusterFilter {
                region: Some("nyc1".into()),
                ..Default::default()
            },
            &page(10),
        )
        .await
        .unwrap();
    assert_eq!(nyc.items.len(), 3);
    assert!(nyc.items.iter().all(|c| c.region == "nyc1"));
    let prod = f
        .repo
        .list_clusters(
            &ClusterFilter {
                tag: Some("prod".into()),
                ..Default::default()
            },
            &page(10),
        )
        .await
        .unwrap();
    let names: Vec<_> = prod.items.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["c0", "c1"]);

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let p = f
            .repo
            .list_clusters(&ClusterFilter::default(), &PageRequest { size: 2, after })
            .await
            .unwrap();
        assert!(p.items.len() <= 2);
        seen.extend(p.items.into_iter().map(|c| c.name));
        match p.next_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["c0", "c1", "c2", "c3", "c4"]);
    let deleting = f
        .repo
        .list_clusters(
            &ClusterFilter {
                status: Some(ClusterStatus::Deleting),
                ..Default::default()
            },
            &page(10),
        )
        .await
        .unwrap();
    assert!(deleting.items.is_empty());
}

async fn cluster_names_are_unique(backend: Backend) {
    let f = fixture(backend, 100).await;
    cluster(&f, "web").await;
    let err = f
        .repo
        .create_cluster(new_cluster("web", "ams3", &[]), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
}

async fn clusters_are_updated_by_patch(backend: Backend) {
    let f = fixture(backend, 100).await;
    let id = cluster(&f, "web").await;
    let c = f
        .repo
        .update_cluster(
            &id,
            ClusterPatch {
                name: Some(ClusterName::parse("api").unwrap()),
                tags: Some(Tags::parse(&["x".into()]).unwrap()),
                description: None,
            },
            NOW + 1,
        )
        .await
        .unwrap();
    assert_eq!(c.name, "api");
    assert_eq!(c.tags, ["x"]);
    assert_eq!(c.updated_at, NOW + 1);
    let missing = f
        .repo
        .update_cluster(&cg_runtime::new_id(), ClusterPatch::default(), NOW)
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }));
}

async fn deleting_a_cluster_with_droplets_needs_force(backend: Backend) {
    let f = fixture(backend, 100).await;
    let id = cluster(&f, "web").await;
    let d1 = droplet(&f, &id, "a").await;
    droplet(&f, &id, "b").await;
    let err = f.repo.delete_cluster(&id, false, NOW).await.unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    assert_eq!(f.repo.delete_cluster(&id, true, NOW).await.unwrap(), 2);
    assert!(matches!(
        f.repo.get_cluster(&id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(
        f.repo.get_droplet(&d1).await.unwrap().status,
        DropletStatus::Archive
    );
    // An empty cluster deletes without force.
    let empty = cluster(&f, "empty").await;
    assert_eq!(f.repo.delete_cluster(&empty, false, NOW).await.unwrap(), 0);
}

async fn droplets_get_distinct_addresses_and_count_towards_cost(backend: Backend) {
    let f = fixture(backend, 100).await;
    let id = cluster(&f, "web").await;
    let mut ips = HashSet::new();
    for i in 0..20 {
        let d = droplet(&f, &id, &format!("d{i}")).await;
        let d = f.repo.get_droplet(&d).await.unwrap();
        assert_eq!(d.status, DropletStatus::New);
        assert_eq!(d.cluster_name, "web");
        assert!(ips.insert(d.public_ipv4.clone()));
    }
    let c = f.repo.get_cluster(&id).await.unwrap();
    assert_eq!(c.droplet_count, 20);
    assert_eq!(c.cost.monthly_cents, 20 * 600);
    assert_eq!(c.cost.hourly_micros, 20 * 8_930);
}

async fn droplet_names_are_unique_per_cluster_among_live_droplets(backend: Backend) {
    let f = fixture(backend, 100).await;
    let a = cluster(&f, "a").await;
    let b = cluster(&f, "b").await;
    let first = droplet(&f, &a, "web").await;
    droplet(&f, &b, "web").await;
    let err = f
        .repo
        .create_droplet(new_droplet(&a, "web"), &f.cloud, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
    f.repo.destroy_droplet(&first, NOW).await.unwrap();
    droplet(&f, &a, "web").await;
}

async fn a_full_region_is_refused_and_destroying_frees_room(backend: Backend) {
    let f = fixture(backend, 3).await;
    let id = cluster(&f, "web").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(droplet(&f, &id, &format!("d{i}")).await);
    }
    let err = f
        .repo
        .create_droplet(new_droplet(&id, "d3"), &f.cloud, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResourceExhausted { .. }), "{err:?}");
    f.repo.destroy_droplet(&ids[0], NOW).await.unwrap();
    droplet(&f, &id, "d3").await;
    assert_eq!(f.repo.get_cluster(&id).await.unwrap().droplet_count, 3);
}

async fn a_request_id_replays_or_rejects_a_different_body(backend: Backend) {
    let f = fixture(backend, 100).await;
    let id = cluster(&f, "web").await;
    let key = |fp: &str| {
        Some(Idempotency {
            request_id: "req-1".into(),
            fingerprint: fp.into(),
        })
    };
    let first = f
        .repo
        .create_droplet(new_droplet(&id, "a"), &f.cloud, key("fp-a"))
        .await
        .unwrap();
    assert!(matches!(first, Created::New(_)));
    let again = f
        .repo
        .create_droplet(new_droplet(&id, "a"), &f.cloud, key("fp-a"))
        .await
        .unwrap();
    assert_eq!(again, Created::Replayed(first.id().to_string()));
    let other = f
        .repo
        .create_droplet(new_droplet(&id, "b"), &f.cloud, key("fp-b"))
        .await
        .unwrap_err();
    assert!(matches!(other, Error::IdempotencyMismatch(_)), "{other:?}");
    let remembered = f
        .repo
        .remembered("droplet", "req-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(remembered.resource_id, first.id());
}

async fn an_action_locks_its_droplet_until_it_finishes(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    assert!(f.repo.activate_droplet(&d, NOW).await.unwrap());
    assert!(
        !f.repo.activate_droplet(&d, NOW).await.unwrap(),
        "second activation is a no-op"
    );
    let action = |kind| NewAction {
        id: cg_runtime::new_id(),
        droplet_id: d.clone(),
        kind,
        param: "s-2vcpu-4gb".into(),
        now: NOW,
        due_at: NOW + 10,
    };
    let a = f
        .repo
        .begin_action(action(ActionType::Resize), DropletStatus::Active, None)
        .await
        .unwrap();
    let locked = f
        .repo
        .begin_action(action(ActionType::Reboot), DropletStatus::Active, None)
        .await
        .unwrap_err();
    assert!(matches!(locked, Error::FailedPrecondition(_)), "{locked:?}");
    assert!(matches!(
        f.repo.destroy_droplet(&d, NOW).await.unwrap_err(),
        Error::FailedPrecondition(_)
    ));
    assert_eq!(
        f.repo.pending().await.unwrap(),
        [Pending::Action {
            action_id: a.id().to_string(),
            at: NOW + 10
        }]
    );
    let done = f
        .repo
        .finish_action(
            a.id(),
            Outcome::Completed(Effect::Resize("s-2vcpu-4gb".into())),
            NOW + 10,
        )
        .await
        .unwrap();
    assert!(done);
    assert!(
        !f.repo
            .finish_action(a.id(), Outcome::Errored("late".into()), NOW + 11)
            .await
            .unwrap()
    );
    let droplet = f.repo.get_droplet(&d).await.unwrap();
    assert_eq!(droplet.size, "s-2vcpu-4gb");
    assert_eq!(droplet.locked_by, None);
    let action_row = f.repo.get_action(a.id()).await.unwrap();
    assert_eq!(action_row.status, ActionStatus::Completed);
    assert_eq!(action_row.completed_at, Some(NOW + 10));
    // Unlocked again: the next action is accepted.
    f.repo
        .begin_action(action(ActionType::PowerOff), DropletStatus::Active, None)
        .await
        .unwrap();
}

async fn an_action_from_the_wrong_status_is_refused(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    let err = f
        .repo
        .begin_action(
            NewAction {
                id: cg_runtime::new_id(),
                droplet_id: d,
                kind: ActionType::PowerOn,
                param: String::new(),
                now: NOW,
                due_at: NOW,
            },
            DropletStatus::Off,
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
}

async fn destroy_action_archives_and_uncounts_the_droplet(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    f.repo.activate_droplet(&d, NOW).await.unwrap();
    let a = f
        .repo
        .begin_action(
            NewAction {
                id: cg_runtime::new_id(),
                droplet_id: d.clone(),
                kind: ActionType::Destroy,
                param: String::new(),
                now: NOW,
                due_at: NOW,
            },
            DropletStatus::Active,
            None,
        )
        .await
        .unwrap();
    f.repo
        .finish_action(a.id(), Outcome::Completed(Effect::Destroy), NOW)
        .await
        .unwrap();
    assert_eq!(
        f.repo.get_droplet(&d).await.unwrap().status,
        DropletStatus::Archive
    );
    assert_eq!(f.repo.get_cluster(&c).await.unwrap().droplet_count, 0);
    let live = f
        .repo
        .list_droplets(&DropletFilter::default(), &page(10))
        .await
        .unwrap();
    assert!(
        live.items.is_empty(),
        "archived droplets are hidden by default"
    );
    let all = f
        .repo
        .list_droplets(
            &DropletFilter {
                include_archived: true,
                ..Default::default()
            },
            &page(10),
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
}

async fn droplets_filter_by_cluster_status_region_and_tag(backend: Backend) {
    let f = fixture(backend, 100).await;
    let a = cluster(&f, "a").await;
    let b = f
        .repo
        .create_cluster(new_cluster("b", "sfo3", &[]), None)
        .await
        .unwrap()
        .id()
        .to_string();
    let mut tagged = new_droplet(&a, "t");
    tagged.tags = Tags::parse(&["web".into()]).unwrap();
    f.repo.create_droplet(tagged, &f.cloud, None).await.unwrap();
    let active = droplet(&f, &a, "x").await;
    f.repo.activate_droplet(&active, NOW).await.unwrap();
    droplet(&f, &b, "y").await;

    let list = |filter: DropletFilter| {
        let repo = f.repo.clone();
        async move {
            repo.list_droplets(&filter, &page(100))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(DropletFilter {
            cluster_id: Some(a.clone()),
            ..Default::default()
        })
        .await,
        ["t", "x"]
    );
    assert_eq!(
        list(DropletFilter {
            region: Some("sfo3".into()),
            ..Default::default()
        })
        .await,
        ["y"]
    );
    assert_eq!(
        list(DropletFilter {
            status: Some(DropletStatus::Active),
            ..Default::default()
        })
        .await,
        ["x"]
    );
    assert_eq!(
        list(DropletFilter {
            tag: Some("web".into()),
            ..Default::default()
        })
        .await,
        ["t"]
    );
}

async fn actions_list_newest_first(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    f.repo.activate_droplet(&d, NOW).await.unwrap();
    let mut ids = Vec::new();
    for kind in [
        ActionType::Reboot,
        ActionType::Snapshot,
        ActionType::PowerCycle,
    ] {
        let a = f
            .repo
            .begin_action(
                NewAction {
                    id: cg_runtime::new_id(),
                    droplet_id: d.clone(),
                    kind,
                    param: String::new(),
                    now: NOW,
                    due_at: NOW,
                },
                DropletStatus::Active,
                None,
            )
            .await
            .unwrap();
        f.repo
            .finish_action(a.id(), Outcome::Completed(Effect::None), NOW)
            .await
            .unwrap();
        ids.push(a.id().to_string());
    }
    let mine = ActionFilter {
        droplet_id: Some(d.clone()),
        ..ActionFilter::default()
    };
    let p = f.repo.list_actions(&mine, &page(2)).await.unwrap();
    let got: Vec<_> = p.items.iter().map(|a| a.id.clone()).collect();
    assert_eq!(got, [ids[2].clone(), ids[1].clone()]);
    let completed = ActionFilter {
        status: Some(ActionStatus::Completed),
        ..mine.clone()
    };
    let rest = f
        .repo
        .list_actions(
            &completed,
            &PageRequest {
                size: 2,
                after: p.next_after,
            },
        )
        .await
        .unwrap();
    // The oldest is the create, completed when the droplet booted.
    assert_eq!(rest.items.len(), 2);
    assert_eq!(rest.items[0].id, ids[0]);
    assert_eq!(rest.items[1].kind, ActionType::Create);
    assert!(rest.next_after.is_none());
    assert_eq!(f.repo.count_actions(&completed).await.unwrap(), 4);
    let skipped = f
        .repo
        .list_actions(
            &ActionFilter {
                skip: 3,
                ..mine.clone()
            },
            &page(2),
        )
        .await
        .unwrap();
    assert_eq!(skipped.items.len(), 1, "4 actions, 3 passed over");
    assert_eq!(skipped.items[0].kind, ActionType::Create);
}

async fn droplets_and_actions_get_distinct_numbers_and_are_found_by_them(backend: Backend) {
    let f = fixture(backend, 500).await;
    let c = cluster(&f, "web").await;
    let mut numbers = HashSet::new();
    let mut droplets = Vec::new();
    // More than one block of numbers.
    for i in 0..40 {
        let id = droplet(&f, &c, &format!("n{i}")).await;
        let d = f.repo.get_droplet(&id).await.unwrap();
        assert!(d.number >= 1, "droplet {id} has number {}", d.number);
        assert!(numbers.insert(d.number), "number {} twice", d.number);
        assert_eq!(f.repo.droplet_id_by_number(d.number).await.unwrap(), id);
        droplets.push(id);
    }
    let actions = f
        .repo
        .list_actions(&ActionFilter::default(), &page(100))
        .await
        .unwrap();
    assert_eq!(actions.items.len(), 40, "one create action per droplet");
    for a in &actions.items {
        assert_eq!(a.kind, ActionType::Create);
        assert_eq!(a.status, ActionStatus::InProgress);
        assert!(numbers.insert(a.number), "number {} twice", a.number);
        assert_eq!(f.repo.action_id_by_number(a.number).await.unwrap(), a.id);
    }
    // A second repository (another replica) never hands out the same ones.
    let other = f.repo.clone_fresh();
    let id = other
        .create_droplet(new_droplet(&c, "other"), &f.cloud, None)
        .await
        .unwrap()
        .id()
        .to_string();
    let n = f.repo.get_droplet(&id).await.unwrap().number;
    assert!(numbers.insert(n), "number {n} twice across replicas");
    assert!(matches!(
        f.repo.droplet_id_by_number(999_999_999).await,
        Err(Error::NotFound { .. })
    ));
    // Pending work leaves creates to the boot timer.
    assert!(
        f.repo
            .pending()
            .await
            .unwrap()
            .iter()
            .all(|p| matches!(p, Pending::Boot { .. }))
    );
}

async fn a_create_action_completes_with_the_boot_and_errors_with_an_early_destroy(
    backend: Backend,
) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let booted = droplet(&f, &c, "a").await;
    let early = droplet(&f, &c, "b").await;
    f.repo.activate_droplet(&booted, NOW + 5).await.unwrap();
    f.repo.destroy_droplet(&early, NOW + 6).await.unwrap();
    let create_of = |id: &str| ActionFilter {
        droplet_id: Some(id.to_string()),
        ..ActionFilter::default()
    };
    let a = f
        .repo
        .list_actions(&create_of(&booted), &page(5))
        .await
        .unwrap()
        .items;
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].kind, a[0].status, a[0].completed_at),
        (ActionType::Create, ActionStatus::Completed, Some(NOW + 5))
    );
    assert_eq!(f.repo.get_droplet(&booted).await.unwrap().locked_by, None);
    let b = f
        .repo
        .list_actions(&create_of(&early), &page(5))
        .await
        .unwrap()
        .items;
    assert_eq!(
        (b[0].status, b[0].completed_at),
        (ActionStatus::Errored, Some(NOW + 6))
    );
}

async fn a_completed_snapshot_adds_its_number_to_the_droplet(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    f.repo.activate_droplet(&d, NOW).await.unwrap();
    let mut expected = Vec::new();
    for _ in 0..2 {
        let a = f
            .repo
            .begin_action(
                NewAction {
                    id: cg_runtime::new_id(),
                    droplet_id: d.clone(),
                    kind: ActionType::Snapshot,
                    param: "snap".into(),
                    now: NOW,
                    due_at: NOW,
                },
                DropletStatus::Active,
                None,
            )
            .await
            .unwrap();
        f.repo
            .finish_action(a.id(), Outcome::Completed(Effect::Snapshot), NOW)
            .await
            .unwrap();
        expected.push(f.repo.get_action(a.id()).await.unwrap().number);
    }
    assert_eq!(f.repo.get_droplet(&d).await.unwrap().snapshot_ids, expected);
}

async fn tags_exist_by_creation_or_first_use_and_follow_droplets(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let mut tagged = new_droplet(&c, "a");
    tagged.tags = Tags::parse(&["web".to_string()]).unwrap();
    let a = f
        .repo
        .create_droplet(tagged, &f.cloud, None)
        .await
        .unwrap()
        .id()
        .to_string();
    let b = droplet(&f, &c, "b").await;
    // First use created "web"; "empty" is created with no droplet.
    assert_eq!(f.repo.get_tag("web").await.unwrap().droplets, 1);
    let empty = f.repo.create_tag("empty", NOW).await.unwrap();
    assert_eq!((empty.name.as_str(), empty.droplets), ("empty", 0));
    assert_eq!(
        f.repo.create_tag("empty", NOW + 1).await.unwrap(),
        empty,
        "idempotent"
    );
    f.repo
        .retag("web", std::slice::from_ref(&b), true, NOW)
        .await
        .unwrap();
    assert_eq!(f.repo.get_tag("web").await.unwrap().droplets, 2);
    assert_eq!(f.repo.get_droplet(&b).await.unwrap().tags, ["web"]);
    // All or none: one unknown droplet tags nobody.
    let err = f
        .repo
        .retag("empty", &[a.clone(), "nope".into()], true, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(f.repo.get_tag("empty").await.unwrap().droplets, 0);
    f.repo
        .retag("web", std::slice::from_ref(&a), false, NOW)
        .await
        .unwrap();
    assert!(f.repo.get_droplet(&a).await.unwrap().tags.is_empty());
    let names: Vec<_> = f
        .repo
        .list_tags(0, &page(10))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["empty", "web"]);
    assert_eq!(f.repo.count_tags().await.unwrap(), 2);
    assert_eq!(f.repo.list_tags(1, &page(10)).await.unwrap().items.len(), 1);
    f.repo.delete_tag("web", NOW).await.unwrap();
    assert!(f.repo.get_droplet(&b).await.unwrap().tags.is_empty());
    assert!(matches!(
        f.repo.get_tag("web").await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        f.repo.delete_tag("web", NOW).await,
        Err(Error::NotFound { .. })
    ));
}

async fn rows_from_before_numbers_and_tag_objects_get_them(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let mut tagged = new_droplet(&c, "a");
    tagged.tags = Tags::parse(&["old".to_string()]).unwrap();
    let d = f
        .repo
        .create_droplet(tagged, &f.cloud, None)
        .await
        .unwrap()
        .id()
        .to_string();
    // As an older version (or a replica mid-upgrade) left them.
    for sql in [
        "UPDATE droplets SET number = NULL",
        "UPDATE droplet_actions SET number = NULL, droplet_number = NULL",
        "DELETE FROM tags",
    ] {
        sqlx::query(sql).execute(f.repo.pool()).await.unwrap();
    }
    assert_eq!(f.repo.number_old_rows().await.unwrap(), 2);
    assert_eq!(f.repo.number_old_rows().await.unwrap(), 0, "once");
    let droplet = f.repo.get_droplet(&d).await.unwrap();
    assert!(droplet.number >= 1);
    let create = &f
        .repo
        .list_actions(
            &ActionFilter {
                droplet_id: Some(d.clone()),
                ..ActionFilter::default()
            },
            &page(5),
        )
        .await
        .unwrap()
        .items[0];
    assert!(create.number >= 1 && create.number != droplet.number);
    assert_eq!(create.droplet_number, droplet.number);
    assert_eq!(f.repo.register_old_tags(NOW).await.unwrap(), 1);
    assert_eq!(f.repo.register_old_tags(NOW).await.unwrap(), 0, "once");
    let tags = f.repo.list_tags(0, &page(5)).await.unwrap().items;
    assert_eq!(
        tags.iter()
            .map(|t| (t.name.as_str(), t.droplets))
            .collect::<Vec<_>>(),
        [("old", 1)]
    );
}

async fn concurrent_taggers_of_one_droplet_lose_no_tag(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    let taggers = (0..12).map(|i| {
        let (repo, d) = (f.repo.clone_fresh(), d.clone());
        async move { repo.retag(&format!("t{i}"), &[d], true, NOW).await }
    });
    for r in futures::future::join_all(taggers).await {
        r.unwrap();
    }
    let mut tags = f.repo.get_droplet(&d).await.unwrap().tags;
    tags.sort();
    let mut expected: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    expected.sort();
    assert_eq!(tags, expected);
}

async fn droplets_count_and_skip_for_numbered_pages(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(droplet(&f, &c, &format!("p{i}")).await);
    }
    ids.sort();
    let mut filter = DropletFilter {
        cluster_id: Some(c.clone()),
        ..DropletFilter::default()
    };
    assert_eq!(f.repo.count_droplets(&filter).await.unwrap(), 5);
    filter.skip = 2;
    let p = f.repo.list_droplets(&filter, &page(2)).await.unwrap();
    let got: Vec<_> = p.items.iter().map(|d| d.id.clone()).collect();
    assert_eq!(got, ids[2..4].to_vec());
    assert!(p.next_after.is_some());
    filter.skip = 4;
    let last = f.repo.list_droplets(&filter, &page(2)).await.unwrap();
    assert_eq!(last.items.len(), 1);
    assert!(last.next_after.is_none());
    let named = DropletFilter {
        name: Some("p3".into()),
        ..DropletFilter::default()
    };
    assert_eq!(f.repo.count_droplets(&named).await.unwrap(), 1);
    let by_name = f
        .repo
        .list_clusters(
            &ClusterFilter {
                name: Some("web".into()),
                ..ClusterFilter::default()
            },
            &page(5),
        )
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    assert_eq!(by_name.items[0].id, c);
}

async fn a_rename_to_a_name_taken_meanwhile_errors(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    f.repo.activate_droplet(&d, NOW).await.unwrap();
    let a = f
        .repo
        .begin_action(
            NewAction {
                id: cg_runtime::new_id(),
                droplet_id: d.clone(),
                kind: ActionType::Rename,
                param: "b".into(),
                now: NOW,
                due_at: NOW,
            },
            DropletStatus::Active,
            None,
        )
        .await
        .unwrap();
    droplet(&f, &c, "b").await;
    assert!(
        f.repo
            .finish_action(a.id(), Outcome::Completed(Effect::Rename("b".into())), NOW)
            .await
            .unwrap()
    );
    let action = f.repo.get_action(a.id()).await.unwrap();
    assert_eq!(action.status, ActionStatus::Errored);
    let droplet = f.repo.get_droplet(&d).await.unwrap();
    assert_eq!(droplet.name, "a");
    assert_eq!(droplet.locked_by, None);
}

async fn text_outside_latin1_is_stored_alike_on_every_backend(backend: Backend) {
    let f = fixture(backend, 100).await;
    let mut new = new_cluster("intl", "nyc1", &[]);
    new.description = Description::parse("東京 cluster — ünïcode ✓ 🚀").unwrap();
    let id = f.repo.create_cluster(new, None).await.unwrap();
    let got = f.repo.get_cluster(id.id()).await.unwrap();
    assert_eq!(got.description, "東京 cluster — ünïcode ✓ 🚀");
}

async fn renaming_a_cluster_renames_it_on_its_droplets(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "old").await;
    let d = droplet(&f, &c, "a").await;
    f.repo
        .update_cluster(
            &c,
            ClusterPatch {
                name: Some(ClusterName::parse("new").unwrap()),
                ..Default::default()
            },
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(f.repo.get_droplet(&d).await.unwrap().cluster_name, "new");
}

fn fault(droplet_id: &str, kind: FaultKind, start: i64, end: i64) -> NewFault {
    NewFault {
        id: cg_runtime::new_id(),
        droplet_id: droplet_id.into(),
        kind,
        start_at: start,
        end_at: end,
    }
}

async fn a_crash_turns_the_droplet_off_until_it_ends(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    let other = droplet(&f, &c, "b").await;
    f.repo.activate_droplet(&d, NOW).await.unwrap();
    f.repo.activate_droplet(&other, NOW).await.unwrap();
    let crash = f
        .repo
        .inject_fault(fault(&d, FaultKind::Crash, NOW, NOW + 1000), None)
        .await
        .unwrap();
    let Created::New(crash) = crash else {
        panic!("a new fault")
    };
    assert_eq!(crash.cluster_id, c);
    assert_eq!(
        f.repo.get_droplet(&d).await.unwrap().status,
        DropletStatus::Off
    );
    let again = f
        .repo
        .inject_fault(fault(&d, FaultKind::Crash, NOW + 1, NOW + 1000), None)
        .await
        .unwrap_err();
    assert!(matches!(again, Error::FailedPrecondition(_)), "{again:?}");
    // The crashed droplet leaves the fleet's load; the other stays.
    let (live, open) = f.repo.fleet(NOW + 10).await.unwrap();
    assert_eq!(
        live.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        [other.as_str()]
    );
    assert_eq!(open.len(), 1);
    assert_eq!(f.repo.end_due_faults(NOW + 999).await.unwrap(), 0);
    assert_eq!(f.repo.end_due_faults(NOW + 1000).await.unwrap(), 1);
    assert_eq!(f.repo.end_due_faults(NOW + 1001).await.unwrap(), 0);
    assert_eq!(
        f.repo.get_droplet(&d).await.unwrap().status,
        DropletStatus::Active
    );
    assert!(f.repo.fleet(NOW + 1001).await.unwrap().1.is_empty());
}

async fn one_open_fault_per_kind_and_an_expired_one_frees_its_kind(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let d = droplet(&f, &c, "a").await;
    f.repo
        .inject_fault(fault(&d, FaultKind::CpuSpike, NOW, NOW + 100), None)
        .await
        .unwrap();
    let twice = f
        .repo
        .inject_fault(fault(&d, FaultKind::CpuSpike, NOW + 50, NOW + 150), None)
        .await
        .unwrap_err();
    assert!(matches!(twice, Error::AlreadyExists(_)), "{twice:?}");
    // Another kind on the same droplet is fine.
    f.repo
        .inject_fault(fault(&d, FaultKind::MemoryLeak, NOW + 50, NOW + 150), None)
        .await
        .unwrap();
    // Past its end, though no sweep has run: a new spike is accepted.
    f.repo
        .inject_fault(fault(&d, FaultKind::CpuSpike, NOW + 200, NOW + 300), None)
        .await
        .unwrap();
}

async fn faults_need_a_live_droplet(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let booting = droplet(&f, &c, "a").await;
    let gone = droplet(&f, &c, "b").await;
    f.repo.destroy_droplet(&gone, NOW).await.unwrap();
    let missing = cg_runtime::new_id();
    assert!(matches!(
        f.repo
            .inject_fault(fault(&missing, FaultKind::CpuSpike, NOW, NOW + 10), None)
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        f.repo
            .inject_fault(fault(&gone, FaultKind::CpuSpike, NOW, NOW + 10), None)
            .await
            .unwrap_err(),
        Error::FailedPrecondition(_)
    ));
    // Only a running droplet can crash; a spike may wait for the boot.
    assert!(matches!(
        f.repo
            .inject_fault(fault(&booting, FaultKind::Crash, NOW, NOW + 10), None)
            .await
            .unwrap_err(),
        Error::FailedPrecondition(_)
    ));
    f.repo
        .inject_fault(fault(&booting, FaultKind::CpuSpike, NOW, NOW + 10), None)
        .await
        .unwrap();
}

async fn faults_are_listed_open_or_all_and_cleared_early(backend: Backend) {
    let f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    let elsewhere = cluster(&f, "db").await;
    let a = droplet(&f, &c, "a").await;
    let b = droplet(&f, &c, "b").await;
    let z = droplet(&f, &elsewhere, "z").await;
    let mut ids = Vec::new();
    for (d, kind) in [
        (&a, FaultKind::CpuSpike),
        (&a, FaultKind::DiskFilling),
        (&b, FaultKind::NetworkLoss),
        (&z, FaultKind::MemoryLeak),
    ] {
        let created = f
            .repo
            .inject_fault(fault(d, kind, NOW, NOW + 60_000), None)
            .await
            .unwrap();
        ids.push(created.id().to_string());
    }
    let list = |cluster: Option<&str>, droplet: Option<&str>, include_ended: bool, now: i64| {
        let filter = FaultFilter {
            cluster_id: cluster.map(Into::into),
            droplet_id: droplet.map(Into::into),
            include_ended,
            now,
        };
        let repo = f.repo.clone();
        async move {
            let mut out = Vec::new();
            let mut after = None;
            loop {
                let p = repo
                    .list_faults(&filter, &PageRequest { size: 1, after })
                    .await
                    .unwrap();
                out.extend(p.items.into_iter().map(|f| f.id));
                match p.next_after {
                    Some(next) => after = Some(next),
                    None => return out,
                }
            }
        }
    };
    assert_eq!(list(Some(&c), None, false, NOW + 1).await, ids[..3]);
    assert_eq!(list(None, Some(&a), false, NOW + 1).await, ids[..2]);
    let cleared = f.repo.clear_fault(&ids[0], NOW + 500).await.unwrap();
    assert_eq!(cleared.end_at, NOW + 500);
    // Clearing again changes nothing.
    let again = f.repo.clear_fault(&ids[0], NOW + 900).await.unwrap();
    assert_eq!(again.end_at, NOW + 500);
    assert_eq!(list(Some(&c), None, false, NOW + 600).await, ids[1..3]);
    assert_eq!(list(Some(&c), None, true, NOW + 600).await, ids[..3]);
    assert!(matches!(
        f.repo
            .clear_fault(&cg_runtime::new_id(), NOW)
            .await
            .unwrap_err(),
        Error::NotFound { .. }
    ));
}

async fn one_replica_holds_the_lease_until_it_expires(backend: Backend) {
    let f = fixture(backend, 100).await;
    // (holder, until, now, whether it holds the lease afterwards)
    let steps = [
        ("a", 100, 0, true),
        ("b", 150, 50, false),
        ("a", 200, 60, true),
        // Renewed within the same millisecond: still held.
        ("a", 200, 60, true),
        ("b", 300, 199, false),
        // Expired: the other replica takes over.
        ("b", 400, 201, true),
        ("a", 400, 202, false),
    ];
    for (holder, until, now, held) in steps {
        let got = f
            .repo
            .lease("sampler", holder, NOW + until, NOW + now)
            .await
            .unwrap();
        assert_eq!(got, held, "{holder} at +{now}");
    }
}

/// The activity entries in the outbox, oldest first: (kind, severity, droplet).
async fn activity(repo: &SqlRepository) -> Vec<(String, i32, String)> {
    use prost::Message as _;
    use sqlx::Row as _;
    sqlx::query("SELECT id, event_key, payload FROM outbox WHERE topic = 'cg.activity' ORDER BY id")
        .fetch_all(repo.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let e = ev::Activity::decode(row.get::<Vec<u8>, _>("payload").as_slice()).unwrap();
            assert_eq!(
                row.get::<String, _>("id"),
                e.id,
                "published under its own id"
            );
            assert_eq!(row.get::<String, _>("event_key"), e.cluster_id);
            assert_eq!(e.source, "provisioning");
            (e.kind, e.severity, e.droplet_id)
        })
        .collect()
}

/// The droplet events in the outbox, oldest first.
async fn announced(repo: &SqlRepository) -> Vec<(ev::DropletEventKind, String)> {
    use prost::Message as _;
    use sqlx::Row as _;
    sqlx::query(
        "SELECT topic, event_key, payload FROM outbox WHERE topic = 'cg.droplets.events' ORDER BY id",
    )
    .fetch_all(repo.pool())
    .await
    .unwrap()
    .iter()
    .map(|row| {
            let e = ev::DropletEvent::decode(row.get::<Vec<u8>, _>("payload").as_slice()).unwrap();
            let kind = e.kind();
            let droplet = e.droplet.unwrap();
            assert_eq!(row.get::<String, _>("event_key"), droplet.cluster_id);
            (kind, droplet.id)
        })
        .collect()
}

async fn droplet_changes_are_announced_in_the_same_transaction(backend: Backend) {
    use ev::DropletEventKind as K;
    let mut f = fixture(backend, 100).await;
    let c = cluster(&f, "web").await;
    // Without a broker nothing is written to the outbox.
    let quiet = droplet(&f, &c, "quiet").await;
    assert!(announced(&f.repo).await.is_empty());
    f.repo = f.repo.clone().announcing(true);
    let d = droplet(&f, &c, "a").await;
    // A create that fails (the name is taken) announces nothing.
    f.repo
        .create_droplet(new_droplet(&c, "a"), &f.cloud, None)
        .await
        .unwrap_err();
    f.repo.activate_droplet(&d, NOW).await.unwrap();
    let action = |kind, param: &str| NewAction {
        id: cg_runtime::new_id(),
        droplet_id: d.clone(),
        kind,
        param: param.into(),
        now: NOW,
        due_at: NOW,
    };
    let resize = f
        .repo
        .begin_action(
            action(ActionType::Resize, "s-2vcpu-4gb"),
            DropletStatus::Active,
            None,
        )
        .await
        .unwrap();
    f.repo
        .finish_action(
            resize.id(),
            Outcome::Completed(Effect::Resize("s-2vcpu-4gb".into())),
            NOW,
        )
        .await
        .unwrap();
    let reboot = f
        .repo
        .begin_action(action(ActionType::Reboot, ""), DropletStatus::Active, None)
        .await
        .unwrap();
    f.repo
        .finish_action(
            reboot.id(),
            Outcome::Errored("hypervisor said no".into()),
            NOW,
        )
        .await
        .unwrap();
    let crash = f
        .repo
        .inject_fault(fault(&d, FaultKind::Crash, NOW, NOW + 5), None)
        .await
        .unwrap();
    f.repo.clear_fault(crash.id(), NOW + 1).await.unwrap();
    f.repo.destroy_droplet(&d, NOW).await.unwrap();
    f.repo.delete_cluster(&c, true, NOW).await.unwrap();
    let expected = [
        K::Created,
        K::Active,
        K::ActionStarted,
        K::Resized,
        K::ActionCompleted,
        K::ActionStarted,
        K::ActionErrored,
        K::FaultStarted,
        K::FaultEnded,
        K::Destroyed,
    ];
    let events = announced(&f.repo).await;
    let (mine, rest): (Vec<_>, Vec<_>) = events.into_iter().partition(|(_, id)| *id == d);
    assert_eq!(mine.into_iter().map(|e| e.0).collect::<Vec<_>>(), expected);
    // Deleting the cluster with force destroyed the quiet droplet too.
    assert_eq!(rest, [(K::Destroyed, quiet.clone())]);
    // The activity log hears of what an operator follows, in the same
    // transactions.
    let (info, warning, error) = (1, 2, 3);
    let log: Vec<(String, i32)> = activity(&f.repo)
        .await
        .into_iter()
        .filter(|(_, _, id)| *id == d)
        .map(|(kind, severity, _)| (kind, severity))
        .collect();
    let expected: Vec<(String, i32)> = [
        ("droplet.created", info),
        ("action.completed", info),
        ("action.errored", error),
        ("fault.injected", warning),
        ("fault.cleared", info),
        ("droplet.destroyed", info),
    ]
    .into_iter()
    .map(|(k, s)| (k.to_string(), s))
    .collect();
    assert_eq!(log, expected);
}

on_both_backends!(
    a_rename_to_a_name_taken_meanwhile_errors,
    text_outside_latin1_is_stored_alike_on_every_backend,
    renaming_a_cluster_renames_it_on_its_droplets,
    clusters_are_created_read_filtered_and_paginated,
    cluster_names_are_unique,
    clusters_are_updated_by_patch,
    deleting_a_cluster_with_droplets_needs_force,
    droplets_get_distinct_addresses_and_count_towards_cost,
    droplet_names_are_unique_per_cluster_among_live_droplets,
    a_full_region_is_refused_and_destroying_frees_room,
    a_request_id_replays_or_rejects_a_different_body,
    an_action_locks_its_droplet_until_it_finishes,
    an_action_from_the_wrong_status_is_refused,
    destroy_action_archives_and_uncounts_the_droplet,
    droplets_filter_by_cluster_status_region_and_tag,
    actions_list_newest_first,
    droplets_and_actions_get_distinct_numbers_and_are_found_by_them,
    a_create_action_completes_with_the_boot_and_errors_with_an_early_destroy,
    a_completed_snapshot_adds_its_number_to_the_droplet,
    droplets_count_and_skip_for_numbered_pages,
    tags_exist_by_creation_or_first_use_and_follow_droplets,
    rows_from_before_numbers_and_tag_objects_get_them,
    concurrent_taggers_of_one_droplet_lose_no_tag,
    a_crash_turns_the_droplet_off_until_it_ends,
    one_open_fault_per_kind_and_an_expired_one_frees_its_kind,
    faults_need_a_live_droplet,
    faults_are_listed_open_or_all_and_cleared_early,
    one_replica_holds_the_lease_until_it_expires,
    droplet_changes_are_announced_in_the_same_transaction,
);
