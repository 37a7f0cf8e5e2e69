//! The rules: pure functions from a [`Snapshot`] to findings with their
//! evidence and recommendations with typed actions. They always answer; the
//! LLM only explains what they found.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    domain::{Action, Evidence, Finding, Recommendation, Risk, Severity},
    facts::HealthFacts,
    facts::{
        ActionState, DropletFacts, DropletState, JobState, Metric, Point, SizeFacts, Snapshot,
    },
};

pub mod stats;

use stats::{mean, quantile, trend};

/// The rules' thresholds and windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rules {
    /// How far back a diagnosis looks (metrics, health results, activity,
    /// jobs).
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// What "now" means for saturation and for trends (memory, disk): the
    /// last part of the window.
    #[serde(with = "humantime_serde")]
    pub recent: Duration,
    /// Fewer samples than this in a window say nothing.
    pub min_points: usize,
    pub cpu_warning_percent: f64,
    pub cpu_critical_percent: f64,
    /// A memory line rising at least this fast (and fitting, see
    /// `trend_r2`) is a leak.
    pub memory_growth_percent_per_hour: f64,
    /// How well a line must fit (R²) for a trend to count as sustained.
    pub trend_r2: f64,
    pub disk_hours_to_full_warning: f64,
    pub disk_hours_to_full_critical: f64,
    pub disk_full_percent: f64,
    /// Crashes, reboots and power cycles of one droplet in the window.
    pub restarts: usize,
    /// Failed probes of one droplet in the window.
    pub health_failures: usize,
    /// A droplet receiving less than this share of its baseline (its peers,
    /// or its own earlier window) has lost its network.
    pub network_drop_ratio: f64,
    /// A cluster whose droplets all stay under these is over-provisioned.
    pub idle_cpu_percent: f64,
    pub idle_memory_percent: f64,
    /// An action or job unfinished this long is stuck.
    #[serde(with = "humantime_serde")]
    pub stuck_after: Duration,
    /// Failed jobs in the window.
    pub failed_jobs: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(30 * 60),
            recent: Duration::from_secs(10 * 60),
            min_points: 5,
            cpu_warning_percent: 80.0,
            cpu_critical_percent: 95.0,
            memory_growth_percent_per_hour: 10.0,
            trend_r2: 0.5,
            disk_hours_to_full_warning: 72.0,
            disk_hours_to_full_critical: 6.0,
            disk_full_percent: 90.0,
            restarts: 3,
            health_failures: 3,
            network_drop_ratio: 0.2,
            idle_cpu_percent: 15.0,
            idle_memory_percent: 35.0,
            stuck_after: Duration::from_secs(10 * 60),
            failed_jobs: 2,
        }
    }
}

impl Rules {
    pub fn validate(&self) -> Result<(), String> {
        if self.window < Duration::from_secs(10) || self.window > Duration::from_secs(24 * 3600) {
            return Err("rules.window must be between 10s and 24h".into());
        }
        if self.recent.is_zero() || self.recent > self.window {
            return Err("rules.recent must be positive and at most rules.window".into());
        }
        if self.min_points < 3 {
            return Err("rules.min_points must be at least 3".into());
        }
        if !(0.0..=1.0).contains(&self.trend_r2) || !(0.0..1.0).contains(&self.network_drop_ratio) {
            return Err("rules.trend_r2 and rules.network_drop_ratio must be within 0–1".into());
        }
        if self.cpu_warning_percent > self.cpu_critical_percent {
            return Err("rules.cpu_warning_percent must not exceed cpu_critical_percent".into());
        }
        Ok(())
    }
}

/// What the rules found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    pub recommendations: Vec<Recommendation>,
}

/// A finding before ids are given, with the recommendations answering it.
struct Draft {
    finding: Finding,
    recs: Vec<Rec>,
}

struct Rec {
    title: String,
    rationale: String,
    action: Option<Action>,
    risk: Option<Risk>,
    effect: String,
    cost: i64,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn since(points: &[Point], from: i64) -> &[Point] {
    let start = points.partition_point(|p| p.t < from);
    &points[start..]
}

fn finding(
    analyzer: &str,
    severity: Severity,
    title: String,
    detail: String,
    droplet: &str,
    evidence: Vec<Evidence>,
) -> Finding {
    Finding {
        id: String::new(),
        analyzer: analyzer.into(),
        severity,
        title,
        detail,
        droplet_id: droplet.into(),
        evidence,
    }
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "+" };
    format!("{sign}${}.{:02}/mo", cents.abs() / 100, cents.abs() % 100)
}

fn gb(mb: u32) -> String {
    let g = f64::from(mb) / 1024.0;
    if (g - g.round()).abs() < 0.05 {
        format!("{} GB", g.round())
    } else {
        format!("{g:.1} GB")
    }
}

/// A measurement over `window_ms` up to the snapshot's time.
fn measured(
    s: &Snapshot,
    metric: &str,
    value: f64,
    threshold: f64,
    unit: &str,
    window_ms: i64,
) -> Evidence {
    Evidence {
        metric: metric.into(),
        value,
        threshold,
        unit: unit.into(),
        window_ms,
        window_end_ms: s.now_ms,
        ..Evidence::default()
    }
}

/// Sizes offered in the cluster's region, cheapest first.
fn offered(s: &Snapshot) -> Vec<&SizeFacts> {
    let mut sizes: Vec<&SizeFacts> = s
        .sizes
        .iter()
        .filter(|z| z.regions.is_empty() || z.regions.contains(&s.region))
        .collect();
    sizes.sort_by_key(|z| (z.monthly_cents, z.vcpus, z.memory_mb));
    sizes
}

/// The cheapest size that keeps everything of `d`'s and improves what
/// `better` asks for.
fn bigger<'a>(
    s: &'a Snapshot,
    d: &DropletFacts,
    better: impl Fn(&SizeFacts) -> bool,
) -> Option<&'a SizeFacts> {
    offered(s).into_iter().find(|z| {
        z.slug != d.size
            && z.vcpus >= d.vcpus
            && z.memory_mb >= d.memory_mb
            && z.disk_gb >= d.disk_gb
            && better(z)
    })
}

fn price(s: &Snapshot, slug: &str) -> i64 {
    s.size(slug).map_or(0, |z| z.monthly_cents)
}

fn resize(s: &Snapshot, d: &DropletFacts, to: &SizeFacts, why: &str, effect: String) -> Rec {
    let cost = to.monthly_cents - price(s, &d.size);
    Rec {
        title: format!("Resize {} from {} to {}", d.name, d.size, to.slug),
        rationale: why.into(),
        action: Some(Action::Resize {
            droplet_id: d.id.clone(),
            size: to.slug.clone(),
        }),
        risk: Some(Risk::Medium),
        effect: format!("{effect}; the droplet reboots once ({})", dollars(cost)),
        cost,
    }
}

/// The image most of the cluster runs, for droplets a scale-out adds.
fn common_image(s: &Snapshot) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &s.droplets {
        *counts.entry(d.image.as_str()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map_or_else(|| "ubuntu-24-04-x64".into(), |(i, _)| i.to_string())
}

fn scale(s: &Snapshot, target: u32, size: &str, why: &str) -> Rec {
    let live = u32::try_from(s.droplets.len()).unwrap_or(u32::MAX);
    let added = i64::from(target) - i64::from(live);
    let cost = added * price(s, size);
    Rec {
        title: format!("Scale {} to {target} droplets", s.cluster_name),
        rationale: why.into(),
        action: Some(Action::Scale {
            target,
            size: size.into(),
            image: common_image(s),
        }),
        risk: Some(if added >= 0 { Risk::Low } else { Risk::High }),
        effect: format!(
            "{live} → {target} droplets of {size}; load spreads over more vCPUs ({})",
            dollars(cost)
        ),
        cost,
    }
}

fn cpu_saturation(s: &Snapshot, r: &Rules) -> Vec<Draft> {
    let from = s.now_ms - millis(r.recent);
    let mut saturated = Vec::new();
    for d in s.in_scope().filter(|d| d.state == DropletState::Active) {
        let recent = since(s.points(&d.id, Metric::Cpu), from);
        if recent.len() < r.min_points {
            continue;
        }
        let avg = mean(recent).unwrap_or(0.0);
        if avg < r.cpu_warning_percent {
            continue;
        }
        let severity = if avg >= r.cpu_critical_percent {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let load = mean(since(s.points(&d.id, Metric::Load1m), from));
        let mut evidence = vec![measured(
            s,
            Metric::Cpu.name(),
            round(avg, 1),
            r.cpu_warning_percent,
            "%",
            millis(r.recent),
        )];
        if let Some(load) = load {
            evidence.push(measured(
                s,
                Metric::Load1m.name(),
                round(load, 2),
                f64::from(d.vcpus),
                "tasks",
                millis(r.recent),
            ));
        }
        saturated.push((d, avg, evidence, severity));
    }
    let actives = s.active().count();
    // Most of a multi-droplet cluster saturated: the cluster lacks
    // capacity, not one droplet.
    let cluster_wide = actives >= 2 && saturated.len() * 2 > actives && s.scope.is_none();
    saturated
        .into_iter()
        .map(|(d, avg, evidence, severity)| {
            let rec = if cluster_wide {
                let n = u32::try_from(s.droplets.len() + saturated_extra(actives)).unwrap_or(100);
                Some(scale(
                    s,
                    n.min(100),
                    &d.size,
                    "most droplets are saturated: the cluster needs more capacity",
                ))
            } else {
                bigger(s, d, |z| z.vcpus > d.vcpus).map(|to| {
                    resize(
                        s,
                        d,
                        to,
                        "one droplet is saturated while its peers are not: it needs more vCPUs",
                        format!("{} → {} vCPUs", d.vcpus, to.vcpus),
                    )
                })
            };
            Draft {
                finding: finding(
                    "cpu_saturation",
                    severity,
                    "CPU saturated".into(),
                    format!(
                        "{} averaged {avg:.0}% CPU over the last {}, above {}%",
                        d.name,
                        human(r.recent),
                        r.cpu_warning_percent
                    ),
                    &d.id,
                    evidence,
                ),
                recs: rec.into_iter().collect(),
            }
        })
        .collect()
}

/// Droplets to add when a cluster of `actives` is saturated: half again.
fn saturated_extra(actives: usize) -> usize {
    actives.div_ceil(2).max(1)
}

fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 && secs.is_multiple_of(3600) {
        format!("{} h", secs / 3600)
    } else if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else {
        format!("{secs} s")
    }
}

fn memory_leak(s: &Snapshot, r: &Rules) -> Vec<Draft> {
    let from = s.now_ms - millis(r.recent);
    let mut out = Vec::new();
    for d in s.in_scope().filter(|d| d.state == DropletState::Active) {
        let recent = since(s.points(&d.id, Metric::Memory), from);
        if recent.len() < r.min_points {
            continue;
        }
        let Some(t) = trend(recent) else { continue };
        if t.per_hour < r.memory_growth_percent_per_hour || t.r2 < r.trend_r2 {
            continue;
        }
        let hours_to_full = (100.0 - t.last).max(0.0) / t.per_hour;
        let severity = if t.last >= 90.0 || hours_to_full <= 1.0 {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let evidence = vec![
            measured(
                s,
                "memory_growth_percent_per_hour",
                round(t.per_hour, 1),
                r.memory_growth_percent_per_hour,
                "%/h",
                millis(r.recent),
            ),
            measured(
                s,
                Metric::Memory.name(),
                round(t.last, 1),
                90.0,
                "%",
                millis(r.recent),
            ),
        ];
        let mut recs = Vec::new();
        if let Some(to) = bigger(s, d, |z| z.memory_mb > d.memory_mb) {
            recs.push(resize(
                s,
                d,
                to,
                "more memory buys time until the leaking process is fixed",
                format!(
                    "memory {} → {}, so the leak takes {}× as long to fill it",
                    gb(d.memory_mb),
                    gb(to.memory_mb),
                    round(f64::from(to.memory_mb) / f64::from(d.memory_mb.max(1)), 1)
                ),
            ));
        }
        recs.push(Rec {
            title: format!("Reboot {}", d.name),
            rationale: "a reboot frees the leaked memory until it grows again".into(),
            action: Some(Action::Reboot {
                droplet_id: d.id.clone(),
            }),
            risk: Some(Risk::Medium),
            effect: "memory back to its baseline; a short interruption of this droplet".into(),
            cost: 0,
        });
        out.push(Draft {
            finding: finding(
                "memory_leak",
                severity,
                "Memory leak".into(),
                format!(
                    "memory on {} has risen {:.1}%/h over the last {} (R² {:.2}) to {:.0}%; \
                     full in about {}",
                    d.name,
                    t.per_hour,
                    human(r.recent),
                    t.r2,
                    t.last,
                    hours(hours_to_full)
                ),
                &d.id,
                evidence,
            ),
            recs,
        });
    }
    out
}

fn hours(h: f64) -> String {
    if h < 1.0 {
        format!("{:.0} min", (h * 60.0).max(1.0))
    } else {
        format!("{h:.1} h")
    }
}

fn disk_filling(s: &Snapshot, r: &Rules) -> Vec<Draft> {
    let from = s.now_ms - millis(r.recent);
    let mut out = Vec::new();
    for d in s.in_scope().filter(|d| d.state == DropletState::Active) {
        let recent = since(s.points(&d.id, Metric::Disk), from);
        if recent.len() < r.min_points {
            continue;
        }
        let Some(t) = trend(recent) else { continue };
        let rising = t.per_hour > 0.0 && t.r2 >= r.trend_r2;
        let to_full = if rising {
            (100.0 - t.last).max(0.0) / t.per_hour
        } else {
            f64::INFINITY
        };
        let severity = if t.last >= r.disk_full_percent || to_full <= r.disk_hours_to_full_critical
        {
            Severity::Critical
        } else if to_full <= r.disk_hours_to_full_warning {
            Severity::Warning
        } else {
            continue;
        };
        let mut evidence = vec![measured(
            s,
            Metric::Disk.name(),
            round(t.last, 1),
            r.disk_full_percent,
            "%",
            millis(r.recent),
        )];
        if to_full.is_finite() {
            evidence.insert(
                0,
                measured(
                    s,
                    "disk_hours_to_full",
                    round(to_full, 2),
                    r.disk_hours_to_full_warning,
                    "h",
                    millis(r.recent),
                ),
            );
        }
        let recs = bigger(s, d, |z| z.disk_gb > d.disk_gb)
            .map(|to| {
                resize(
                    s,
                    d,
                    to,
                    "a larger disk buys time; find what writes to it",
                    format!("disk {} GB → {} GB", d.disk_gb, to.disk_gb),
                )
            })
            .into_iter()
            .collect();
        let when = if to_full.is_finite() {
            format!("; full in about {}", hours(to_full))
        } else {
            String::new()
        };
        out.push(Draft {
            finding: finding(
                "disk_filling",
                severity,
                "Disk filling".into(),
                format!(
                    "disk on {} is {:.0}% used, rising {:.1}%/h{when}",
                    d.name, t.last, t.per_hour
                ),
                &d.id,
                evidence,
            ),
            recs,
        });
    }
    out
}

/// Crashes and restarts from the activity log.
fn crash_loop(s: &Snapshot, r: &Rules) -> Vec<Draft> {
    let from = s.now_ms - millis(r.window);
    let mut out = Vec::new();
    for d in s.in_scope() {
        let restarts: Vec<&crate::facts::ActivityFacts> = s
            .activity
            .iter()
            .filter(|a| a.droplet_id == d.id && a.time_ms >= from)
            .filter(|a| {
                let attr = |k: &str| a.attributes.get(k).map(String::as_str);
                (a.kind == "fault.injected" && attr("fault") == Some("crash"))
                    || (a.kind == "action.completed"
                        && matches!(attr("action"), Some("reboot" | "power_cycle")))
            })
            .collect();
        let crashed = restarts.iter().any(|a| {
            a.kind == "fault.injected" && a.attributes.get("fault").is_some_and(|f| f == "crash")
        });
        let down = d.state == DropletState::Off && crashed;
        if restarts.len() < r.restarts && !down {
            continue;
        }
        let evidence = vec![Evidence {
            activity_ids: restarts.iter().map(|a| a.id.clone()).collect(),
            ..measured(
                s,
                "restarts",
                restarts.len() as f64,
                r.restarts as f64,
                "count",
                millis(r.window),
            )
        }];
        let mut recs = Vec::new();
        if down {
            recs.push(Rec {
                title: format!("Power-cycle {}", d.name),
                rationale: "the droplet crashed and is off; a power cycle brings it back".into(),
                action: Some(Action::PowerCycle {
                    droplet_id: d.id.clone(),
                }),
                risk: Some(Risk::Medium),
                effect: "the droplet boots again and rejoins the cluster".into(),
                cost: 0,
            });
        }
        if restarts.len() >= r.restarts {
            recs.push(Rec {
                title: format!("Replace {} and read its crash logs", d.name),
                rationale: "a droplet that keeps crashing keeps doing so after a restart".into(),
                action: None,
                risk: None,
                effect: "the cause is found instead of restarted".into(),
                cost: 0,
            });
        }
        let (analyzer, title, severity) = if restarts.len() >= r.restarts {
            (
                "crash_loop",
                "Crash loop",
                if down {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
            )
        } else {
            (
                "droplet_down",
                "Droplet down after a crash",
                Severity::Critical,
            )
        };
        out.push(Draft {
            finding: finding(
                analyzer,
                severity,
                title.into(),
                format!(
                    "{} crashed or restarted {} times in the last {}{}",
                    d.name,
                    restarts.len(),
                    human(r.window),
                    if down { " and is off now" } else { "" }
                ),
                &d.id,
                evidence,
            ),
            recs,
        });
    }
    out
}

/// Health results by droplet, in one pass (a day of probes is many).
fn health_by_droplet(s: &Snapshot) -> HashMap<&str, Vec<&HealthFacts>> {
    let mut by: HashMap<&str, Vec<&HealthFacts>> = HashMap::new();
    for h in &s.health {
        by.entry(h.droplet_id.as_str()).or_default().push(h);
    }
    by
}

/// Failed probes in the window, by check, oldest first.
fn failures<'a>(results: &[&'a HealthFacts], from: i64) -> BTreeMap<&'a str, Vec<i64>> {
    let mut by_check: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for h in results.iter().filter(|h| h.time_ms >= from && !h.healthy) {
        by_check
            .entry(h.check_id.as_str())
            .or_default()
            .push(h.time_ms);
    }
    by_check
}

/// The checks whose latest result failed.
fn failing_now<'a>(results: &[&'a HealthFacts]) -> Vec<&'a str> {
    let mut latest: BTreeMap<&str, (i64, bool)> = BTreeMap::new();
    for h in results {
        let e = latest
            .entry(h.check_id.as_str())
            .or_insert((i64::MIN, true));
        if h.time_ms >= e.0 {
            *e = (h.time_ms, h.healthy);
        }
    }
    latest
        .into_iter()
        .filter(|(_, (_, healthy))| !healthy)
        .map(|(c, _)| c)
        .collect()
}

fn failing_health_checks(s: &Snapshot, r: &Rules) -> Vec<Draft> {
    let from = s.now_ms - millis(r.window);
    let by_droplet = health_by_droplet(s);
    let mut out = Vec::new();
    for d in s.in_scope().filter(|d| d.state != DropletState::Off) {
        let results = by_droplet.get(d.id.as_str()).map_or(&[][..], Vec::as_slice);
        let failed = failures(results, from);
        let count: usize = failed.values().map(Vec::len).sum();
        let now_failing = failing_now(results);
        if count < r.health_failures || now_failing.is_empty() {
            continue;
        }
        let checks: std::collections::BTreeSet<&str> =
            results.iter().map(|h| h.check_id.as_str()).collect();
        let severity = if now_failing.len() == checks.len() {
            Severity::Critical
        } else {
            Severity::Warning
        };
        out.push(Draft {
            finding: finding(
                "failing_health_checks",
                severity,
                "Failing health checks".into(),
                format!(
                    "{} failed {count} probes of {} check(s) in the last {}; {} of {} failing now",
                    d.name,
                    failed.len(),
                    human(r.window),
                    now_failing.len(),
                    checks.len()
                ),
                &d.id,
                vec![Evidence {
                    health_check_ids: failed.keys().map(|c| (*c).to_string()).collect(),
                    ..measured(
                        s,
                        "health_check_failures",
                        count as f64,
                        r.health_failures as f64,
                        "count",
                        millis(r.window),
                    )
                }],
            ),
            recs: vec![Rec {
                title: format!("Reboot {}", d.name),
                rationale: "a droplet failing its checks often recovers from a reboot".into(),
                action: Some(Action::Reboot {
                    droplet_id: d.id.clone(),
                }),
                risk: Some(Risk::Medium),
                effect: "the droplet restarts its services; a short interruption".into(),
                cost: 0,
            }],
        });
    }
    out
}

fn network(s: &Snapshot, r: &Rules) -> Vec<Draft> {
    let from = s.now_ms - millis(r.recent);
    let window_from = s.now_ms - millis(r.window);
    let recent_in = |id: &str| {
        let p = since(s.points(id, Metric::NetIn), from);
        (p.len() >= r.min_points).then(|| mean(p)).flatten()
    };
    let by_droplet = health_by_droplet(s);
    let mut out = Vec::new();
    for d in s.in_scope().filter(|d| d.state == DropletState::Active) {
        let Some(now_in) = recent_in(&d.id) else {
            continue;
        };
        // Peers of the same size carry comparable traffic; the droplet's own
        // earlier window stands in without peers.
        let mut peers: Vec<f64> = s
            .active()
            .filter(|p| p.id != d.id && p.size == d.size)
            .filter_map(|p| recent_in(&p.id))
            .collect();
        peers.sort_by(f64::total_cmp);
        let baseline = if peers.is_empty() {
            let all = s.points(&d.id, Metric::NetIn);
            let earlier = &all
                [all.partition_point(|p| p.t < window_from)..all.partition_point(|p| p.t < from)];
            (earlier.len() >= r.min_points)
                .then(|| mean(earlier))
                .flatten()
        } else {
            Some(peers[peers.len() / 2])
        };
        let Some(baseline) = baseline.filter(|b| *b > 1.0) else {
            continue;
        };
        if now_in >= baseline * r.network_drop_ratio {
            continue;
        }
        let failed = failures(
            by_droplet.get(d.id.as_str()).map_or(&[][..], Vec::as_slice),
            window_from,
        );
        let count: usize = failed.values().map(Vec::len).sum();
        let mut evidence = vec![measured(
            s,
            Metric::NetIn.name(),
            round(now_in, 2),
            round(baseline * r.network_drop_ratio, 2),
            "Mbps",
            millis(r.recent),
        )];
        if count > 0 {
            evidence.push(Evidence {
                health_check_ids: failed.keys().map(|c| (*c).to_string()).collect(),
                ..measured(
                    s,
                    "health_check_failures",
                    count as f64,
                    r.health_failures as f64,
                    "count",
                    millis(r.window),
                )
            });
        }
        out.push(Draft {
            finding: finding(
                "network_loss",
                if count > 0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                "Network loss".into(),
                format!(
                    "{} receives {now_in:.1} Mbps against a baseline of {baseline:.1} Mbps{}",
                    d.name,
                    if count > 0 {
                        format!(", and failed {count} health probes")
                    } else {
                        String::new()
                    }
                ),
                &d.id,
                evidence,
            ),
            recs: vec![Rec {
                title: format!("Check the network path of {}", d.name),
                rationale: "packets are dropped on the way to the droplet; firewalls, the \
                            NIC or the upstream link are the usual causes"
                    .into(),
                action: None,
                risk: None,
                effect: "no job can fix a lossy link; traffic recovers once the path does".into(),
                cost: 0,
            }],
        });
    }
    out
}

fn no_redundancy(s: &Snapshot, _r: &Rules) -> Vec<Draft> {
    if s.scope.is_some() || s.droplets.len() != 1 {
        return Vec::new();
    }
    let Some(d) = s.active().next() else {
        return Vec::new();
    };
    vec![Draft {
        finding: finding(
            "no_redundancy",
            Severity::Warning,
            "No redundancy".into(),
            format!(
                "{} runs on one droplet ({}): when it fails, the cluster is down",
                s.cluster_name, d.name
            ),
            "",
            // A count now: no window.
            vec![measured(s, "active_droplets", 1.0, 2.0, "count", 0)],
        ),
        recs: vec![scale(
            s,
            2,
            &d.size,
            "a second droplet keeps the cluster up while one fails or reboots",
        )],
    }]
}

/// Every droplet idle over the whole window: smaller sizes would do.
fn over_provisioning(s: &Snapshot, r: &Rules) -> Vec<Draft> {
    if s.scope.is_some() {
        return Vec::new();
    }
    let from = s.now_ms - millis(r.window);
    let span = millis(r.window) / 2;
    let mut out = Vec::new();
    let actives: Vec<&DropletFacts> = s.active().collect();
    if actives.is_empty() || actives.len() != s.droplets.len() {
        return out;
    }
    let mut idle = Vec::new();
    for d in &actives {
        let cpu = since(s.points(&d.id, Metric::Cpu), from);
        let memory = since(s.points(&d.id, Metric::Memory), from);
        let disk = since(s.points(&d.id, Metric::Disk), from);
        let covers = |p: &[Point]| p.len() >= r.min_points && p.last().unwrap().t - p[0].t >= span;
        if !covers(cpu) || !covers(memory) {
            return out;
        }
        let (cpu_avg, cpu_p95) = (
            mean(cpu).unwrap_or(100.0),
            quantile(cpu, 0.95).unwrap_or(100.0),
        );
        let mem_p95 = quantile(memory, 0.95).unwrap_or(100.0);
        if cpu_avg >= r.idle_cpu_percent
            || cpu_p95 >= 2.0 * r.idle_cpu_percent
            || mem_p95 >= r.idle_memory_percent
        {
            return out;
        }
        let disk_used = quantile(disk, 1.0).unwrap_or(100.0);
        idle.push((*d, cpu_avg, cpu_p95, mem_p95, disk_used));
    }
    for (d, cpu_avg, cpu_p95, mem_p95, disk_used) in idle {
        // What the droplet uses at its busiest, with headroom: CPU at 60%,
        // memory at 70%, disk at 90% of the smaller size.
        let vcpus_needed = (cpu_p95 / 100.0 * f64::from(d.vcpus) / 0.6).ceil().max(1.0);
        let memory_needed = mem_p95 / 100.0 * f64::from(d.memory_mb) / 0.7;
        let disk_needed = disk_used / 100.0 * f64::from(d.disk_gb) / 0.9;
        let current = price(s, &d.size);
        let Some(to) = offered(s).into_iter().find(|z| {
            z.monthly_cents < current
                && f64::from(z.vcpus) >= vcpus_needed
                && f64::from(z.memory_mb) >= memory_needed
                && f64::from(z.disk_gb) >= disk_needed
        }) else {
            continue;
        };
        let saving = to.monthly_cents - current;
        out.push(Draft {
            finding: finding(
                "over_provisioning",
                Severity::Info,
                "Over-provisioned".into(),
                format!(
                    "{} averaged {cpu_avg:.0}% CPU (p95 {cpu_p95:.0}%) and at most {mem_p95:.0}% \
                     memory over the last {}",
                    d.name,
                    human(r.window)
                ),
                &d.id,
                vec![
                    measured(
                        s,
                        Metric::Cpu.name(),
                        round(cpu_avg, 1),
                        r.idle_cpu_percent,
                        "%",
                        millis(r.window),
                    ),
                    measured(
                        s,
                        Metric::Memory.name(),
                        round(mem_p95, 1),
                        r.idle_memory_percent,
                        "%",
                        millis(r.window),
                    ),
                ],
            ),
            recs: vec![Rec {
                title: format!("Resize {} from {} to {}", d.name, d.size, to.slug),
                rationale: "its busiest hour fits a smaller size with headroom".into(),
                action: Some(Action::Resize {
                    droplet_id: d.id.clone(),
                    size: to.slug.clone(),
                }),
                risk: Some(Risk::Medium),
                effect: format!(
                    "{} vCPU / {} → {} vCPU / {}; the droplet reboots once ({})",
                    d.vcpus,
                    gb(d.memory_mb),
                    to.vcpus,
                    gb(to.memory_mb),
                    dollars(saving)
                ),
                cost: saving,
            }],
        });
    }
    out
}

/// Actions that never finish or keep failing; jobs likewise.
fn stuck_or_failing(s: &Snapshot, r: &Rules) -> Vec<Draft> {
    let from = s.now_ms - millis(r.window);
    let stuck_before = s.now_ms - millis(r.stuck_after);
    let mut out = Vec::new();
    let advice = |title: &str, why: &str| Rec {
        title: title.into(),
        rationale: why.into(),
        action: None,
        risk: None,
        effect: "the cause is fixed before the work is retried".into(),
        cost: 0,
    };
    for d in s.in_scope() {
        let stuck: Vec<_> = s
            .actions
            .iter()
            .filter(|a| {
                a.droplet_id == d.id
                    && a.state == ActionState::InProgress
                    && a.started_ms < stuck_before
            })
            .collect();
        let errored: Vec<_> = s
            .actions
            .iter()
            .filter(|a| {
                a.droplet_id == d.id && a.state == ActionState::Errored && a.started_ms >= from
            })
            .collect();
        if !stuck.is_empty() {
            out.push(Draft {
                finding: finding(
                    "stuck_action",
                    Severity::Warning,
                    "Action stuck".into(),
                    format!(
                        "{} of {} has been in progress for more than {}",
                        stuck[0].kind,
                        d.name,
                        human(r.stuck_after)
                    ),
                    &d.id,
                    vec![Evidence {
                        action_ids: stuck.iter().map(|a| a.id.clone()).collect(),
                        ..measured(
                            s,
                            "stuck_actions",
                            stuck.len() as f64,
                            1.0,
                            "count",
                            millis(r.stuck_after),
                        )
                    }],
                ),
                recs: vec![advice(
                    &format!("Investigate the stuck action on {}", d.name),
                    "the droplet stays locked while it runs: no other action can start",
                )],
            });
        }
        if errored.len() >= 2 {
            out.push(Draft {
                finding: finding(
                    "failing_actions",
                    Severity::Warning,
                    "Actions failing".into(),
                    format!(
                        "{} actions on {} errored in the last {}; the latest: {}",
                        errored.len(),
                        d.name,
                        human(r.window),
                        errored.last().map_or("", |a| a.error.as_str())
                    ),
                    &d.id,
                    vec![Evidence {
                        action_ids: errored.iter().map(|a| a.id.clone()).collect(),
                        ..measured(
                            s,
                            "errored_actions",
                            errored.len() as f64,
                            2.0,
                            "count",
                            millis(r.window),
                        )
                    }],
                ),
                recs: vec![advice(
                    &format!("Read why actions on {} fail", d.name),
                    "repeating a failing action fails again",
                )],
            });
        }
    }
    if s.scope.is_none() {
        let failed: Vec<_> = s
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Failed && j.updated_ms >= from)
            .collect();
        if failed.len() >= r.failed_jobs {
            out.push(Draft {
                finding: finding(
                    "failing_jobs",
                    Severity::Warning,
                    "Jobs failing".into(),
                    format!(
                        "{} jobs failed in the last {}; the latest: {}",
                        failed.len(),
                        human(r.window),
                        failed[0].error
                    ),
                    "",
                    vec![Evidence {
                        job_ids: failed.iter().map(|j| j.id.clone()).collect(),
                        ..measured(
                            s,
                            "failed_jobs",
                            failed.len() as f64,
                            r.failed_jobs as f64,
                            "count",
                            millis(r.window),
                        )
                    }],
                ),
                recs: vec![advice(
                    "Read the failed jobs' errors before retrying them",
                    "jobs that failed every attempt fail the same way when retried",
                )],
            });
        }
        let stuck: Vec<_> = s
            .jobs
            .iter()
            .filter(|j| {
                matches!(j.state, JobState::Queued | JobState::Running)
                    && j.updated_ms < stuck_before
            })
            .collect();
        if !stuck.is_empty() {
            out.push(Draft {
                finding: finding(
                    "stuck_jobs",
                    Severity::Warning,
                    "Jobs stuck".into(),
                    format!(
                        "{} job(s) made no progress for more than {}",
                        stuck.len(),
                        human(r.stuck_after)
                    ),
                    "",
                    vec![Evidence {
                        job_ids: stuck.iter().map(|j| j.id.clone()).collect(),
                        ..measured(
                            s,
                            "stuck_jobs",
                            stuck.len() as f64,
                            1.0,
                            "count",
                            millis(r.stuck_after),
                        )
                    }],
                ),
                recs: vec![advice(
                    "Check that the executor runs and the broker is reachable",
                    "a job without progress is waiting for a worker or a broker",
                )],
            });
        }
    }
    out
}

/// Every rule over `s`: findings most severe first (ids `f1`, `f2`, …),
/// recommendations in the order of the findings they answer (`r1`, …), one
/// per distinct action.
pub fn analyze(s: &Snapshot, r: &Rules) -> Analysis {
    type Rule = fn(&Snapshot, &Rules) -> Vec<Draft>;
    const RULES: [Rule; 9] = [
        cpu_saturation,
        memory_leak,
        disk_filling,
        crash_loop,
        failing_health_checks,
        network,
        no_redundancy,
        over_provisioning,
        stuck_or_failing,
    ];
    let mut drafts: Vec<Draft> = RULES.iter().flat_map(|rule| rule(s, r)).collect();
    drafts.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then_with(|| a.finding.analyzer.cmp(&b.finding.analyzer))
            .then_with(|| a.finding.droplet_id.cmp(&b.finding.droplet_id))
    });
    let mut out = Analysis::default();
    for (i, draft) in drafts.into_iter().enumerate() {
        let fid = format!("f{}", i + 1);
        for rec in draft.recs {
            let same = out.recommendations.iter_mut().find(|existing| {
                if rec.action.is_some() {
                    existing.action == rec.action
                } else {
                    existing.action.is_none() && existing.title == rec.title
                }
            });
            match same {
                Some(existing) => existing.finding_ids.push(fid.clone()),
                None => {
                    let id = format!("r{}", out.recommendations.len() + 1);
                    out.recommendations.push(Recommendation {
                        id,
                        title: rec.title,
                        rationale: rec.rationale,
                        finding_ids: vec![fid.clone()],
                        action: rec.action,
                        risk: rec.risk,
                        expected_effect: rec.effect,
                        monthly_cost_delta_cents: rec.cost,
                        implemented_job_id: None,
                    });
                }
            }
        }
        out.findings.push(Finding {
            id: fid,
            ..draft.finding
        });
    }
    out
}

#[cfg(test)]
mod tests;
