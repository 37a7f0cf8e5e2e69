//! The little statistics the rules need: means, percentiles and a
//! least-squares line through a series.

use crate::facts::Point;

pub fn mean(points: &[Point]) -> Option<f64> {
    (!points.is_empty()).then(|| points.iter().map(|p| p.v).sum::<f64>() / points.len() as f64)
}

/// The `q` quantile (0–1), nearest rank.
pub fn quantile(points: &[Point], q: f64) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    let mut values: Vec<f64> = points.iter().map(|p| p.v).collect();
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// A least-squares line: its slope per hour and how much of the variance it
/// explains (R², 0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    pub per_hour: f64,
    pub r2: f64,
    /// The line's value at the last point.
    pub last: f64,
}

pub fn trend(points: &[Point]) -> Option<Trend> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let t0 = points[0].t;
    // Hours since the first point keeps the sums well-conditioned.
    let xs: Vec<f64> = points
        .iter()
        .map(|p| (p.t - t0) as f64 / 3_600_000.0)
        .collect();
    let mx = xs.iter().sum::<f64>() / n;
    let my = points.iter().map(|p| p.v).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, p) in xs.iter().zip(points) {
        let (dx, dy) = (x - mx, p.v - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= f64::EPSILON {
        return None;
    }
    let slope = sxy / sxx;
    let r2 = if syy <= f64::EPSILON {
        0.0
    } else {
        (sxy * sxy / (sxx * syy)).clamp(0.0, 1.0)
    };
    let last_x = xs.last().copied().unwrap_or(0.0);
    Some(Trend {
        per_hour: slope,
        r2,
        last: my + slope * (last_x - mx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64], every_ms: i64) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Point {
                t: i as i64 * every_ms,
                v: *v,
            })
            .collect()
    }

    #[test]
    fn a_straight_line_has_its_slope_and_explains_everything() {
        // +1 per minute = +60 per hour.
        let t = trend(&series(&[10.0, 11.0, 12.0, 13.0], 60_000)).unwrap();
        assert!((t.per_hour - 60.0).abs() < 1e-9);
        assert!((t.r2 - 1.0).abs() < 1e-9);
        assert!((t.last - 13.0).abs() < 1e-9);
    }

    #[test]
    fn a_flat_series_has_no_slope_and_explains_nothing() {
        let t = trend(&series(&[5.0, 5.0, 5.0], 1000)).unwrap();
        assert_eq!(t.per_hour, 0.0);
        assert_eq!(t.r2, 0.0);
    }

    #[test]
    fn two_points_are_too_few_for_a_trend() {
        assert_eq!(trend(&series(&[1.0, 2.0], 1000)), None);
    }

    #[test]
    fn the_95th_percentile_is_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&series(&values, 1), 0.95), Some(95.0));
        assert_eq!(mean(&series(&[1.0, 3.0], 1)), Some(2.0));
        assert_eq!(mean(&[]), None);
    }
}
