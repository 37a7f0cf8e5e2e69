//! Replays of load over time through the decision engine, the way the
//! service drives it: at each instant `evaluate`, then `History::record`,
//! and a decided step takes effect before the next instant (the simulated
//! job finishes in time). The clock is the replay's own, so windows, rate
//! periods and schedules are exercised in seconds, across days and a DST
//! change, without waiting.

use std::collections::BTreeMap;

use chrono::TimeZone;
use chrono_tz::Tz;
use scaler::hpa::{
    Action, Evaluation, History, Inputs, Metric, MetricReading, PolicyRule, Reason, ScaleEvent,
    evaluate,
};
use scaler::schedule::Schedule;

const S: i64 = 1_000;
const MIN: i64 = 60 * S;

/// A cluster as the service sees it: its enabled policies, its stored
/// history and its droplets.
struct Cluster {
    policies: Vec<PolicyRule>,
    history: History,
    current: u32,
    price_cents: i64,
    cost_cap_cents: Option<i64>,
    job_in_progress: bool,
    /// Every step taken: (time, from, to).
    steps: Vec<(i64, u32, u32)>,
}

impl Cluster {
    fn new(current: u32, policies: Vec<PolicyRule>) -> Self {
        Self {
            policies,
            history: History::default(),
            current,
            price_cents: 600,
            cost_cap_cents: None,
            job_in_progress: false,
            steps: Vec::new(),
        }
    }

    /// One evaluation at `now_ms`, recorded and acted on.
    fn tick(&mut self, now_ms: i64, readings: &[(Metric, MetricReading)]) -> Evaluation {
        let inputs = Inputs {
            now_ms,
            current: self.current,
            readings: readings.iter().copied().collect::<BTreeMap<_, _>>(),
            job_in_progress: self.job_in_progress,
            monthly_cost_cents: i64::from(self.current) * self.price_cents,
            cost_cap_cents: self.cost_cap_cents,
        };
        let e = evaluate(&self.policies, &inputs, &self.history);
        let acted = e.action != Action::None;
        self.history.record(now_ms, &e, acted);
        if acted {
            self.steps.push((now_ms, self.current, e.desired));
            self.current = e.desired;
        }
        e
    }

    /// One evaluation with the cluster's total CPU load spread over its
    /// droplets, so adding droplets lowers the average as it would.
    fn tick_cpu_total(&mut self, now_ms: i64, total: f64) -> Evaluation {
        let average = total / f64::from(self.current.max(1));
        self.tick(now_ms, &[cpu(average)])
    }
}

fn reading(metric: Metric, average: f64) -> (Metric, MetricReading) {
    (
        metric,
        MetricReading {
            average,
            missing: false,
        },
    )
}

fn cpu(average: f64) -> (Metric, MetricReading) {
    reading(Metric::CpuPercent, average)
}

fn cpu_partial(average: f64) -> (Metric, MetricReading) {
    (
        Metric::CpuPercent,
        MetricReading {
            average,
            missing: true,
        },
    )
}

fn policy(id: &str, metric: Metric, target: f64) -> PolicyRule {
    PolicyRule {
        id: id.into(),
        metric,
        target,
        min: 1,
        max: 20,
        up_window_ms: 0,
        down_window_ms: 300 * S,
        schedules: Vec::new(),
        added_droplet_monthly_cents: 600,
    }
}

fn cpu_policy() -> PolicyRule {
    policy("cpu-60", Metric::CpuPercent, 60.0)
}

/// Asserts the whole decision a person would see.
#[track_caller]
fn expect(e: &Evaluation, desired: u32, action: Action, reasons: &[Reason], explanation: &str) {
    assert_eq!(
        (
            e.desired,
            e.action,
            e.reasons.as_slice(),
            e.explanation.as_str()
        ),
        (desired, action, reasons, explanation)
    );
}

#[test]
fn a_spike_scales_up_at_once() {
    let mut c = Cluster::new(3, vec![cpu_policy()]);
    for t in [0, 15, 30] {
        let e = c.tick_cpu_total(t * S, 180.0);
        expect(
            &e,
            3,
            Action::None,
            &[Reason::WithinTolerance],
            "cpu 60.0 % vs target 60.0 %: within tolerance → keep 3",
        );
    }
    let e = c.tick_cpu_total(45 * S, 300.0);
    expect(
        &e,
        5,
        Action::ScaleUp,
        &[],
        "cpu 100.0 % vs target 60.0 % → ceil(3×100.0/60.0)=5",
    );
    assert_eq!(e.winner.as_deref(), Some("cpu-60"));
    // The new droplets share the load: back at the target.
    let e = c.tick_cpu_total(60 * S, 300.0);
    expect(
        &e,
        5,
        Action::None,
        &[Reason::WithinTolerance],
        "cpu 60.0 % vs target 60.0 %: within tolerance → keep 5",
    );
    assert_eq!(c.steps, [(45 * S, 3, 5)]);
}

#[test]
fn flapping_load_around_the_target_does_not_oscillate() {
    let mut c = Cluster::new(4, vec![cpu_policy()]);
    // The total load swings between 300 and 180 every 15 s for 20 minutes.
    for i in 0..80 {
        let t = i * 15 * S;
        let high = i % 2 == 0;
        let e = c.tick_cpu_total(t, if high { 300.0 } else { 180.0 });
        match (i, high) {
            (0, _) => expect(
                &e,
                5,
                Action::ScaleUp,
                &[],
                "cpu 75.0 % vs target 60.0 % → ceil(4×75.0/60.0)=5",
            ),
            (_, true) => expect(
                &e,
                5,
                Action::None,
                &[Reason::WithinTolerance],
                "cpu 60.0 % vs target 60.0 %: within tolerance → keep 5",
            ),
            (_, false) => expect(
                &e,
                5,
                Action::None,
                &[Reason::StabilizationWindow],
                "cpu 36.0 % vs target 60.0 % → ceil(5×36.0/60.0)=3; \
                 scale-down held at 5 by the 300 s stabilization window",
            ),
        }
    }
    assert_eq!(c.steps, [(0, 4, 5)]);
}

#[test]
fn sustained_low_load_scales_down_after_the_window_to_its_highest_proposal() {
    let mut c = Cluster::new(6, vec![cpu_policy()]);
    // Low load (total 120), with one busier reading at 150 s (total 240).
    let total = |t: i64| if t == 150 * S { 240.0 } else { 120.0 };
    for t in (0..285).step_by(15).map(|s| s * S) {
        let e = c.tick_cpu_total(t, total(t));
        assert_eq!((e.desired, e.action), (6, Action::None), "at {t} ms");
        assert_eq!(e.reasons, [Reason::StabilizationWindow], "at {t} ms");
    }
    // Still inside the window, a fresh history holds the count: what it
    // never saw counts as the count in place.
    let e = c.tick_cpu_total(285 * S, 120.0);
    expect(
        &e,
        6,
        Action::None,
        &[Reason::StabilizationWindow],
        "cpu 20.0 % vs target 60.0 % → ceil(6×20.0/60.0)=2; \
         scale-down held at 6 by the 300 s stabilization window",
    );
    // A whole window observed: down to its highest proposal, 4 (at 150 s).
    let e = c.tick_cpu_total(300 * S, 120.0);
    expect(
        &e,
        4,
        Action::ScaleDown,
        &[Reason::StabilizationWindow],
        "cpu 20.0 % vs target 60.0 % → ceil(6×20.0/60.0)=2; \
         scale-down held at 4 by the 300 s stabilization window",
    );
    for t in (315..450).step_by(15).map(|s| s * S) {
        let e = c.tick_cpu_total(t, 120.0);
        assert_eq!((e.desired, e.action), (4, Action::None), "at {t} ms");
    }
    // The 4 at 150 s has left the window (it ends 300 s back, exclusive).
    let e = c.tick_cpu_total(450 * S, 120.0);
    expect(
        &e,
        2,
        Action::ScaleDown,
        &[],
        "cpu 30.0 % vs target 60.0 % → ceil(4×30.0/60.0)=2",
    );
    assert_eq!(c.steps, [(300 * S, 6, 4), (450 * S, 4, 2)]);
}

#[test]
fn missing_metrics_never_scale_down() {
    let mut c = Cluster::new(6, vec![cpu_policy()]);
    // 0–10 min: some droplet sends nothing, the others are idle.
    for t in (0..600).step_by(15).map(|s| s * S) {
        let e = c.tick(t, &[cpu_partial(10.0)]);
        assert_eq!((e.desired, e.action), (6, Action::None), "at {t} ms");
        assert!(e.recommendations[0].metrics_missing);
    }
    let e = c.tick(600 * S, &[cpu_partial(10.0)]);
    // The window would allow 1 by now; the missing samples do not.
    expect(
        &e,
        6,
        Action::None,
        &[Reason::MetricsMissing],
        "cpu 10.0 % vs target 60.0 % → ceil(6×10.0/60.0)=1 (some droplets sent no samples); \
         metrics missing: no scale-down below 6",
    );
    // 10–20 min: no samples at all.
    for t in (615..1200).step_by(15).map(|s| s * S) {
        let e = c.tick(t, &[]);
        expect(
            &e,
            6,
            Action::None,
            &[Reason::MetricsMissing],
            "cpu: no samples → keep 6",
        );
        assert_eq!(e.recommendations[0].current_value, None);
    }
    // Samples are back: the window still remembers the held count.
    let e = c.tick(1200 * S, &[cpu(10.0)]);
    expect(
        &e,
        6,
        Action::None,
        &[Reason::StabilizationWindow],
        "cpu 10.0 % vs target 60.0 % → ceil(6×10.0/60.0)=1; \
         scale-down held at 6 by the 300 s stabilization window",
    );
    for t in (1215..1485).step_by(15).map(|s| s * S) {
        let e = c.tick(t, &[cpu(10.0)]);
        assert_eq!((e.desired, e.action), (6, Action::None), "at {t} ms");
    }
    // The last held proposal (1185 s) has left the window.
    let e = c.tick(1485 * S, &[cpu(10.0)]);
    expect(
        &e,
        1,
        Action::ScaleDown,
        &[],
        "cpu 10.0 % vs target 60.0 % → ceil(6×10.0/60.0)=1",
    );
    assert_eq!(c.steps, [(1485 * S, 6, 1)]);
}

#[test]
fn the_rate_limit_allows_plus_four_or_double_per_15_seconds() {
    let mut p = policy("cpu-50", Metric::CpuPercent, 50.0);
    p.max = 100;
    let mut c = Cluster::new(2, vec![p]);
    // A load that wants 20 droplets, evaluated every 5 s.
    let e = c.tick_cpu_total(0, 1000.0);
    expect(
        &e,
        6,
        Action::ScaleUp,
        &[Reason::ScaleUpRateLimited],
        "cpu 500.0 % vs target 50.0 % → ceil(2×500.0/50.0)=20; \
         scale-up limited to +4 per 15 s → 6",
    );
    for t in [5 * S, 10 * S, 15 * S - 1] {
        let e = c.tick_cpu_total(t, 1000.0);
        expect(
            &e,
            6,
            Action::None,
            &[Reason::ScaleUpRateLimited],
            "cpu 166.7 % vs target 50.0 % → ceil(6×166.7/50.0)=20; \
             scale-up limited to +4 per 15 s → 6",
        );
    }
    // A new period: +100 % of 6 is more than +4.
    let e = c.tick_cpu_total(15 * S, 1000.0);
    expect(
        &e,
        12,
        Action::ScaleUp,
        &[Reason::ScaleUpRateLimited],
        "cpu 166.7 % vs target 50.0 % → ceil(6×166.7/50.0)=20; \
         scale-up limited to +6 per 15 s → 12",
    );
    let e = c.tick_cpu_total(30 * S, 1000.0);
    expect(
        &e,
        20,
        Action::ScaleUp,
        &[],
        "cpu 83.3 % vs target 50.0 % → ceil(12×83.3/50.0)=20",
    );
    assert_eq!(c.steps, [(0, 2, 6), (15 * S, 6, 12), (30 * S, 12, 20)]);
}

#[test]
fn with_several_policies_the_largest_wins_with_its_own_windows() {
    let mut memory = policy("mem-50", Metric::MemoryPercent, 50.0);
    memory.down_window_ms = 60 * S;
    let mut c = Cluster::new(4, vec![cpu_policy(), memory]);

    let e = c.tick(0, &[cpu(66.0), reading(Metric::MemoryPercent, 75.0)]);
    expect(
        &e,
        6,
        Action::ScaleUp,
        &[],
        "cpu 66.0 % vs target 60.0 %: within tolerance → keep 4; \
         memory 75.0 % vs target 50.0 % → ceil(4×75.0/50.0)=6",
    );
    assert_eq!(e.winner.as_deref(), Some("mem-50"));

    let e = c.tick(15 * S, &[cpu(90.0), reading(Metric::MemoryPercent, 50.0)]);
    expect(
        &e,
        9,
        Action::ScaleUp,
        &[],
        "cpu 90.0 % vs target 60.0 % → ceil(6×90.0/60.0)=9; \
         memory 50.0 % vs target 50.0 %: within tolerance → keep 6",
    );
    assert_eq!(e.winner.as_deref(), Some("cpu-60"));

    // Both low: memory's 4 beats cpu's 3, and memory's 60 s window applies.
    let low = [cpu(20.0), reading(Metric::MemoryPercent, 20.0)];
    for t in [30 * S, 45 * S, 60 * S] {
        let e = c.tick(t, &low);
        expect(
            &e,
            9,
            Action::None,
            &[Reason::StabilizationWindow],
            "cpu 20.0 % vs target 60.0 % → ceil(9×20.0/60.0)=3; \
             memory 20.0 % vs target 50.0 % → ceil(9×20.0/50.0)=4; \
             scale-down held at 9 by the 60 s stabilization window",
        );
        assert_eq!(e.winner.as_deref(), Some("mem-50"));
    }
    // cpu's 9 (at 15 s) has left memory's window.
    let e = c.tick(75 * S, &low);
    expect(
        &e,
        4,
        Action::ScaleDown,
        &[],
        "cpu 20.0 % vs target 60.0 % → ceil(9×20.0/60.0)=3; \
         memory 20.0 % vs target 50.0 % → ceil(9×20.0/50.0)=4",
    );
    assert_eq!(c.steps, [(0, 4, 6), (15 * S, 6, 9), (75 * S, 9, 4)]);
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    Tz::UTC
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("a valid UTC time")
        .timestamp_millis()
}

#[test]
fn a_schedule_raises_the_min_only_inside_its_window_across_a_dst_change() {
    // Weekdays 08:00–18:00 Berlin time: at least 6 droplets. Berlin springs
    // forward on Sunday 30 March 2025, so the window is 07:00–17:00 UTC on
    // Friday the 28th and 06:00–16:00 UTC on Monday the 31st.
    let mut p = cpu_policy();
    p.min = 2;
    p.max = 10;
    p.schedules = vec![
        Schedule::parse("0 8 * * 1-5", "Europe/Berlin", 10 * 60 * MIN, Some(6), None)
            .expect("valid schedule"),
    ];
    let mut c = Cluster::new(2, vec![p]);
    let raised = "raised to min 6 (schedule \"0 8 * * 1-5\" Europe/Berlin)";

    let mut decisions = BTreeMap::new();
    let (start, end) = (utc(2025, 3, 28, 5, 0), utc(2025, 3, 31, 18, 0));
    for t in (start..=end).step_by(MIN as usize) {
        // A quiet cluster: alone, it would shrink to one droplet.
        decisions.insert(t, c.tick_cpu_total(t, 60.0));
    }
    let at = |t: i64| &decisions[&t];

    expect(
        at(utc(2025, 3, 28, 6, 59)),
        2,
        Action::None,
        &[Reason::AtMinDroplets],
        "cpu 30.0 % vs target 60.0 % → ceil(2×30.0/60.0)=1, raised to min 2",
    );
    expect(
        at(utc(2025, 3, 28, 7, 0)),
        6,
        Action::ScaleUp,
        &[Reason::AtMinDroplets, Reason::ScheduleActive],
        &format!("cpu 30.0 % vs target 60.0 % → ceil(2×30.0/60.0)=1, {raised}"),
    );
    expect(
        at(utc(2025, 3, 28, 12, 0)),
        6,
        Action::None,
        &[Reason::AtMinDroplets, Reason::ScheduleActive],
        &format!("cpu 10.0 % vs target 60.0 % → ceil(6×10.0/60.0)=1, {raised}"),
    );
    // The window closes at 17:00 UTC; the down window keeps the count for
    // five minutes after the last raised proposal (16:59).
    expect(
        at(utc(2025, 3, 28, 17, 3)),
        6,
        Action::None,
        &[Reason::StabilizationWindow, Reason::AtMinDroplets],
        "cpu 10.0 % vs target 60.0 % → ceil(6×10.0/60.0)=1, raised to min 2; \
         scale-down held at 6 by the 300 s stabilization window",
    );
    expect(
        at(utc(2025, 3, 28, 17, 4)),
        2,
        Action::ScaleDown,
        &[Reason::AtMinDroplets],
        "cpu 10.0 % vs target 60.0 % → ceil(6×10.0/60.0)=1, raised to min 2",
    );
    // No window over the weekend.
    assert_eq!(at(utc(2025, 3, 29, 12, 0)).desired, 2);
    // Monday in summer time: 07:00 UTC would be an hour late.
    expect(
        at(utc(2025, 3, 31, 5, 59)),
        2,
        Action::None,
        &[Reason::AtMinDroplets],
        "cpu 30.0 % vs target 60.0 % → ceil(2×30.0/60.0)=1, raised to min 2",
    );
    expect(
        at(utc(2025, 3, 31, 6, 0)),
        6,
        Action::ScaleUp,
        &[Reason::AtMinDroplets, Reason::ScheduleActive],
        &format!("cpu 30.0 % vs target 60.0 % → ceil(2×30.0/60.0)=1, {raised}"),
    );
    assert_eq!(
        c.steps,
        [
            (utc(2025, 3, 28, 7, 0), 2, 6),
            (utc(2025, 3, 28, 17, 4), 6, 2),
            (utc(2025, 3, 31, 6, 0), 2, 6),
            (utc(2025, 3, 31, 16, 4), 6, 2),
        ]
    );
}

#[test]
fn the_cost_cap_cuts_a_scale_up_to_what_fits() {
    let mut c = Cluster::new(3, vec![cpu_policy()]);
    // 6.00 per droplet and month: five droplets fit under 30.00.
    c.cost_cap_cents = Some(3_000);
    let e = c.tick_cpu_total(0, 600.0);
    expect(
        &e,
        5,
        Action::ScaleUp,
        &[Reason::ScaleUpRateLimited, Reason::CostCap],
        "cpu 200.0 % vs target 60.0 % → ceil(3×200.0/60.0)=10; \
         scale-up limited to +4 per 15 s → 7; \
         cost cap 30.00/month allows +2 at 6.00 each (now 18.00) → 5",
    );
    for t in [15 * S, 30 * S] {
        let e = c.tick_cpu_total(t, 600.0);
        expect(
            &e,
            5,
            Action::None,
            &[Reason::CostCap],
            "cpu 120.0 % vs target 60.0 % → ceil(5×120.0/60.0)=10; \
             cost cap 30.00/month allows +0 at 6.00 each (now 30.00) → 5",
        );
    }
    // A raised cap lets it go on.
    c.cost_cap_cents = Some(6_000);
    let e = c.tick_cpu_total(45 * S, 600.0);
    expect(
        &e,
        10,
        Action::ScaleUp,
        &[],
        "cpu 120.0 % vs target 60.0 % → ceil(5×120.0/60.0)=10",
    );
    assert_eq!(c.steps, [(0, 3, 5), (45 * S, 5, 10)]);
}

#[test]
fn a_job_in_progress_holds_the_action_but_reports_the_count() {
    let mut c = Cluster::new(3, vec![cpu_policy()]);
    c.job_in_progress = true;
    for t in [0, 15 * S] {
        let e = c.tick_cpu_total(t, 360.0);
        expect(
            &e,
            6,
            Action::None,
            &[Reason::JobInProgress],
            "cpu 120.0 % vs target 60.0 % → ceil(3×120.0/60.0)=6; \
             the previous scaling job is still running: 3 → 6 waits",
        );
    }
    // Nothing was acted on, so the rate limit has nothing to count.
    c.job_in_progress = false;
    let e = c.tick_cpu_total(20 * S, 360.0);
    expect(
        &e,
        6,
        Action::ScaleUp,
        &[],
        "cpu 120.0 % vs target 60.0 % → ceil(3×120.0/60.0)=6",
    );
    assert_eq!(c.steps, [(20 * S, 3, 6)]);
    assert_eq!(
        c.history.scale_events,
        [ScaleEvent {
            time_ms: 20 * S,
            from: 3,
            to: 6
        }]
    );
}

#[test]
fn a_history_restored_from_json_decides_as_the_one_kept_in_memory() {
    let mut kept = Cluster::new(6, vec![cpu_policy()]);
    let mut restarted = Cluster::new(6, vec![cpu_policy()]);
    for t in (0..600).step_by(15).map(|s| s * S) {
        let total = if t < 200 * S { 300.0 } else { 60.0 };
        let a = kept.tick_cpu_total(t, total);
        // The service stores the history after each evaluation and loads it
        // on the next, possibly in a new process.
        let json = serde_json::to_string(&restarted.history).expect("serializes");
        restarted.history = serde_json::from_str(&json).expect("parses");
        let b = restarted.tick_cpu_total(t, total);
        assert_eq!(a, b, "at {t} ms");
    }
    assert_eq!(kept.steps, restarted.steps);
    assert_eq!(kept.steps, [(300 * S, 6, 5), (495 * S, 5, 1)]);
}
