//! Scheduled bounds: windows, given by a cron expression in an IANA time
//! zone and a duration, during which a policy's min/max droplets are
//! replaced (for example "at least 6 droplets on weekdays 08:00–18:00 in
//! Berlin").
//!
//! A [`Schedule`] is parsed once at the boundary and cannot hold a bad cron
//! expression, zone, duration or bound.

use chrono::DateTime;
use chrono_tz::Tz;
use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};
use thiserror::Error;

use crate::hpa::PolicyRule;

/// The smallest and largest droplet bound a schedule may set, as a policy's
/// `min_droplets`/`max_droplets`.
pub const BOUND_RANGE: std::ops::RangeInclusive<u32> = 1..=100;

/// The longest window: a week covers every recurring business pattern, and a
/// bound keeps the backward occurrence search short.
pub const MAX_DURATION_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// The shortest window: cron's resolution is a minute.
pub const MIN_DURATION_MS: i64 = 60 * 1000;

/// Why a schedule was refused. [`ScheduleError::field`] names the request
/// field at fault, for a `google.rpc.BadRequest` field violation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScheduleError {
    #[error(
        "cron {cron:?} must have 5 fields (minute hour day-of-month month day-of-week), it has {fields}"
    )]
    CronFieldCount { cron: String, fields: usize },
    #[error("cron {cron:?} is invalid: {reason}")]
    Cron { cron: String, reason: String },
    #[error("time zone {0:?} is not an IANA time zone name (e.g. \"Europe/Berlin\")")]
    TimeZone(String),
    #[error("duration must be between 1 minute and 7 days, got {0} ms")]
    Duration(i64),
    #[error("min_droplets must be 1–100, got {0}")]
    MinDroplets(u32),
    #[error("max_droplets must be 1–100, got {0}")]
    MaxDroplets(u32),
    #[error("min_droplets {min} is greater than max_droplets {max}")]
    MinAboveMax { min: u32, max: u32 },
    #[error("a schedule must set min_droplets, max_droplets or both")]
    NoBounds,
}

impl ScheduleError {
    /// The field a violation is reported on.
    pub fn field(&self) -> &'static str {
        match self {
            Self::CronFieldCount { .. } | Self::Cron { .. } => "cron",
            Self::TimeZone(_) => "time_zone",
            Self::Duration(_) => "duration",
            Self::MinDroplets(_) | Self::NoBounds => "min_droplets",
            Self::MaxDroplets(_) | Self::MinAboveMax { .. } => "max_droplets",
        }
    }
}

/// A recurring window that replaces a policy's bounds while it is active.
///
/// Fields are private so that every value went through [`Schedule::parse`];
/// the accessors give back what was parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    cron_text: String,
    cron: Cron,
    zone: Tz,
    duration_ms: i64,
    min: Option<u32>,
    max: Option<u32>,
}

impl Schedule {
    /// Parses a schedule. `cron` has the five classic fields (minute, hour,
    /// day of month, month, day of week; names such as `MON` and `JAN`
    /// allowed) and gives the instants windows start, read as wall-clock
    /// time in `time_zone` (an IANA name; empty means UTC).
    pub fn parse(
        cron: &str,
        time_zone: &str,
        duration_ms: i64,
        min: Option<u32>,
        max: Option<u32>,
    ) -> Result<Self, ScheduleError> {
        let cron_text = cron.trim().to_string();
        // croner also takes 6 and 7 fields (seconds, years) and @nicknames;
        // the contract is the classic 5 fields, so a sixth field is an error
        // rather than silently read as seconds.
        let fields = cron_text.split_whitespace().count();
        if fields != 5 {
            return Err(ScheduleError::CronFieldCount {
                cron: cron_text,
                fields,
            });
        }
        let parsed = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&cron_text)
            .map_err(|e| ScheduleError::Cron {
                cron: cron_text.clone(),
                reason: e.to_string(),
            })?;
        // The contract reads an empty zone as UTC.
        let zone: Tz = if time_zone.is_empty() {
            Tz::UTC
        } else {
            time_zone
                .parse()
                .map_err(|_| ScheduleError::TimeZone(time_zone.to_string()))?
        };
        if !(MIN_DURATION_MS..=MAX_DURATION_MS).contains(&duration_ms) {
            return Err(ScheduleError::Duration(duration_ms));
        }
        if let Some(m) = min.filter(|m| !BOUND_RANGE.contains(m)) {
            return Err(ScheduleError::MinDroplets(m));
        }
        if let Some(m) = max.filter(|m| !BOUND_RANGE.contains(m)) {
            return Err(ScheduleError::MaxDroplets(m));
        }
        match (min, max) {
            (None, None) => return Err(ScheduleError::NoBounds),
            (Some(min), Some(max)) if min > max => {
                return Err(ScheduleError::MinAboveMax { min, max });
            }
            _ => {}
        }
        Ok(Self {
            cron_text,
            cron: parsed,
            zone,
            duration_ms,
            min,
            max,
        })
    }

    pub fn cron(&self) -> &str {
        &self.cron_text
    }

    /// The IANA name of the zone the cron expression is read in.
    pub fn time_zone(&self) -> &str {
        self.zone.name()
    }

    pub fn duration_ms(&self) -> i64 {
        self.duration_ms
    }

    pub fn min(&self) -> Option<u32> {
        self.min
    }

    pub fn max(&self) -> Option<u32> {
        self.max
    }

    /// When the window holding `now_ms` started, if one does: the latest
    /// cron occurrence at or before `now_ms`, in the schedule's zone, that
    /// started less than `duration` ago.
    ///
    /// Occurrences are wall-clock times, so they follow daylight saving
    /// time: "08:00 Berlin" is 07:00 UTC in winter and 06:00 UTC in summer.
    /// A start that falls into a spring-forward gap happens at the first
    /// instant after the gap; one in a fall-back overlap happens once, at
    /// the earlier instant (croner's rules, as Vixie cron).
    pub fn window_start(&self, now_ms: i64) -> Option<i64> {
        // Occurrences fall on whole minutes, so dropping the milliseconds
        // loses none and keeps the search on whole seconds.
        let now = DateTime::from_timestamp(now_ms.div_euclid(1000), 0)?.with_timezone(&self.zone);
        // An error means no occurrence within croner's search limit (about a
        // year), which is longer than any window, so: not active.
        let start = self.cron.find_previous_occurrence(&now, true).ok()?;
        let start_ms = start.timestamp_millis();
        (now_ms - start_ms < self.duration_ms).then_some(start_ms)
    }

    /// Whether a window is open at `now_ms`; see [`Schedule::window_start`].
    pub fn is_active(&self, now_ms: i64) -> bool {
        self.window_start(now_ms).is_some()
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "schedule \"{}\" {}", self.cron_text, self.zone.name())
    }
}

/// A policy's bounds at one instant, and where each came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: u32,
    pub max: u32,
    /// The active schedule (index into `PolicyRule::schedules`) that set
    /// `min`; `None` when it is the policy's own.
    pub min_from: Option<usize>,
    /// The active schedule that set `max`; `None` when it is the policy's own.
    pub max_from: Option<usize>,
}

impl Bounds {
    /// The schedule that shaped these bounds: the one that set the min, else
    /// the one that set the max.
    pub fn schedule(&self) -> Option<usize> {
        self.min_from.or(self.max_from)
    }
}

/// The bounds in force for `rule` at `now_ms`: while schedules are active
/// their min/max replace the policy's; with several active the largest min
/// and the largest max win (first schedule on ties).
///
/// The result never has min > max. When a replaced bound crosses the other
/// one, a schedule's bound beats the policy's (the schedule is the more
/// specific, deliberate statement), and between two schedules the min wins,
/// because too much capacity is the cheaper mistake.
pub fn bounds(rule: &PolicyRule, now_ms: i64) -> Bounds {
    let mut min_from: Option<(usize, u32)> = None;
    let mut max_from: Option<(usize, u32)> = None;
    for (i, s) in rule.schedules.iter().enumerate() {
        if !s.is_active(now_ms) {
            continue;
        }
        if let Some(m) = s.min
            && min_from.is_none_or(|(_, best)| m > best)
        {
            min_from = Some((i, m));
        }
        if let Some(m) = s.max
            && max_from.is_none_or(|(_, best)| m > best)
        {
            max_from = Some((i, m));
        }
    }
    let mut b = Bounds {
        min: min_from.map_or(rule.min, |(_, m)| m),
        max: max_from.map_or(rule.max, |(_, m)| m),
        min_from: min_from.map(|(i, _)| i),
        max_from: max_from.map(|(i, _)| i),
    };
    if b.min > b.max {
        if b.min_from.is_none() && b.max_from.is_some() {
            // A schedule's max beats the policy's min.
            b.min = b.max;
            b.min_from = b.max_from;
        } else {
            // A schedule's min beats the policy's max, and between two
            // schedules (or a misconfigured policy) the min wins.
            b.max = b.min;
            b.max_from = b.min_from;
        }
    }
    b
}

/// `(min, max, active schedule)` for `rule` at `now_ms`; the schedule is the
/// one whose bound is in force (see [`bounds`] for the details).
pub fn effective_bounds(rule: &PolicyRule, now_ms: i64) -> (u32, u32, Option<usize>) {
    let b = bounds(rule, now_ms);
    (b.min, b.max, b.schedule())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpa::Metric;
    use chrono::TimeZone;

    fn ms(zone: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        zone.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("an unambiguous local time")
            .timestamp_millis()
    }

    fn utc_ms(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        ms(Tz::UTC, y, mo, d, h, mi)
    }

    const HOUR: i64 = 3_600_000;

    fn weekdays_8_to_18_berlin(min: Option<u32>, max: Option<u32>) -> Schedule {
        Schedule::parse("0 8 * * 1-5", "Europe/Berlin", 10 * HOUR, min, max).expect("valid")
    }

    fn rule(min: u32, max: u32, schedules: Vec<Schedule>) -> PolicyRule {
        PolicyRule {
            id: "p".into(),
            metric: Metric::CpuPercent,
            target: 60.0,
            min,
            max,
            up_window_ms: 0,
            down_window_ms: 300_000,
            schedules,
            added_droplet_monthly_cents: 0,
        }
    }

    #[test]
    fn a_valid_schedule_keeps_what_it_was_given() {
        let s = Schedule::parse(
            " 30 7 * * MON-FRI ",
            "America/New_York",
            HOUR,
            Some(3),
            None,
        )
        .expect("valid");
        assert_eq!(s.cron(), "30 7 * * MON-FRI");
        assert_eq!(s.time_zone(), "America/New_York");
        assert_eq!(s.duration_ms(), HOUR);
        assert_eq!((s.min(), s.max()), (Some(3), None));
        assert_eq!(
            s.to_string(),
            "schedule \"30 7 * * MON-FRI\" America/New_York"
        );
        let utc = Schedule::parse("0 8 * * *", "", HOUR, None, Some(4)).expect("valid");
        assert_eq!(utc.time_zone(), "UTC");
    }

    #[test]
    fn each_bad_value_names_its_field() {
        let cases: Vec<(Result<Schedule, ScheduleError>, &str, &str)> = vec![
            (
                Schedule::parse("0 8 * *", "UTC", HOUR, Some(1), None),
                "cron",
                "cron \"0 8 * *\" must have 5 fields (minute hour day-of-month month day-of-week), it has 4",
            ),
            (
                Schedule::parse("0 0 8 * * 1", "UTC", HOUR, Some(1), None),
                "cron",
                "cron \"0 0 8 * * 1\" must have 5 fields (minute hour day-of-month month day-of-week), it has 6",
            ),
            (
                Schedule::parse("61 8 * * *", "UTC", HOUR, Some(1), None),
                "cron",
                "",
            ),
            (
                Schedule::parse("0 8 * * 1", "Mars/Olympus", HOUR, Some(1), None),
                "time_zone",
                "time zone \"Mars/Olympus\" is not an IANA time zone name (e.g. \"Europe/Berlin\")",
            ),
            (
                Schedule::parse("0 8 * * 1", "UTC", 59_999, Some(1), None),
                "duration",
                "duration must be between 1 minute and 7 days, got 59999 ms",
            ),
            (
                Schedule::parse("0 8 * * 1", "UTC", MAX_DURATION_MS + 1, Some(1), None),
                "duration",
                "duration must be between 1 minute and 7 days, got 604800001 ms",
            ),
            (
                Schedule::parse("0 8 * * 1", "UTC", HOUR, Some(0), None),
                "min_droplets",
                "min_droplets must be 1–100, got 0",
            ),
            (
                Schedule::parse("0 8 * * 1", "UTC", HOUR, None, Some(101)),
                "max_droplets",
                "max_droplets must be 1–100, got 101",
            ),
            (
                Schedule::parse("0 8 * * 1", "UTC", HOUR, Some(5), Some(4)),
                "max_droplets",
                "min_droplets 5 is greater than max_droplets 4",
            ),
            (
                Schedule::parse("0 8 * * 1", "UTC", HOUR, None, None),
                "min_droplets",
                "a schedule must set min_droplets, max_droplets or both",
            ),
        ];
        for (result, field, message) in cases {
            let err = result.expect_err(field);
            assert_eq!(err.field(), field, "{err}");
            if message.is_empty() {
                assert!(
                    err.to_string()
                        .starts_with("cron \"61 8 * * *\" is invalid: ")
                );
            } else {
                assert_eq!(err.to_string(), message);
            }
        }
    }

    #[test]
    fn a_window_is_active_from_its_start_for_its_duration_in_its_zone() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let s = weekdays_8_to_18_berlin(Some(6), None);
        // Wednesday 15 January 2025, winter time (UTC+1).
        assert!(!s.is_active(ms(berlin, 2025, 1, 15, 7, 59)));
        assert!(s.is_active(ms(berlin, 2025, 1, 15, 8, 0)));
        assert_eq!(
            s.window_start(ms(berlin, 2025, 1, 15, 12, 0)),
            Some(utc_ms(2025, 1, 15, 7, 0))
        );
        assert!(s.is_active(ms(berlin, 2025, 1, 15, 17, 59)));
        // The end is exclusive: started exactly `duration` ago is over.
        assert!(!s.is_active(ms(berlin, 2025, 1, 15, 18, 0)));
        // Saturday: no window starts.
        assert!(!s.is_active(ms(berlin, 2025, 1, 18, 12, 0)));
    }

    #[test]
    fn a_window_follows_daylight_saving_time() {
        let s = weekdays_8_to_18_berlin(Some(6), None);
        // Berlin springs forward on Sunday 30 March 2025. On Friday the 28th
        // 08:00 is 07:00 UTC; on Monday the 31st it is 06:00 UTC.
        assert!(!s.is_active(utc_ms(2025, 3, 28, 6, 30)));
        assert!(s.is_active(utc_ms(2025, 3, 28, 7, 0)));
        assert!(s.is_active(utc_ms(2025, 3, 31, 6, 30)));
        assert!(!s.is_active(utc_ms(2025, 3, 31, 5, 59)));
        assert!(!s.is_active(utc_ms(2025, 3, 31, 16, 0)));
        // And back on Sunday 26 October: Monday the 27th starts at 07:00 UTC.
        assert!(!s.is_active(utc_ms(2025, 10, 27, 6, 30)));
        assert!(s.is_active(utc_ms(2025, 10, 27, 7, 0)));
    }

    #[test]
    fn a_start_inside_the_spring_forward_gap_happens_right_after_it() {
        // 02:30 does not exist in Berlin on 30 March 2025 (02:00 → 03:00).
        let s = Schedule::parse("30 2 * * *", "Europe/Berlin", HOUR, None, Some(2)).expect("valid");
        // 03:00 CEST = 01:00 UTC.
        assert_eq!(
            s.window_start(utc_ms(2025, 3, 30, 1, 30)),
            Some(utc_ms(2025, 3, 30, 1, 0))
        );
        assert!(!s.is_active(utc_ms(2025, 3, 30, 2, 0)));
    }

    #[test]
    fn a_window_longer_than_its_period_stays_open() {
        // Every hour for 90 minutes: always open.
        let s = Schedule::parse("0 * * * *", "UTC", 90 * 60_000, Some(2), None).expect("valid");
        for minute in [0, 15, 59] {
            assert!(s.is_active(utc_ms(2025, 6, 1, 10, minute)));
        }
    }

    #[test]
    fn without_an_active_schedule_the_policy_bounds_apply() {
        let r = rule(2, 10, vec![weekdays_8_to_18_berlin(Some(6), None)]);
        assert_eq!(
            effective_bounds(&r, utc_ms(2025, 1, 18, 12, 0)),
            (2, 10, None)
        );
    }

    #[test]
    fn an_active_schedule_replaces_only_the_bounds_it_sets() {
        let r = rule(2, 10, vec![weekdays_8_to_18_berlin(Some(6), None)]);
        assert_eq!(
            bounds(&r, utc_ms(2025, 1, 15, 12, 0)),
            Bounds {
                min: 6,
                max: 10,
                min_from: Some(0),
                max_from: None
            }
        );
        assert_eq!(
            effective_bounds(&r, utc_ms(2025, 1, 15, 12, 0)),
            (6, 10, Some(0))
        );
        // A schedule may lower the min as well (a quiet night).
        let night = Schedule::parse("0 22 * * *", "UTC", 8 * HOUR, Some(1), Some(3)).expect("ok");
        let r = rule(2, 10, vec![night]);
        assert_eq!(
            effective_bounds(&r, utc_ms(2025, 1, 15, 23, 0)),
            (1, 3, Some(0))
        );
    }

    #[test]
    fn with_several_active_schedules_the_largest_min_and_max_win() {
        let a = Schedule::parse("0 8 * * *", "UTC", 10 * HOUR, Some(4), Some(8)).expect("ok");
        let b = Schedule::parse("0 9 * * *", "UTC", 2 * HOUR, Some(7), Some(7)).expect("ok");
        let c = Schedule::parse("0 6 * * *", "UTC", 10 * HOUR, None, Some(12)).expect("ok");
        let r = rule(2, 10, vec![a, b, c]);
        assert_eq!(
            bounds(&r, utc_ms(2025, 1, 15, 10, 0)),
            Bounds {
                min: 7,
                max: 12,
                min_from: Some(1),
                max_from: Some(2)
            }
        );
        // After b's window: a's min, c's max.
        assert_eq!(
            effective_bounds(&r, utc_ms(2025, 1, 15, 11, 0)),
            (4, 12, Some(0))
        );
    }

    #[test]
    fn bounds_never_cross() {
        // A schedule min above the policy max raises the max.
        let up = Schedule::parse("0 8 * * *", "UTC", HOUR, Some(12), None).expect("ok");
        assert_eq!(
            effective_bounds(&rule(2, 10, vec![up]), utc_ms(2025, 1, 15, 8, 30)),
            (12, 12, Some(0))
        );
        // A schedule max below the policy min lowers the min.
        let down = Schedule::parse("0 8 * * *", "UTC", HOUR, None, Some(1)).expect("ok");
        assert_eq!(
            bounds(&rule(2, 10, vec![down]), utc_ms(2025, 1, 15, 8, 30)),
            Bounds {
                min: 1,
                max: 1,
                min_from: Some(0),
                max_from: Some(0)
            }
        );
        // Two schedules that cross: the min wins.
        let a = Schedule::parse("0 8 * * *", "UTC", HOUR, Some(6), None).expect("ok");
        let b = Schedule::parse("0 8 * * *", "UTC", HOUR, None, Some(3)).expect("ok");
        assert_eq!(
            effective_bounds(&rule(2, 10, vec![a, b]), utc_ms(2025, 1, 15, 8, 30)),
            (6, 6, Some(0))
        );
    }
}
