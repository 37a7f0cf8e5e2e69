//! Times are stored as unix milliseconds (portable across MySQL and SQLite).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: i32::try_from(millis.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// A protobuf timestamp in unix milliseconds; `None` when out of range.
pub fn millis_of(t: &prost_types::Timestamp) -> Option<i64> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return None;
    }
    t.seconds
        .checked_mul(1000)?
        .checked_add(i64::from(t.nanos / 1_000_000))
}

/// A protobuf duration in milliseconds; `None` when negative or out of range.
pub fn duration_millis(d: &prost_types::Duration) -> Option<i64> {
    if d.seconds < 0 || !(0..1_000_000_000).contains(&d.nanos) {
        return None;
    }
    d.seconds
        .checked_mul(1000)?
        .checked_add(i64::from(d.nanos / 1_000_000))
}

pub fn opt_timestamp(millis: Option<i64>) -> Option<prost_types::Timestamp> {
    millis.map(timestamp)
}

pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// Full jitter: `random(0, min(cap, base·2^attempt))`.
pub fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    use rand::Rng as _;
    let exp = base.saturating_mul(1u32 << attempt.min(20)).min(cap);
    exp.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_millis() {
        assert_eq!(
            millis_of(&timestamp(1_700_000_000_123)),
            Some(1_700_000_000_123)
        );
        let bad = prost_types::Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(millis_of(&bad), None);
    }

    #[test]
    fn negative_durations_have_no_millis() {
        let d = prost_types::Duration {
            seconds: -1,
            nanos: 0,
        };
        assert_eq!(duration_millis(&d), None);
        assert_eq!(
            duration_millis(&duration(Duration::from_millis(1500))),
            Some(1500)
        );
    }

    #[test]
    fn millis_become_seconds_and_nanos() {
        let ts = timestamp(1_700_000_000_123);
        assert_eq!(ts.seconds, 1_700_000_000);
        assert_eq!(ts.nanos, 123_000_000);
    }
}
