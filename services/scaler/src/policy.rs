//! Scaling policies as the service keeps them, parsed at the boundary: a
//! `Policy` in hand has a valid name, bounds, target and windows.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{
    hpa::{Metric, PolicyRule},
    schedule::{Schedule, ScheduleError},
};

/// Most schedules a policy may hold.
pub const MAX_SCHEDULES: usize = 10;
/// The largest min/max a policy may name.
pub const MAX_DROPLETS: u32 = 100;
/// The longest stabilization window.
pub const MAX_WINDOW_MS: i64 = 3_600_000;
/// The scale-down window when none is given, as the HPA's default.
pub const DEFAULT_DOWN_WINDOW_MS: i64 = 300_000;

/// A bad value, named by the request field it came from.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A policy name: 1–63 characters, a DNS label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyName(String);

impl PolicyName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok = !raw.is_empty()
            && raw.len() <= 63
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(Invalid::new(
                "name",
                "must be 1–63 lowercase letters, digits or '-', not starting or ending with '-'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A schedule as stored and returned: the text the user gave, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub cron: String,
    pub time_zone: String,
    pub duration_ms: i64,
    pub min: Option<u32>,
    pub max: Option<u32>,
}

impl ScheduleSpec {
    /// The evaluable schedule; a stored spec was checked when it was saved.
    pub fn schedule(&self) -> Result<Schedule, ScheduleError> {
        Schedule::parse(
            &self.cron,
            &self.time_zone,
            self.duration_ms,
            self.min,
            self.max,
        )
    }
}

/// What a policy says, checked as a whole (min ≤ max, target in range…).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    pub name: PolicyName,
    pub metric: Metric,
    pub target: f64,
    pub min: u32,
    pub max: u32,
    pub size: String,
    pub image: String,
    pub up_window_ms: i64,
    pub down_window_ms: i64,
    pub schedules: Vec<ScheduleSpec>,
    pub enabled: bool,
}

/// A spec's fields before they are checked together.
#[derive(Debug, Clone, Default)]
pub struct RawSpec {
    pub name: String,
    pub metric: Option<Metric>,
    pub target: f64,
    pub min: i64,
    pub max: i64,
    pub size: String,
    pub image: String,
    pub up_window_ms: Option<i64>,
    pub down_window_ms: Option<i64>,
    pub schedules: Vec<ScheduleSpec>,
    pub enabled: bool,
}

impl PolicySpec {
    /// Checks every field and reports every bad one, not just the first.
    pub fn parse(raw: RawSpec) -> Result<Self, Vec<Invalid>> {
        let mut bad = Vec::new();
        let name = PolicyName::parse(&raw.name).map_err(|e| bad.push(e)).ok();
        if raw.metric.is_none() {
            bad.push(Invalid::new("metric", "must name a metric"));
        }
        if !raw.target.is_finite() || raw.target <= 0.0 {
            bad.push(Invalid::new("target_value", "must be a number above 0"));
        } else if raw.metric.is_some_and(Metric::is_percent) && raw.target > 100.0 {
            bad.push(Invalid::new(
                "target_value",
                "a percent target must be at most 100",
            ));
        }
        let bound = |v: i64| (1..=i64::from(MAX_DROPLETS)).contains(&v);
        if !bound(raw.min) {
            bad.push(Invalid::new(
                "min_droplets",
                format!("must be 1–{MAX_DROPLETS}"),
            ));
        }
        if !bound(raw.max) {
            bad.push(Invalid::new(
                "max_droplets",
                format!("must be 1–{MAX_DROPLETS}"),
            ));
        } else if bound(raw.min) && raw.max < raw.min {
            bad.push(Invalid::new(
                "max_droplets",
                "must be at least min_droplets",
            ));
        }
        if raw.size.trim().is_empty() {
            bad.push(Invalid::new("size", "must name a size"));
        }
        if raw.image.trim().is_empty() {
            bad.push(Invalid::new("image", "must name an image"));
        }
        let window = |v: Option<i64>, default: i64, field: &str, bad: &mut Vec<Invalid>| {
            let v = v.unwrap_or(default);
            if (0..=MAX_WINDOW_MS).contains(&v) {
                v
            } else {
                bad.push(Invalid::new(field, "must be 0 s – 1 h"));
                default
            }
        };
        let up_window_ms = window(raw.up_window_ms, 0, "scale_up_stabilization", &mut bad);
        let down_window_ms = window(
            raw.down_window_ms,
            DEFAULT_DOWN_WINDOW_MS,
            "scale_down_stabilization",
            &mut bad,
        );
        if raw.schedules.len() > MAX_SCHEDULES {
            bad.push(Invalid::new(
                "schedules",
                format!("at most {MAX_SCHEDULES}"),
            ));
        }
        for (i, s) in raw.schedules.iter().enumerate() {
            if let Err(e) = s.schedule() {
                bad.push(Invalid::new(
                    format!("schedules[{i}].{}", e.field()),
                    e.to_string(),
                ));
            }
        }
        match (name, raw.metric) {
            (Some(name), Some(metric)) if bad.is_empty() => Ok(Self {
                name,
                metric,
                target: raw.target,
                min: u32::try_from(raw.min).unwrap_or(1),
                max: u32::try_from(raw.max).unwrap_or(1),
                size: raw.size.trim().to_string(),
                image: raw.image.trim().to_string(),
                up_window_ms,
                down_window_ms,
                schedules: raw.schedules,
                enabled: raw.enabled,
            }),
            _ => Err(bad),
        }
    }
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub cluster_id: String,
    pub spec: PolicySpec,
    pub request_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Policy {
    /// The engine's view; `monthly_cents` is what one more droplet of the
    /// policy's size costs.
    pub fn rule(&self, monthly_cents: i64) -> PolicyRule {
        PolicyRule {
            id: self.id.clone(),
            metric: self.spec.metric,
            target: self.spec.target,
            min: self.spec.min,
            max: self.spec.max,
            up_window_ms: self.spec.up_window_ms,
            down_window_ms: self.spec.down_window_ms,
            schedules: self
                .spec
                .schedules
                .iter()
                .filter_map(|s| s.schedule().ok())
                .collect(),
            added_droplet_monthly_cents: monthly_cents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSpec {
        RawSpec {
            name: "cpu".into(),
            metric: Some(Metric::CpuPercent),
            target: 60.0,
            min: 2,
            max: 10,
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            ..RawSpec::default()
        }
    }

    fn fields(r: Result<PolicySpec, Vec<Invalid>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|i| i.field).collect()
    }

    #[test]
    fn a_good_spec_gets_the_hpa_default_windows() {
        let spec = PolicySpec::parse(raw()).unwrap();
        assert_eq!((spec.up_window_ms, spec.down_window_ms), (0, 300_000));
        assert!(!spec.enabled, "policies start disabled unless asked");
    }

    #[test]
    fn empty_name_is_rejected() {
        assert_eq!(
            fields(PolicySpec::parse(RawSpec {
                name: String::new(),
                ..raw()
            })),
            ["name"]
        );
    }

    #[test]
    fn min_above_max_is_rejected_on_max() {
        assert_eq!(
            fields(PolicySpec::parse(RawSpec {
                min: 5,
                max: 3,
                ..raw()
            })),
            ["max_droplets"]
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let got = fields(PolicySpec::parse(RawSpec {
            name: "Bad Name".into(),
            metric: Some(Metric::CpuPercent),
            target: 150.0,
            min: 0,
            max: 101,
            size: " ".into(),
            image: String::new(),
            up_window_ms: Some(-1),
            down_window_ms: Some(MAX_WINDOW_MS + 1),
            ..raw()
        }));
        assert_eq!(
            got,
            [
                "name",
                "target_value",
                "min_droplets",
                "max_droplets",
                "size",
                "image",
                "scale_up_stabilization",
                "scale_down_stabilization"
            ]
        );
    }

    #[test]
    fn a_mbps_target_may_exceed_100() {
        assert!(
            PolicySpec::parse(RawSpec {
                metric: Some(Metric::NetworkInMbps),
                target: 400.0,
                ..raw()
            })
            .is_ok()
        );
    }
}
