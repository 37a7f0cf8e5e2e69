//! The scaler's decision engine: the Kubernetes HPA's rules, measured in
//! time rather than controller ticks, as a pure function of the policies,
//! the cluster's latest readings and a small history. No database, gRPC or
//! Kafka here: the service loads these values, calls [`evaluate`], acts on
//! the [`Evaluation`] and stores [`History`] (as JSON) for the next call.
//!
//! The pipeline, in order:
//! 1. each policy: `ceil(current × average / target)`, or `current` while
//!    the ratio is within [`TOLERANCE`] of 1, clamped to its bounds (which an
//!    active [`Schedule`] may replace);
//! 2. the largest desired count wins (the first policy on ties);
//! 3. stabilization over the winner's windows, as the HPA: a scale-up goes to
//!    the lowest proposal of its window, a scale-down to the highest of its;
//! 4. the bounds again, so a lowered max takes effect at once;
//! 5. no scale-down while any policy's metrics are missing;
//! 6. the scale-up rate limit: per [`RATE_PERIOD_MS`], at most the larger of
//!    +100 % and +[`RATE_STEP`] droplets;
//! 7. the cost cap;
//! 8. no action while the previous scaling job runs.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::schedule::{self, Bounds, Schedule};

mod victims;
pub use victims::{DropletLoad, LOAD_EQUALITY, choose_victims};

/// A ratio within this distance of 1 changes nothing (the HPA's default).
pub const TOLERANCE: f64 = 0.1;

/// Slack for floating-point noise, so that what reads as exact is exact:
/// 66/60 is within the tolerance and `ceil(1 × 2.1 / 0.7)` is 3, not 4.
const EPSILON: f64 = 1e-9;

/// The scale-up rate limit's period.
pub const RATE_PERIOD_MS: i64 = 15_000;

/// The scale-up rate limit's absolute step, next to +100 %.
pub const RATE_STEP: u32 = 4;

/// What a policy steers by. Percentages are averages over the cluster's
/// reporting droplets; network rates are per droplet too. Stored (and
/// serialized) as its slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Metric {
    #[serde(rename = "cpu")]
    CpuPercent,
    #[serde(rename = "memory")]
    MemoryPercent,
    #[serde(rename = "disk")]
    DiskPercent,
    #[serde(rename = "network_in")]
    NetworkInMbps,
    #[serde(rename = "network_out")]
    NetworkOutMbps,
    /// The 1-minute load average, in runnable tasks.
    #[serde(rename = "load_1m")]
    Load1m,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::CpuPercent,
        Metric::MemoryPercent,
        Metric::DiskPercent,
        Metric::NetworkInMbps,
        Metric::NetworkOutMbps,
        Metric::Load1m,
    ];

    /// Its position in [`Metric::ALL`], for arrays indexed by metric.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn slug(self) -> &'static str {
        match self {
            Metric::CpuPercent => "cpu",
            Metric::MemoryPercent => "memory",
            Metric::DiskPercent => "disk",
            Metric::NetworkInMbps => "network_in",
            Metric::NetworkOutMbps => "network_out",
            Metric::Load1m => "load_1m",
        }
    }

    /// The metric with this slug.
    pub fn from_slug(slug: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.slug() == slug)
    }

    /// Whether values are percentages (a target above 100 can never be met).
    pub fn is_percent(self) -> bool {
        matches!(
            self,
            Metric::CpuPercent | Metric::MemoryPercent | Metric::DiskPercent
        )
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::CpuPercent | Metric::MemoryPercent | Metric::DiskPercent => "%",
            Metric::NetworkInMbps | Metric::NetworkOutMbps => "Mbps",
            Metric::Load1m => "",
        }
    }
}

/// One enabled policy, as the engine needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRule {
    pub id: String,
    pub metric: Metric,
    /// The per-droplet average to steer towards, in the metric's unit; > 0.
    pub target: f64,
    pub min: u32,
    pub max: u32,
    /// A scale-up goes to the lowest proposal seen over this window.
    pub up_window_ms: i64,
    /// A scale-down goes to the highest proposal seen over this window.
    pub down_window_ms: i64,
    /// Windows that replace `min`/`max` while active.
    pub schedules: Vec<Schedule>,
    /// What one droplet of this policy's size adds to the monthly bill.
    pub added_droplet_monthly_cents: i64,
}

/// A metric over the last minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricReading {
    /// Average over the droplets that reported.
    pub average: f64,
    /// Some active droplet sent no sample.
    pub missing: bool,
}

/// What the engine sees of the cluster at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub now_ms: i64,
    /// Live droplets.
    pub current: u32,
    /// A metric with no samples at all is absent.
    pub readings: BTreeMap<Metric, MetricReading>,
    /// The cluster's previous scaling job has not finished.
    pub job_in_progress: bool,
    pub monthly_cost_cents: i64,
    pub cost_cap_cents: Option<i64>,
}

/// A largest-wins proposal, before stabilization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub time_ms: i64,
    pub desired: u32,
}

/// A scaling step that was acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleEvent {
    pub time_ms: i64,
    pub from: u32,
    pub to: u32,
}

/// What the engine remembers between evaluations of one cluster. Stored as
/// JSON by the service so that a restart keeps the windows' memory (the HPA
/// loses it, and then scales down at once after a restart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct History {
    /// The first recorded evaluation. The part of a window before it was
    /// never observed, and counts as a proposal of the count then in place:
    /// a new (or lost) history waits a whole window rather than acting on
    /// one reading.
    pub since_ms: Option<i64>,
    /// Recent proposals, oldest first.
    pub proposals: Vec<Proposal>,
    /// Recent scaling steps, oldest first.
    pub scale_events: Vec<ScaleEvent>,
}

impl History {
    /// Records an evaluation made at `inputs_now_ms`: its proposal always,
    /// and a scale event when the service acted on it (created the job).
    /// Forgets what no window or rate period can reach any more. The service
    /// records only evaluations that are not dry runs.
    pub fn record(&mut self, inputs_now_ms: i64, eval: &Evaluation, acted: bool) {
        let now = inputs_now_ms;
        self.since_ms.get_or_insert(now);
        // A run of equal proposals is kept as its latest: every window ends
        // now, so the latest of a run is in any window one of the run is
        // in. The stored history then grows with changes, not with batches.
        match self.proposals.last_mut() {
            Some(last) if last.desired == eval.proposed && last.time_ms <= now => {
                last.time_ms = now;
            }
            _ => self.proposals.push(Proposal {
                time_ms: now,
                desired: eval.proposed,
            }),
        }
        if acted && eval.desired != eval.current {
            self.scale_events.push(ScaleEvent {
                time_ms: now,
                from: eval.current,
                to: eval.desired,
            });
        }
        // Entries from the future (a clock that stepped back) are dropped
        // too: evaluate ignores them, and keeping them would pin them here.
        let cutoff = now.saturating_sub(eval.retain_ms);
        self.proposals
            .retain(|p| p.time_ms > cutoff && p.time_ms <= now);
        self.scale_events
            .retain(|e| e.time_ms > cutoff && e.time_ms <= now);
    }
}

/// Why a decision holds or scales less than a policy asked for. The order
/// is the proto's (`DecisionReason`), with the engine's additions last;
/// [`Evaluation::reasons`] lists them in this order. Serialized as
/// [`Reason::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Every policy's ratio is within the tolerance of 1.
    WithinTolerance,
    /// A stabilization window kept the count from following the proposal.
    StabilizationWindow,
    /// Some policy lacks samples, so scaling down is not allowed.
    MetricsMissing,
    /// The scale-up rate limit cut the step.
    ScaleUpRateLimited,
    /// The count was raised to a min.
    AtMinDroplets,
    /// The count was capped at a max.
    AtMaxDroplets,
    /// The previous scaling job runs, so nothing new starts.
    JobInProgress,
    /// The min or max that applied came from an active schedule.
    ScheduleActive,
    /// The cost cap cut the scale-up.
    CostCap,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::WithinTolerance,
        Reason::StabilizationWindow,
        Reason::MetricsMissing,
        Reason::ScaleUpRateLimited,
        Reason::AtMinDroplets,
        Reason::AtMaxDroplets,
        Reason::JobInProgress,
        Reason::ScheduleActive,
        Reason::CostCap,
    ];

    /// A stable name, e.g. `scale_up_rate_limited`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::WithinTolerance => "within_tolerance",
            Reason::StabilizationWindow => "stabilization_window",
            Reason::MetricsMissing => "metrics_missing",
            Reason::ScaleUpRateLimited => "scale_up_rate_limited",
            Reason::AtMinDroplets => "at_min_droplets",
            Reason::AtMaxDroplets => "at_max_droplets",
            Reason::JobInProgress => "job_in_progress",
            Reason::ScheduleActive => "schedule_active",
            Reason::CostCap => "cost_cap",
        }
    }
}

/// Serialized as [`Action::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    None,
    ScaleUp,
    ScaleDown,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::None, Action::ScaleUp, Action::ScaleDown];

    /// A stable name: `none`, `scale_up` or `scale_down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::ScaleUp => "scale_up",
            Action::ScaleDown => "scale_down",
        }
    }
}

/// One policy's view within an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub policy_id: String,
    pub metric: Metric,
    /// `None` when the metric has no samples at all.
    pub current_value: Option<f64>,
    pub target: f64,
    /// `ceil(current × value / target)` (with an empty cluster counted as
    /// one droplet); `current` without a value.
    pub raw_desired: u32,
    /// After the tolerance and the policy's effective min/max.
    pub desired: u32,
    /// No samples at all, or some active droplet sent none.
    pub metrics_missing: bool,
}

/// The engine's answer for one cluster at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub recommendations: Vec<Recommendation>,
    /// The policy whose desired count won (its size and image are used for
    /// new droplets); `None` without policies.
    pub winner: Option<String>,
    /// Live droplets when evaluated (`Inputs::current`).
    pub current: u32,
    /// The largest desired count before stabilization: what the history
    /// keeps.
    pub proposed: u32,
    /// The count to scale to, after every constraint.
    pub desired: u32,
    pub action: Action,
    /// Deduplicated, in [`Reason`]'s order.
    pub reasons: Vec<Reason>,
    /// For people: one clause per policy, then one per constraint that held.
    pub explanation: String,
    /// How much history the next evaluation can need: the longest window of
    /// any policy, and at least the rate period. [`History::record`] prunes
    /// to it.
    pub retain_ms: i64,
}

/// Which bound a clamp applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clamp {
    None,
    Min,
    Max,
}

/// A policy's recommendation with what the decision and its explanation
/// need to know about how it came about.
struct PolicyView {
    rec: Recommendation,
    within_tolerance: bool,
    bounds: Bounds,
    clamp: Clamp,
    clause: String,
}

/// Evaluates `policies` (the cluster's enabled ones) against `inputs`, with
/// `history` from earlier evaluations. Pure and deterministic.
pub fn evaluate(policies: &[PolicyRule], inputs: &Inputs, history: &History) -> Evaluation {
    let now = inputs.now_ms;
    let current = inputs.current;
    let retain_ms = policies
        .iter()
        .flat_map(|p| [p.up_window_ms, p.down_window_ms])
        .fold(RATE_PERIOD_MS, i64::max);

    let views: Vec<PolicyView> = policies.iter().map(|p| recommend(p, inputs)).collect();
    // The largest desired count wins; `max_by_key` would take the last of
    // equals, and ties go to the first policy.
    let Some((w, winner)) = views.iter().enumerate().reduce(|best, v| {
        if v.1.rec.desired > best.1.rec.desired {
            v
        } else {
            best
        }
    }) else {
        return Evaluation {
            recommendations: Vec::new(),
            winner: None,
            current,
            proposed: current,
            desired: current,
            action: Action::None,
            reasons: Vec::new(),
            explanation: format!("no enabled policy → keep {current}"),
            retain_ms,
        };
    };
    let rule = &policies[w];
    let proposed = winner.rec.desired;

    let mut reasons = BTreeSet::new();
    let mut clauses: Vec<String> = views.iter().map(|v| v.clause.clone()).collect();

    if views.iter().all(|v| v.within_tolerance) {
        reasons.insert(Reason::WithinTolerance);
    }
    match winner.clamp {
        Clamp::None => {}
        Clamp::Min => {
            reasons.insert(Reason::AtMinDroplets);
            if winner.bounds.min_from.is_some() {
                reasons.insert(Reason::ScheduleActive);
            }
        }
        Clamp::Max => {
            reasons.insert(Reason::AtMaxDroplets);
            if winner.bounds.max_from.is_some() {
                reasons.insert(Reason::ScheduleActive);
            }
        }
    }

    // Stabilization, as the HPA, over the winner's windows; then the bounds
    // again, because a window may hold proposals made under a higher max (or
    // a lower min) than the one now in force, and bounds are hard, as the
    // HPA's. With largest-wins the cluster's bounds are the largest min and
    // the largest max, and the proposal always lies between them.
    let stabilized = stabilize(history, now, current, proposed, rule);
    let (lo, lo_view) = extreme(&views, |b| b.min);
    let (hi, hi_view) = extreme(&views, |b| b.max);
    let mut desired = stabilized.max(lo).min(hi);
    // When the bounds bring the count back to the proposal, the policy's
    // clause already says why.
    if desired != proposed {
        reasons.insert(Reason::StabilizationWindow);
        clauses.push(if proposed > current {
            format!(
                "scale-up held at {stabilized} by the {} s stabilization window",
                seconds(rule.up_window_ms)
            )
        } else {
            format!(
                "scale-down held at {stabilized} by the {} s stabilization window",
                seconds(rule.down_window_ms)
            )
        });
        if desired > stabilized {
            reasons.insert(Reason::AtMinDroplets);
            clauses.push(format!(
                "raised to min {lo}{}",
                bound_source(policies, &views, lo_view, |b| b.min_from, &mut reasons)
            ));
        } else if desired < stabilized {
            reasons.insert(Reason::AtMaxDroplets);
            clauses.push(format!(
                "capped at max {hi}{}",
                bound_source(policies, &views, hi_view, |b| b.max_from, &mut reasons)
            ));
        }
    }

    // Never scale down on partial data: a droplet that stopped reporting may
    // be the busy one.
    if views.iter().any(|v| v.rec.metrics_missing) {
        reasons.insert(Reason::MetricsMissing);
        if desired < current {
            desired = current;
            clauses.push(format!("metrics missing: no scale-down below {current}"));
        }
    }

    if desired > current {
        let limit = scale_up_limit(history, now, current);
        if desired > limit.max {
            desired = limit.max;
            reasons.insert(Reason::ScaleUpRateLimited);
            clauses.push(format!(
                "scale-up limited to +{} per 15 s → {desired}",
                limit.max - limit.start
            ));
        }
    }

    if desired > current
        && let Some(cap) = inputs.cost_cap_cents
        && let Some(fits) = droplets_within_cap(
            cap,
            inputs.monthly_cost_cents,
            rule.added_droplet_monthly_cents,
        )
        && desired - current > fits
    {
        desired = current + fits;
        reasons.insert(Reason::CostCap);
        clauses.push(format!(
            "cost cap {}/month allows +{fits} at {} each (now {}) → {desired}",
            money(cap),
            money(rule.added_droplet_monthly_cents),
            money(inputs.monthly_cost_cents),
        ));
    }

    let mut action = match desired.cmp(&current) {
        std::cmp::Ordering::Greater => Action::ScaleUp,
        std::cmp::Ordering::Less => Action::ScaleDown,
        std::cmp::Ordering::Equal => Action::None,
    };
    if inputs.job_in_progress && action != Action::None {
        action = Action::None;
        reasons.insert(Reason::JobInProgress);
        clauses.push(format!(
            "the previous scaling job is still running: {current} → {desired} waits"
        ));
    }

    Evaluation {
        winner: Some(rule.id.clone()),
        recommendations: views.into_iter().map(|v| v.rec).collect(),
        current,
        proposed,
        desired,
        action,
        reasons: reasons.into_iter().collect(),
        explanation: clauses.join("; "),
        retain_ms,
    }
}

/// `82.0 %`, `3.5 Mbps`, or a bare `1.5` for a unitless metric.
fn with_unit(v: f64, unit: &str) -> String {
    if unit.is_empty() {
        format!("{v:.1}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// One policy's recommendation.
fn recommend(rule: &PolicyRule, inputs: &Inputs) -> PolicyView {
    let current = inputs.current;
    let slug = rule.metric.slug();
    let unit = rule.metric.unit();
    let bounds = schedule::bounds(rule, inputs.now_ms);
    // A non-finite average is no reading: nothing can be concluded from it.
    let reading = inputs
        .readings
        .get(&rule.metric)
        .filter(|r| r.average.is_finite());

    let (value, raw, wanted, within_tolerance, metrics_missing, mut clause) = match reading {
        None => (
            None,
            current,
            current,
            false,
            true,
            format!("{slug}: no samples → keep {current}"),
        ),
        // The service validates targets; a bad one must not divide by zero.
        Some(r) if !(rule.target.is_finite() && rule.target > 0.0) => (
            Some(r.average),
            current,
            current,
            false,
            r.missing,
            format!(
                "{slug}: target {} is not positive → keep {current}",
                rule.target
            ),
        ),
        Some(r) => {
            let average = r.average.max(0.0);
            let target = rule.target;
            // An empty cluster counts as one droplet, so that it can grow
            // (to its min at least) instead of multiplying by zero.
            let base = current.max(1);
            let raw = ceil_count(f64::from(base) * average / target);
            let within = ((average / target) - 1.0).abs() <= TOLERANCE + EPSILON;
            let mut clause = format!(
                "{slug} {} vs target {}",
                with_unit(average, unit),
                with_unit(target, unit)
            );
            if within {
                clause.push_str(&format!(": within tolerance → keep {current}"));
            } else {
                clause.push_str(&format!(" → ceil({base}×{average:.1}/{target:.1})={raw}"));
            }
            if r.missing {
                clause.push_str(" (some droplets sent no samples)");
            }
            let wanted = if within { current } else { raw };
            (Some(r.average), raw, wanted, within, r.missing, clause)
        }
    };

    let desired = wanted.clamp(bounds.min, bounds.max);
    let clamp = if desired > wanted {
        clause.push_str(&format!(
            ", raised to min {}{}",
            bounds.min,
            schedule_note(rule, bounds.min_from)
        ));
        Clamp::Min
    } else if desired < wanted {
        clause.push_str(&format!(
            ", capped at max {}{}",
            bounds.max,
            schedule_note(rule, bounds.max_from)
        ));
        Clamp::Max
    } else {
        Clamp::None
    };

    PolicyView {
        rec: Recommendation {
            policy_id: rule.id.clone(),
            metric: rule.metric,
            current_value: value,
            target: rule.target,
            raw_desired: raw,
            desired,
            metrics_missing,
        },
        within_tolerance,
        bounds,
        clamp,
        clause,
    }
}

/// The HPA's stabilization: `up` is the lowest proposal of the scale-up
/// window, `down` the highest of the scale-down window (both including this
/// one); the count moves towards the proposal only as far as they allow.
fn stabilize(history: &History, now: i64, current: u32, proposed: u32, rule: &PolicyRule) -> u32 {
    let up_cutoff = now.saturating_sub(rule.up_window_ms);
    let down_cutoff = now.saturating_sub(rule.down_window_ms);
    let mut up = proposed;
    let mut down = proposed;
    for p in history.proposals.iter().filter(|p| p.time_ms <= now) {
        if p.time_ms > up_cutoff {
            up = up.min(p.desired);
        }
        if p.time_ms > down_cutoff {
            down = down.max(p.desired);
        }
    }
    // What the history never saw counts as the count in place (see
    // `History::since_ms`); so does a window no evaluation fell in (samples
    // stopped for a while, or the policies were off), as runs of equal
    // proposals keep their latest time.
    let since = history.since_ms.unwrap_or(now);
    let last = history
        .proposals
        .iter()
        .rev()
        .find(|p| p.time_ms <= now)
        .map(|p| p.time_ms);
    let unobserved = |window: i64, cutoff: i64| {
        window > 0 && (since > cutoff || last.is_none_or(|t| t <= cutoff))
    };
    if unobserved(rule.up_window_ms, up_cutoff) {
        up = up.min(current);
    }
    if unobserved(rule.down_window_ms, down_cutoff) {
        down = down.max(current);
    }
    let mut desired = current;
    if desired < up {
        desired = up;
    }
    if desired > down {
        desired = down;
    }
    desired
}

/// The scale-up limit over the rate period.
struct ScaleUpLimit {
    /// The count at the period's start: `current` less what was added in it.
    start: u32,
    /// The most the count may reach by the period's end.
    max: u32,
}

/// At most the larger of +100 % and +4 over the last rate period, counted
/// from the period's start, so two quick steps cannot add up past it.
fn scale_up_limit(history: &History, now: i64, current: u32) -> ScaleUpLimit {
    let cutoff = now.saturating_sub(RATE_PERIOD_MS);
    let added = history
        .scale_events
        .iter()
        .filter(|e| e.time_ms > cutoff && e.time_ms <= now)
        .map(|e| e.to.saturating_sub(e.from))
        .fold(0u32, u32::saturating_add);
    let start = current.saturating_sub(added);
    let max = start
        .saturating_mul(2)
        .max(start.saturating_add(RATE_STEP))
        // What was already added stays: the limit never asks for a step down.
        .max(current);
    ScaleUpLimit { start, max }
}

/// How many droplets at `price` fit under `cap` from `cost`; `None` when
/// droplets are free (nothing to cap).
fn droplets_within_cap(cap: i64, cost: i64, price: i64) -> Option<u32> {
    if price <= 0 {
        return None;
    }
    let room = cap.saturating_sub(cost).max(0);
    Some(u32::try_from(room / price).unwrap_or(u32::MAX))
}

/// The largest value of a bound across policies, and the first policy that
/// has it.
fn extreme(views: &[PolicyView], bound: impl Fn(&Bounds) -> u32) -> (u32, usize) {
    views
        .iter()
        .enumerate()
        .map(|(i, v)| (bound(&v.bounds), i))
        .reduce(|best, x| if x.0 > best.0 { x } else { best })
        .unwrap_or((0, 0))
}

/// " (schedule …)" when the bound of `views[i]` came from a schedule, which
/// also makes the schedule a reason.
fn bound_source(
    policies: &[PolicyRule],
    views: &[PolicyView],
    i: usize,
    from: impl Fn(&Bounds) -> Option<usize>,
    reasons: &mut BTreeSet<Reason>,
) -> String {
    let (Some(rule), Some(view)) = (policies.get(i), views.get(i)) else {
        return String::new();
    };
    let source = from(&view.bounds);
    if source.is_some() {
        reasons.insert(Reason::ScheduleActive);
    }
    schedule_note(rule, source)
}

fn schedule_note(rule: &PolicyRule, from: Option<usize>) -> String {
    from.and_then(|i| rule.schedules.get(i))
        .map(|s| format!(" ({s})"))
        .unwrap_or_default()
}

/// `ceil`, forgiving float noise just above an integer, saturating into a
/// droplet count (`as` maps NaN to 0 and clamps the rest).
fn ceil_count(x: f64) -> u32 {
    (x - EPSILON).ceil().max(0.0) as u32
}

fn seconds(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{:.1}", ms as f64 / 1000.0)
    }
}

/// Cents as a price: 4800 → "48.00".
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000;

    fn policy(id: &str, metric: Metric, target: f64) -> PolicyRule {
        PolicyRule {
            id: id.into(),
            metric,
            target,
            min: 1,
            max: 20,
            up_window_ms: 0,
            down_window_ms: 0,
            schedules: Vec::new(),
            added_droplet_monthly_cents: 600,
        }
    }

    fn cpu(target: f64) -> PolicyRule {
        policy("cpu-policy", Metric::CpuPercent, target)
    }

    fn inputs(current: u32, readings: &[(Metric, f64)]) -> Inputs {
        Inputs {
            now_ms: NOW,
            current,
            readings: readings
                .iter()
                .map(|&(m, average)| {
                    (
                        m,
                        MetricReading {
                            average,
                            missing: false,
                        },
                    )
                })
                .collect(),
            job_in_progress: false,
            monthly_cost_cents: 0,
            cost_cap_cents: None,
        }
    }

    fn observed() -> History {
        // A history that has watched long enough for any window.
        History {
            since_ms: Some(0),
            ..History::default()
        }
    }

    #[test]
    fn metrics_have_slugs_and_units() {
        let slugs: Vec<_> = Metric::ALL.iter().map(|m| m.slug()).collect();
        assert_eq!(
            slugs,
            [
                "cpu",
                "memory",
                "disk",
                "network_in",
                "network_out",
                "load_1m"
            ]
        );
        let percent: Vec<_> = Metric::ALL.iter().map(|m| m.is_percent()).collect();
        assert_eq!(percent, [true, true, true, false, false, false]);
        assert!(Metric::ALL.iter().enumerate().all(|(i, m)| m.index() == i));
        assert_eq!(Metric::NetworkOutMbps.unit(), "Mbps");
    }

    #[test]
    fn names_round_trip_through_their_slugs_and_serde() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_slug(m.slug()), Some(m));
            assert_eq!(
                serde_json::to_string(&m).expect("serializes"),
                format!("\"{}\"", m.slug())
            );
        }
        assert_eq!(Metric::from_slug("gpu"), None);
        for r in Reason::ALL {
            let json = serde_json::to_string(&r).expect("serializes");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
            assert_eq!(serde_json::from_str::<Reason>(&json).expect("parses"), r);
        }
        for a in Action::ALL {
            let json = serde_json::to_string(&a).expect("serializes");
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<Action>(&json).expect("parses"), a);
        }
    }

    #[test]
    fn a_ratio_within_tolerance_keeps_the_count() {
        // 66/60 = 1.1: the edge of the tolerance is inside it.
        let e = evaluate(
            &[cpu(60.0)],
            &inputs(3, &[(Metric::CpuPercent, 66.0)]),
            &observed(),
        );
        assert_eq!((e.proposed, e.desired, e.action), (3, 3, Action::None));
        assert_eq!(e.reasons, [Reason::WithinTolerance]);
        assert_eq!(e.recommendations[0].raw_desired, 4);
        assert_eq!(
            e.explanation,
            "cpu 66.0 % vs target 60.0 %: within tolerance → keep 3"
        );
    }

    #[test]
    fn a_ratio_outside_tolerance_scales_to_the_ceiling_of_the_product() {
        let e = evaluate(
            &[cpu(60.0)],
            &inputs(3, &[(Metric::CpuPercent, 67.0)]),
            &observed(),
        );
        assert_eq!((e.desired, e.action), (4, Action::ScaleUp));
        assert!(e.reasons.is_empty());
        assert_eq!(
            e.explanation,
            "cpu 67.0 % vs target 60.0 % → ceil(3×67.0/60.0)=4"
        );
        assert_eq!(
            e.recommendations,
            [Recommendation {
                policy_id: "cpu-policy".into(),
                metric: Metric::CpuPercent,
                current_value: Some(67.0),
                target: 60.0,
                raw_desired: 4,
                desired: 4,
                metrics_missing: false,
            }]
        );
        assert_eq!(e.winner.as_deref(), Some("cpu-policy"));
    }

    #[test]
    fn an_exact_product_is_not_rounded_up_by_float_noise() {
        // 1 × 2.1 / 0.7 is 3.0000000000000004 in f64.
        let p = policy("net", Metric::NetworkInMbps, 0.7);
        let e = evaluate(
            &[p],
            &inputs(1, &[(Metric::NetworkInMbps, 2.1)]),
            &observed(),
        );
        assert_eq!(e.desired, 3);
        assert_eq!(
            e.explanation,
            "network_in 2.1 Mbps vs target 0.7 Mbps → ceil(1×2.1/0.7)=3"
        );
    }

    #[test]
    fn an_empty_cluster_grows_to_its_min() {
        let mut p = cpu(60.0);
        p.min = 2;
        let e = evaluate(&[p], &inputs(0, &[]), &observed());
        assert_eq!((e.desired, e.action), (2, Action::ScaleUp));
        assert_eq!(e.reasons, [Reason::MetricsMissing, Reason::AtMinDroplets]);
        assert_eq!(e.explanation, "cpu: no samples → keep 0, raised to min 2");
    }

    #[test]
    fn an_empty_cluster_counts_as_one_droplet_in_the_product() {
        let e = evaluate(
            &[cpu(50.0)],
            &inputs(0, &[(Metric::CpuPercent, 150.0)]),
            &observed(),
        );
        assert_eq!(e.recommendations[0].raw_desired, 3);
        assert_eq!(e.desired, 3);
        assert_eq!(
            e.explanation,
            "cpu 150.0 % vs target 50.0 % → ceil(1×150.0/50.0)=3"
        );
    }

    #[test]
    fn a_policy_without_samples_recommends_the_current_count() {
        let e = evaluate(&[cpu(60.0)], &inputs(4, &[]), &observed());
        let r = &e.recommendations[0];
        assert_eq!(
            (r.current_value, r.raw_desired, r.desired, r.metrics_missing),
            (None, 4, 4, true)
        );
        assert_eq!((e.desired, e.action), (4, Action::None));
        assert_eq!(e.reasons, [Reason::MetricsMissing]);
        assert_eq!(e.explanation, "cpu: no samples → keep 4");
    }

    #[test]
    fn a_non_finite_average_counts_as_no_samples() {
        let e = evaluate(
            &[cpu(60.0)],
            &inputs(4, &[(Metric::CpuPercent, f64::NAN)]),
            &observed(),
        );
        assert_eq!(e.recommendations[0].current_value, None);
        assert_eq!(e.reasons, [Reason::MetricsMissing]);
    }

    #[test]
    fn a_target_that_is_not_positive_keeps_the_count() {
        let e = evaluate(
            &[cpu(0.0)],
            &inputs(4, &[(Metric::CpuPercent, 90.0)]),
            &observed(),
        );
        assert_eq!((e.desired, e.action), (4, Action::None));
        assert_eq!(e.explanation, "cpu: target 0 is not positive → keep 4");
    }

    #[test]
    fn the_clamp_to_min_and_max_is_a_reason() {
        let mut p = cpu(60.0);
        p.max = 5;
        let e = evaluate(
            &[p.clone()],
            &inputs(3, &[(Metric::CpuPercent, 180.0)]),
            &observed(),
        );
        assert_eq!((e.recommendations[0].raw_desired, e.desired), (9, 5));
        assert_eq!(e.reasons, [Reason::AtMaxDroplets]);
        assert_eq!(
            e.explanation,
            "cpu 180.0 % vs target 60.0 % → ceil(3×180.0/60.0)=9, capped at max 5"
        );

        p.min = 3;
        let e = evaluate(&[p], &inputs(4, &[(Metric::CpuPercent, 10.0)]), &observed());
        assert_eq!((e.desired, e.action), (3, Action::ScaleDown));
        assert_eq!(e.reasons, [Reason::AtMinDroplets]);
        assert_eq!(
            e.explanation,
            "cpu 10.0 % vs target 60.0 % → ceil(4×10.0/60.0)=1, raised to min 3"
        );
    }

    #[test]
    fn a_bound_from_an_active_schedule_is_named() {
        let mut p = cpu(60.0);
        p.schedules =
            vec![Schedule::parse("* * * * *", "UTC", 120_000, Some(5), None).expect("ok")];
        let e = evaluate(&[p], &inputs(3, &[(Metric::CpuPercent, 60.0)]), &observed());
        assert_eq!((e.desired, e.action), (5, Action::ScaleUp));
        assert_eq!(
            e.reasons,
            [
                Reason::WithinTolerance,
                Reason::AtMinDroplets,
                Reason::ScheduleActive
            ]
        );
        assert_eq!(
            e.explanation,
            "cpu 60.0 % vs target 60.0 %: within tolerance → keep 3, \
             raised to min 5 (schedule \"* * * * *\" UTC)"
        );
    }

    #[test]
    fn with_several_policies_the_largest_desired_wins_and_ties_go_to_the_first() {
        let policies = [
            cpu(60.0),
            policy("mem", Metric::MemoryPercent, 50.0),
            policy("disk", Metric::DiskPercent, 50.0),
        ];
        let e = evaluate(
            &policies,
            &inputs(
                4,
                &[
                    (Metric::CpuPercent, 75.0),
                    (Metric::MemoryPercent, 75.0),
                    (Metric::DiskPercent, 75.0),
                ],
            ),
            &observed(),
        );
        let desired: Vec<_> = e.recommendations.iter().map(|r| r.desired).collect();
        assert_eq!(desired, [5, 6, 6]);
        assert_eq!(e.winner.as_deref(), Some("mem"));
        assert_eq!((e.proposed, e.desired), (6, 6));
        assert_eq!(
            e.explanation,
            "cpu 75.0 % vs target 60.0 % → ceil(4×75.0/60.0)=5; \
             memory 75.0 % vs target 50.0 % → ceil(4×75.0/50.0)=6; \
             disk 75.0 % vs target 50.0 % → ceil(4×75.0/50.0)=6"
        );
    }

    #[test]
    fn within_tolerance_is_a_reason_only_when_every_policy_is_within_it() {
        let policies = [cpu(60.0), policy("mem", Metric::MemoryPercent, 50.0)];
        let e = evaluate(
            &policies,
            &inputs(
                4,
                &[(Metric::CpuPercent, 60.0), (Metric::MemoryPercent, 20.0)],
            ),
            &observed(),
        );
        // memory alone would go to 2, but cpu's 4 is larger.
        assert_eq!((e.desired, e.action), (4, Action::None));
        assert!(e.reasons.is_empty());
    }

    #[test]
    fn without_policies_nothing_changes() {
        let e = evaluate(&[], &inputs(3, &[]), &History::default());
        assert_eq!((e.winner, e.desired, e.action), (None, 3, Action::None));
        assert_eq!(e.explanation, "no enabled policy → keep 3");
        assert_eq!(e.retain_ms, RATE_PERIOD_MS);
    }

    #[test]
    fn missing_metrics_forbid_a_scale_down() {
        let mut i = inputs(6, &[(Metric::CpuPercent, 10.0)]);
        if let Some(r) = i.readings.get_mut(&Metric::CpuPercent) {
            r.missing = true;
        }
        let e = evaluate(&[cpu(60.0)], &i, &observed());
        assert_eq!((e.proposed, e.desired, e.action), (1, 6, Action::None));
        assert!(e.recommendations[0].metrics_missing);
        assert_eq!(e.reasons, [Reason::MetricsMissing]);
        assert_eq!(
            e.explanation,
            "cpu 10.0 % vs target 60.0 % → ceil(6×10.0/60.0)=1 (some droplets sent no samples); \
             metrics missing: no scale-down below 6"
        );
    }

    #[test]
    fn missing_metrics_still_allow_a_scale_up() {
        let mut i = inputs(2, &[(Metric::CpuPercent, 90.0)]);
        if let Some(r) = i.readings.get_mut(&Metric::CpuPercent) {
            r.missing = true;
        }
        let e = evaluate(&[cpu(60.0)], &i, &observed());
        assert_eq!((e.desired, e.action), (3, Action::ScaleUp));
        assert_eq!(e.reasons, [Reason::MetricsMissing]);
    }

    #[test]
    fn the_down_window_holds_the_highest_proposal() {
        let mut p = cpu(60.0);
        p.down_window_ms = 300_000;
        let history = History {
            since_ms: Some(0),
            proposals: vec![
                Proposal {
                    time_ms: NOW - 300_000,
                    desired: 9,
                }, // just outside
                Proposal {
                    time_ms: NOW - 200_000,
                    desired: 5,
                },
                Proposal {
                    time_ms: NOW - 100_000,
                    desired: 3,
                },
            ],
            scale_events: Vec::new(),
        };
        let e = evaluate(&[p], &inputs(6, &[(Metric::CpuPercent, 20.0)]), &history);
        assert_eq!((e.proposed, e.desired, e.action), (2, 5, Action::ScaleDown));
        assert_eq!(e.reasons, [Reason::StabilizationWindow]);
        assert_eq!(
            e.explanation,
            "cpu 20.0 % vs target 60.0 % → ceil(6×20.0/60.0)=2; \
             scale-down held at 5 by the 300 s stabilization window"
        );
    }

    #[test]
    fn the_up_window_holds_the_lowest_proposal() {
        let mut p = cpu(60.0);
        p.up_window_ms = 60_000;
        let history = History {
            since_ms: Some(0),
            proposals: vec![Proposal {
                time_ms: NOW - 30_000,
                desired: 4,
            }],
            scale_events: Vec::new(),
        };
        let e = evaluate(&[p], &inputs(3, &[(Metric::CpuPercent, 120.0)]), &history);
        assert_eq!((e.proposed, e.desired, e.action), (6, 4, Action::ScaleUp));
        assert_eq!(e.reasons, [Reason::StabilizationWindow]);
        assert_eq!(
            e.explanation,
            "cpu 120.0 % vs target 60.0 % → ceil(3×120.0/60.0)=6; \
             scale-up held at 4 by the 60 s stabilization window"
        );
    }

    #[test]
    fn a_fresh_history_waits_a_whole_down_window_before_scaling_down() {
        let mut p = cpu(60.0);
        p.down_window_ms = 300_000;
        let e = evaluate(
            &[p.clone()],
            &inputs(6, &[(Metric::CpuPercent, 20.0)]),
            &History::default(),
        );
        assert_eq!((e.desired, e.action), (6, Action::None));
        assert_eq!(e.reasons, [Reason::StabilizationWindow]);

        let partly = History {
            since_ms: Some(NOW - 299_999),
            ..History::default()
        };
        let e = evaluate(
            &[p.clone()],
            &inputs(6, &[(Metric::CpuPercent, 20.0)]),
            &partly,
        );
        assert_eq!(e.desired, 6);

        // Observed for the whole window, and low throughout.
        let fully = History {
            since_ms: Some(NOW - 300_000),
            proposals: vec![Proposal {
                time_ms: NOW - 1_000,
                desired: 2,
            }],
            ..History::default()
        };
        let e = evaluate(&[p], &inputs(6, &[(Metric::CpuPercent, 20.0)]), &fully);
        assert_eq!((e.desired, e.action), (2, Action::ScaleDown));
    }

    #[test]
    fn a_lowered_max_applies_at_once_despite_the_down_window() {
        let mut p = cpu(60.0);
        p.down_window_ms = 300_000;
        p.max = 4;
        let history = History {
            since_ms: Some(0),
            proposals: vec![Proposal {
                time_ms: NOW - 60_000,
                desired: 8,
            }],
            scale_events: Vec::new(),
        };
        let e = evaluate(&[p], &inputs(8, &[(Metric::CpuPercent, 60.0)]), &history);
        assert_eq!((e.proposed, e.desired, e.action), (4, 4, Action::ScaleDown));
        assert_eq!(e.reasons, [Reason::WithinTolerance, Reason::AtMaxDroplets]);
        assert_eq!(
            e.explanation,
            "cpu 60.0 % vs target 60.0 %: within tolerance → keep 8, capped at max 4"
        );
    }

    #[test]
    fn the_rate_limit_counts_droplets_added_in_the_last_15_s() {
        let history = History {
            since_ms: Some(0),
            proposals: Vec::new(),
            scale_events: vec![
                ScaleEvent {
                    time_ms: NOW - 15_000,
                    from: 1,
                    to: 3,
                }, // outside
                ScaleEvent {
                    time_ms: NOW - 10_000,
                    from: 3,
                    to: 7,
                },
            ],
        };
        // Started the period at 3: at most max(6, 7) = 7, already reached.
        let e = evaluate(
            &[cpu(10.0)],
            &inputs(7, &[(Metric::CpuPercent, 50.0)]),
            &history,
        );
        assert_eq!((e.proposed, e.desired, e.action), (20, 7, Action::None));
        assert_eq!(
            e.reasons,
            [Reason::ScaleUpRateLimited, Reason::AtMaxDroplets]
        );
        assert_eq!(
            e.explanation,
            "cpu 50.0 % vs target 10.0 % → ceil(7×50.0/10.0)=35, capped at max 20; \
             scale-up limited to +4 per 15 s → 7"
        );
    }

    #[test]
    fn the_rate_limit_allows_doubling_a_large_cluster() {
        let mut p = cpu(10.0);
        p.max = 100;
        let e = evaluate(
            &[p],
            &inputs(10, &[(Metric::CpuPercent, 50.0)]),
            &observed(),
        );
        assert_eq!((e.desired, e.action), (20, Action::ScaleUp));
        assert_eq!(e.reasons, [Reason::ScaleUpRateLimited]);
        assert!(
            e.explanation
                .ends_with("; scale-up limited to +10 per 15 s → 20")
        );
    }

    #[test]
    fn the_cost_cap_cuts_a_scale_up_to_what_fits() {
        let mut i = inputs(3, &[(Metric::CpuPercent, 120.0)]);
        i.monthly_cost_cents = 1_800;
        i.cost_cap_cents = Some(3_000);
        let e = evaluate(&[cpu(60.0)], &i, &observed());
        assert_eq!((e.proposed, e.desired, e.action), (6, 5, Action::ScaleUp));
        assert_eq!(e.reasons, [Reason::CostCap]);
        assert_eq!(
            e.explanation,
            "cpu 120.0 % vs target 60.0 % → ceil(3×120.0/60.0)=6; \
             cost cap 30.00/month allows +2 at 6.00 each (now 18.00) → 5"
        );

        // Already over the cap: no scale-up at all.
        i.monthly_cost_cents = 3_100;
        let e = evaluate(&[cpu(60.0)], &i, &observed());
        assert_eq!((e.desired, e.action), (3, Action::None));
        assert_eq!(e.reasons, [Reason::CostCap]);
    }

    #[test]
    fn the_cost_cap_does_not_stop_a_scale_down() {
        let mut i = inputs(6, &[(Metric::CpuPercent, 10.0)]);
        i.monthly_cost_cents = 9_999;
        i.cost_cap_cents = Some(1);
        let e = evaluate(&[cpu(60.0)], &i, &observed());
        assert_eq!((e.desired, e.action), (1, Action::ScaleDown));
        assert!(e.reasons.is_empty());
    }

    #[test]
    fn a_job_in_progress_reports_the_desired_count_without_acting() {
        let mut i = inputs(3, &[(Metric::CpuPercent, 120.0)]);
        i.job_in_progress = true;
        let e = evaluate(&[cpu(60.0)], &i, &observed());
        assert_eq!((e.desired, e.action), (6, Action::None));
        assert_eq!(e.reasons, [Reason::JobInProgress]);
        assert!(
            e.explanation
                .ends_with("; the previous scaling job is still running: 3 → 6 waits")
        );
    }

    #[test]
    fn a_count_held_by_the_window_above_a_lowered_max_is_capped() {
        let mut p = cpu(60.0);
        p.max = 5;
        p.down_window_ms = 300_000;
        let history = History {
            since_ms: Some(0),
            proposals: vec![Proposal {
                time_ms: NOW - 1,
                desired: 8,
            }],
            scale_events: Vec::new(),
        };
        let e = evaluate(&[p], &inputs(8, &[(Metric::CpuPercent, 10.0)]), &history);
        assert_eq!((e.proposed, e.desired, e.action), (2, 5, Action::ScaleDown));
        assert_eq!(
            e.reasons,
            [Reason::StabilizationWindow, Reason::AtMaxDroplets]
        );
        assert_eq!(
            e.explanation,
            "cpu 10.0 % vs target 60.0 % → ceil(8×10.0/60.0)=2; \
             scale-down held at 8 by the 300 s stabilization window; capped at max 5"
        );
    }

    #[test]
    fn reasons_are_listed_in_declaration_order_not_as_they_arose() {
        let mut p = cpu(60.0);
        p.schedules =
            vec![Schedule::parse("* * * * *", "UTC", 120_000, Some(5), None).expect("ok")];
        let mut i = inputs(3, &[(Metric::CpuPercent, 60.0)]);
        i.monthly_cost_cents = 0;
        i.cost_cap_cents = Some(600);
        i.job_in_progress = true;
        let e = evaluate(&[p], &i, &observed());
        assert_eq!((e.proposed, e.desired, e.action), (5, 4, Action::None));
        assert_eq!(
            e.reasons,
            [
                Reason::WithinTolerance,
                Reason::AtMinDroplets,
                Reason::JobInProgress,
                Reason::ScheduleActive,
                Reason::CostCap
            ]
        );
        assert_eq!(
            e.explanation,
            "cpu 60.0 % vs target 60.0 %: within tolerance → keep 3, \
             raised to min 5 (schedule \"* * * * *\" UTC); \
             cost cap 6.00/month allows +1 at 6.00 each (now 0.00) → 4; \
             the previous scaling job is still running: 3 → 4 waits"
        );
    }

    #[test]
    fn history_records_proposals_and_scale_events_and_forgets_old_ones() {
        let mut p = cpu(60.0);
        p.down_window_ms = 60_000;
        let mut history = History::default();
        let e = evaluate(
            &[p.clone()],
            &inputs(3, &[(Metric::CpuPercent, 120.0)]),
            &history,
        );
        assert_eq!(e.retain_ms, 60_000);
        history.record(NOW, &e, true);
        assert_eq!(history.since_ms, Some(NOW));
        assert_eq!(
            history.proposals,
            [Proposal {
                time_ms: NOW,
                desired: 6
            }]
        );
        assert_eq!(
            history.scale_events,
            [ScaleEvent {
                time_ms: NOW,
                from: 3,
                to: 6
            }]
        );

        // Not acted on: only the proposal, which repeats the last one, so
        // the run keeps its latest time instead of growing.
        history.record(NOW + 30_000, &e, false);
        assert_eq!(
            history.proposals,
            [Proposal {
                time_ms: NOW + 30_000,
                desired: 6
            }]
        );
        assert_eq!(history.scale_events.len(), 1);

        // A different proposal is a new entry.
        let lower = evaluate(
            &[p.clone()],
            &inputs(3, &[(Metric::CpuPercent, 100.0)]),
            &history,
        );
        history.record(NOW + 40_000, &lower, false);
        assert_eq!(history.proposals.len(), 2);

        // A minute on, the first entries are out of every window.
        history.record(NOW + 90_000, &e, false);
        assert_eq!(
            history.proposals,
            [
                Proposal {
                    time_ms: NOW + 40_000,
                    desired: lower.proposed
                },
                Proposal {
                    time_ms: NOW + 90_000,
                    desired: 6
                }
            ]
        );
        assert!(history.scale_events.is_empty());
        assert_eq!(history.since_ms, Some(NOW));
    }

    #[test]
    fn a_gap_longer_than_the_down_window_waits_a_whole_window_again() {
        let mut p = policy("cpu", Metric::CpuPercent, 60.0);
        p.down_window_ms = 60_000;
        p.min = 1;
        // Observed at 4 for a while, then nothing for ten minutes.
        let mut history = History::default();
        let busy = evaluate(
            &[p.clone()],
            &inputs(4, &[(Metric::CpuPercent, 60.0)]),
            &history,
        );
        history.record(NOW - 700_000, &busy, false);
        history.record(NOW - 600_000, &busy, false);
        let low = evaluate(
            &[p.clone()],
            &inputs(4, &[(Metric::CpuPercent, 10.0)]),
            &history,
        );
        assert_eq!(low.action, Action::None, "{}", low.explanation);
        assert_eq!(low.desired, 4);
        assert!(low.reasons.contains(&Reason::StabilizationWindow));
    }

    #[test]
    fn history_survives_a_json_round_trip() {
        let history = History {
            since_ms: Some(5),
            proposals: vec![Proposal {
                time_ms: 10,
                desired: 3,
            }],
            scale_events: vec![ScaleEvent {
                time_ms: 10,
                from: 2,
                to: 3,
            }],
        };
        let json = serde_json::to_string(&history).expect("serializes");
        assert_eq!(
            json,
            r#"{"since_ms":5,"proposals":[{"time_ms":10,"desired":3}],"scale_events":[{"time_ms":10,"from":2,"to":3}]}"#
        );
        assert_eq!(
            serde_json::from_str::<History>(&json).expect("parses"),
            history
        );
        // An empty object (or one from an older version) is an empty history.
        assert_eq!(
            serde_json::from_str::<History>("{}").expect("parses"),
            History::default()
        );
    }
}
