//! The rules over hand-built snapshots: each fires on its situation and
//! stays quiet on a healthy cluster. (Scenario tests over the real fleet are
//! in `services/e2e/tests/diagnosis.rs`.)

use super::*;
use crate::facts::{ActivityFacts, HealthFacts, JobFacts, Series};

const NOW: i64 = 10_000_000;
const SEC: i64 = 1000;

fn size(slug: &str, vcpus: u32, memory_mb: u32, disk_gb: u32, cents: i64) -> SizeFacts {
    SizeFacts {
        slug: slug.into(),
        vcpus,
        memory_mb,
        disk_gb,
        monthly_cents: cents,
        regions: vec!["nyc1".into()],
    }
}

fn droplet(id: &str, slug: &str) -> DropletFacts {
    let (vcpus, memory_mb, disk_gb) = match slug {
        "s-1vcpu-1gb" => (1, 1024, 25),
        "s-1vcpu-2gb" => (1, 2048, 50),
        "s-2vcpu-4gb" => (2, 4096, 80),
        _ => (4, 8192, 160),
    };
    DropletFacts {
        id: id.into(),
        name: format!("web-{id}"),
        size: slug.into(),
        image: "ubuntu-24-04-x64".into(),
        state: DropletState::Active,
        public_ip: String::new(),
        private_ip: String::new(),
        tags: vec![],
        locked: false,
        vcpus,
        memory_mb,
        disk_gb,
    }
}

/// A series of one sample per second over the last `secs`, valued `f(i)`.
fn series(droplet: &str, metric: Metric, secs: i64, f: impl Fn(i64) -> f64) -> Series {
    Series {
        droplet_id: droplet.into(),
        metric,
        points: (0..secs)
            .map(|i| Point {
                t: NOW - (secs - i) * SEC,
                v: f(i),
            })
            .collect(),
    }
}

/// A calm cluster: two droplets, steady moderate load.
fn calm(ids: &[&str]) -> Snapshot {
    let mut s = Snapshot {
        cluster_id: "c1".into(),
        cluster_name: "shop".into(),
        region: "nyc1".into(),
        tags: vec![],
        droplets: ids.iter().map(|id| droplet(id, "s-1vcpu-2gb")).collect(),
        sizes: vec![
            size("s-1vcpu-1gb", 1, 1024, 25, 600),
            size("s-1vcpu-2gb", 1, 2048, 50, 1200),
            size("s-2vcpu-4gb", 2, 4096, 80, 2400),
            size("s-4vcpu-8gb", 4, 8192, 160, 4800),
        ],
        series: vec![],
        health: vec![],
        activity: vec![],
        actions: vec![],
        jobs: vec![],
        now_ms: NOW,
        window_ms: 120 * SEC,
        scope: None,
    };
    for id in ids {
        let wobble = |i: i64| if i % 2 == 0 { 0.5 } else { -0.5 };
        s.series
            .push(series(id, Metric::Cpu, 120, |i| 40.0 + wobble(i)));
        s.series
            .push(series(id, Metric::Memory, 120, |i| 50.0 + wobble(i)));
        s.series
            .push(series(id, Metric::Disk, 120, |i| 30.0 + wobble(i) * 0.1));
        s.series
            .push(series(id, Metric::NetIn, 120, |i| 60.0 + wobble(i)));
    }
    s
}

fn rules() -> Rules {
    Rules {
        window: Duration::from_secs(120),
        recent: Duration::from_secs(60),
        ..Rules::default()
    }
}

fn replace(s: &mut Snapshot, new: Series) {
    s.series
        .retain(|x| !(x.droplet_id == new.droplet_id && x.metric == new.metric));
    s.series.push(new);
}

fn analyzers(a: &Analysis) -> Vec<&str> {
    a.findings.iter().map(|f| f.analyzer.as_str()).collect()
}

#[test]
fn a_calm_cluster_of_two_has_no_findings() {
    let a = analyze(&calm(&["a", "b"]), &rules());
    assert!(a.findings.is_empty(), "{:?}", a.findings);
    assert!(a.recommendations.is_empty());
}

#[test]
fn one_saturated_droplet_gets_a_resize_to_more_vcpus_with_its_cost() {
    let mut s = calm(&["a", "b"]);
    replace(&mut s, series("a", Metric::Cpu, 120, |_| 97.0));
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["cpu_saturation"]);
    let f = &a.findings[0];
    assert_eq!(
        (f.severity, f.droplet_id.as_str()),
        (Severity::Critical, "a")
    );
    assert_eq!(f.evidence[0].metric, "cpu_percent");
    assert_eq!(f.evidence[0].value, 97.0);
    assert_eq!(f.evidence[0].window_ms, 60 * SEC);
    let r = &a.recommendations[0];
    assert_eq!(
        r.action,
        Some(Action::Resize {
            droplet_id: "a".into(),
            size: "s-2vcpu-4gb".into()
        })
    );
    assert_eq!(r.monthly_cost_delta_cents, 1200);
    assert_eq!(r.finding_ids, ["f1"]);
}

#[test]
fn a_saturated_cluster_gets_a_scale_out_instead() {
    let mut s = calm(&["a", "b"]);
    replace(&mut s, series("a", Metric::Cpu, 120, |_| 90.0));
    replace(&mut s, series("b", Metric::Cpu, 120, |_| 91.0));
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["cpu_saturation", "cpu_saturation"]);
    assert_eq!(a.recommendations.len(), 1, "one scale-out answers both");
    let r = &a.recommendations[0];
    assert!(matches!(r.action, Some(Action::Scale { target: 3, .. })));
    assert_eq!(r.finding_ids, ["f1", "f2"]);
    assert_eq!(r.monthly_cost_delta_cents, 1200);
}

#[test]
fn steadily_rising_memory_is_a_leak_with_a_resize_and_a_reboot() {
    let mut s = calm(&["a", "b"]);
    replace(
        &mut s,
        series("a", Metric::Memory, 120, |i| 40.0 + i as f64 * 0.2),
    );
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["memory_leak"]);
    let e = &a.findings[0].evidence[0];
    assert_eq!(e.metric, "memory_growth_percent_per_hour");
    assert!(
        (e.value - 720.0).abs() < 1.0,
        "0.2 %/s is 720 %/h: {}",
        e.value
    );
    let actions: Vec<_> = a.recommendations.iter().map(|r| r.action.clone()).collect();
    assert_eq!(
        actions,
        [
            Some(Action::Resize {
                droplet_id: "a".into(),
                size: "s-2vcpu-4gb".into()
            }),
            Some(Action::Reboot {
                droplet_id: "a".into()
            })
        ]
    );
}

#[test]
fn noisy_flat_memory_is_no_leak() {
    let mut s = calm(&["a"]);
    replace(
        &mut s,
        series("a", Metric::Memory, 120, |i| {
            50.0 + ((i * 7919) % 11) as f64 - 5.0
        }),
    );
    s.droplets.push(droplet("b", "s-1vcpu-2gb"));
    let a = analyze(&s, &rules());
    assert!(!analyzers(&a).contains(&"memory_leak"));
}

#[test]
fn a_filling_disk_says_when_it_is_full() {
    let mut s = calm(&["a", "b"]);
    // +0.1 %/s from 80 % → 360 %/h; at 92 % it is full in 8 % / 360 %/h.
    replace(
        &mut s,
        series("a", Metric::Disk, 120, |i| 80.0 + i as f64 * 0.1),
    );
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["disk_filling"]);
    let f = &a.findings[0];
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.evidence[0].metric, "disk_hours_to_full");
    assert!(f.evidence[0].value < 0.1, "{}", f.evidence[0].value);
    assert!(
        matches!(&a.recommendations[0].action, Some(Action::Resize { size, .. }) if size == "s-2vcpu-4gb")
    );
}

fn entry(id: &str, kind: &str, droplet: &str, attrs: &[(&str, &str)]) -> ActivityFacts {
    ActivityFacts {
        id: id.into(),
        kind: kind.into(),
        droplet_id: droplet.into(),
        job_id: String::new(),
        time_ms: NOW - 30 * SEC,
        message: String::new(),
        attributes: attrs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    }
}

#[test]
fn three_crashes_and_restarts_are_a_crash_loop_citing_the_entries() {
    let mut s = calm(&["a", "b"]);
    s.activity = vec![
        entry("e1", "fault.injected", "a", &[("fault", "crash")]),
        entry("e2", "action.completed", "a", &[("action", "power_cycle")]),
        entry("e3", "fault.injected", "a", &[("fault", "crash")]),
        entry("e4", "fault.injected", "a", &[("fault", "cpu_spike")]),
    ];
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["crash_loop"]);
    assert_eq!(a.findings[0].evidence[0].activity_ids, ["e1", "e2", "e3"]);
    assert!(
        a.recommendations[0].action.is_none(),
        "advice only while it runs"
    );
}

#[test]
fn a_crashed_droplet_that_is_off_gets_a_power_cycle() {
    let mut s = calm(&["a", "b"]);
    s.droplets[0].state = DropletState::Off;
    s.activity = vec![entry("e1", "fault.injected", "a", &[("fault", "crash")])];
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["droplet_down"]);
    assert_eq!(
        a.recommendations[0].action,
        Some(Action::PowerCycle {
            droplet_id: "a".into()
        })
    );
}

fn probe(check: &str, droplet: &str, healthy: bool, ago_s: i64) -> HealthFacts {
    HealthFacts {
        check_id: check.into(),
        droplet_id: droplet.into(),
        healthy,
        time_ms: NOW - ago_s * SEC,
        message: String::new(),
    }
}

#[test]
fn lost_packets_and_failing_probes_are_network_loss_and_failing_checks() {
    let mut s = calm(&["a", "b"]);
    replace(&mut s, series("a", Metric::NetIn, 120, |_| 1.2));
    s.health = vec![
        probe("hc1", "a", false, 30),
        probe("hc1", "a", false, 20),
        probe("hc1", "a", false, 10),
        probe("hc1", "b", true, 10),
    ];
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["failing_health_checks", "network_loss"]);
    for f in &a.findings {
        assert_eq!(f.severity, Severity::Critical);
        assert!(
            f.evidence
                .iter()
                .any(|e| e.health_check_ids == ["hc1"] && e.value == 3.0),
            "{f:?}"
        );
    }
    let network = a
        .recommendations
        .iter()
        .find(|r| r.finding_ids == ["f2"])
        .unwrap();
    assert!(network.action.is_none(), "no job fixes a lossy link");
}

#[test]
fn a_single_droplet_cluster_has_no_redundancy_and_is_told_to_scale_to_two() {
    let a = analyze(&calm(&["a"]), &rules());
    assert_eq!(analyzers(&a), ["no_redundancy"]);
    assert_eq!(a.findings[0].droplet_id, "");
    assert!(matches!(
        a.recommendations[0].action,
        Some(Action::Scale { target: 2, .. })
    ));
    assert_eq!(a.recommendations[0].monthly_cost_delta_cents, 1200);
    assert_eq!(a.recommendations[0].risk, Some(Risk::Low));
}

#[test]
fn an_idle_cluster_is_over_provisioned_and_shown_the_saving() {
    let mut s = calm(&["a", "b"]);
    for id in ["a", "b"] {
        replace(&mut s, series(id, Metric::Cpu, 120, |_| 3.0));
        replace(&mut s, series(id, Metric::Memory, 120, |_| 20.0));
        replace(&mut s, series(id, Metric::Disk, 120, |_| 20.0));
    }
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["over_provisioning", "over_provisioning"]);
    for r in &a.recommendations {
        // 20 % of 2 GB fits 1 GB with headroom; 20 % of 50 GB fits 25 GB.
        assert!(matches!(&r.action, Some(Action::Resize { size, .. }) if size == "s-1vcpu-1gb"));
        assert_eq!(r.monthly_cost_delta_cents, -600);
    }
}

#[test]
fn failed_jobs_are_cited_by_id_and_answered_with_advice() {
    let mut s = calm(&["a", "b"]);
    let job = |id: &str, state| JobFacts {
        id: id.into(),
        kind: "resize_droplet".into(),
        state,
        attempts: 1,
        created_ms: NOW - 20 * SEC,
        updated_ms: NOW - 10 * SEC,
        error: "droplet not found".into(),
    };
    s.jobs = vec![
        job("j1", JobState::Failed),
        job("j2", JobState::Failed),
        job("j3", JobState::Succeeded),
    ];
    let a = analyze(&s, &rules());
    assert_eq!(analyzers(&a), ["failing_jobs"]);
    assert_eq!(a.findings[0].evidence[0].job_ids, ["j1", "j2"]);
    assert!(a.recommendations[0].action.is_none());
}

#[test]
fn a_diagnosis_scoped_to_one_droplet_ignores_the_others_and_the_cluster() {
    let mut s = calm(&["a"]);
    s.droplets.push(droplet("b", "s-1vcpu-2gb"));
    replace(&mut s, series("b", Metric::Cpu, 120, |_| 99.0));
    s.scope = Some("a".into());
    let a = analyze(&s, &rules());
    assert!(a.findings.is_empty(), "{:?}", analyzers(&a));
}

#[test]
fn findings_are_ordered_most_severe_first() {
    let mut s = calm(&["a", "b"]);
    replace(&mut s, series("a", Metric::Cpu, 120, |_| 85.0));
    replace(
        &mut s,
        series("b", Metric::Disk, 120, |i| 80.0 + i as f64 * 0.1),
    );
    let a = analyze(&s, &rules());
    let order: Vec<(Severity, &str)> = a
        .findings
        .iter()
        .map(|f| (f.severity, f.id.as_str()))
        .collect();
    assert_eq!(
        order,
        [(Severity::Critical, "f1"), (Severity::Warning, "f2")]
    );
}
