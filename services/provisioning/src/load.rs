//! The simulated fleet's load: what each active droplet reports every tick.
//!
//! A cluster serves a demand (in vCPUs) that follows a daily curve peaking
//! mid-afternoon UTC, spread over its droplets' vCPUs, so adding droplets
//! lowers everyone's CPU: the signal an autoscaler acts on. Memory, disk and
//! network follow from it and from each droplet's size, with noise. Faults
//! override what they break.

use std::collections::HashMap;

use clustergenie_proto::events::v1 as ev;
use rand::Rng;

use crate::{
    catalog,
    domain::{Fault, FaultKind},
    repo::LiveDroplet,
};

const DAY_MS: f64 = 86_400_000.0;

/// A stable number in [0, 1) derived from `s` (FNV-1a), so each cluster
/// and droplet keeps its own character across ticks and restarts.
fn unit(s: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The daily curve: 0.3 at 02:00 UTC, 1.0 at 14:00 UTC.
pub fn daily(now_ms: i64) -> f64 {
    let hour = (now_ms as f64 % DAY_MS) / DAY_MS * 24.0;
    0.65 + 0.35 * ((hour - 8.0) / 24.0 * std::f64::consts::TAU).sin()
}

/// The vCPUs' worth of work a cluster has to do at `now_ms`.
pub fn demand(cluster_id: &str, now_ms: i64) -> f64 {
    let base = 0.6 + 1.6 * unit(cluster_id);
    base * daily(now_ms)
}

/// How far through its life a fault is, 0..1.
fn progress(f: &Fault, now: i64) -> f64 {
    let span = (f.end_at - f.start_at).max(1) as f64;
    ((now - f.start_at) as f64 / span).clamp(0.0, 1.0)
}

fn noise(rng: &mut impl Rng, amplitude: f64) -> f64 {
    rng.random_range(-amplitude..=amplitude)
}

/// One sample per droplet, grouped by cluster. Droplets of unknown size are
/// skipped; faults are matched by droplet id.
pub fn samples(
    droplets: &[LiveDroplet],
    faults: &[Fault],
    now: i64,
    rng: &mut impl Rng,
) -> HashMap<String, Vec<ev::MetricSample>> {
    let mut vcpus: HashMap<&str, u32> = HashMap::new();
    for d in droplets {
        if let Some(size) = catalog::size_by_slug(&d.size) {
            *vcpus.entry(&d.cluster_id).or_default() += size.vcpus;
        }
    }
    let mut by_droplet: HashMap<&str, Vec<&Fault>> = HashMap::new();
    for f in faults.iter().filter(|f| f.is_open(now)) {
        by_droplet.entry(&f.droplet_id).or_default().push(f);
    }
    let mut out: HashMap<String, Vec<ev::MetricSample>> = HashMap::new();
    for d in droplets {
        let Some(size) = catalog::size_by_slug(&d.size) else {
            continue;
        };
        let total = f64::from(
            vcpus
                .get(d.cluster_id.as_str())
                .copied()
                .unwrap_or(1)
                .max(1),
        );
        let faults = by_droplet.get(d.id.as_str()).map_or(&[][..], Vec::as_slice);
        let sample = one(
            d,
            size,
            demand(&d.cluster_id, now) / total,
            faults,
            now,
            rng,
        );
        out.entry(d.cluster_id.clone()).or_default().push(sample);
    }
    out
}

fn one(
    d: &LiveDroplet,
    size: &catalog::Size,
    utilisation: f64,
    faults: &[&Fault],
    now: i64,
    rng: &mut impl Rng,
) -> ev::MetricSample {
    let character = unit(&d.id);
    let mut cpu = 100.0 * utilisation * (0.9 + 0.2 * character) + noise(rng, 3.0);
    // Smaller machines have less headroom: the same work fills more memory.
    let memory_gb = f64::from(size.memory_mb) / 1024.0;
    // Resident memory moves slowly. A jitter of ±2 points (as once here)
    // hid a steady ten-minute leak from diagnosis's half-minute trend (R²
    // under 0.5) in most windows, so a leak went unseen for minutes.
    let mut memory =
        25.0 + 20.0 * utilisation.min(1.0) + 15.0 / memory_gb.sqrt() * character + noise(rng, 0.25);
    let age_days = (now - d.created_at).max(0) as f64 / DAY_MS;
    let mut disk = 15.0 + 30.0 * character + (age_days * 0.5).min(40.0) + noise(rng, 0.3);
    let link = f64::from(size.vcpus) * 40.0;
    let mut net_in = link * utilisation.min(1.2) * (0.8 + 0.4 * character) + noise(rng, 1.0);
    let mut net_out = net_in * 0.6 + noise(rng, 1.0);
    let vcpus = f64::from(size.vcpus);
    let mut load = utilisation * vcpus * (0.9 + 0.2 * character);
    for f in faults {
        match f.kind {
            FaultKind::CpuSpike => {
                cpu = 97.0 + noise(rng, 3.0);
                load = load.max(vcpus * 1.2);
            }
            FaultKind::MemoryLeak => memory += (99.0 - memory).max(0.0) * progress(f, now),
            FaultKind::DiskFilling => disk += (99.5 - disk).max(0.0) * progress(f, now),
            FaultKind::NetworkLoss => {
                net_in *= 0.02;
                net_out *= 0.02;
            }
            // A crashed droplet is `off` and reports nothing at all.
            FaultKind::Crash => {}
        }
    }
    let pct = |v: f64| v.clamp(0.0, 100.0);
    ev::MetricSample {
        droplet_id: d.id.clone(),
        cluster_id: d.cluster_id.clone(),
        time: Some(cg_runtime::time::timestamp(now)),
        cpu_percent: pct(cpu),
        memory_percent: pct(memory),
        disk_percent: pct(disk),
        network_in_mbps: net_in.max(0.0),
        network_out_mbps: net_out.max(0.0),
        load_1m: load.max(0.0),
    }
}

#[cfg(test)]
mod tests {
    use rand::{SeedableRng, rngs::StdRng};

    use super::*;

    const AFTERNOON: i64 = 14 * 3_600_000;
    const NIGHT: i64 = 2 * 3_600_000;

    fn droplet(id: &str, cluster: &str, size: &str) -> LiveDroplet {
        LiveDroplet {
            id: id.into(),
            cluster_id: cluster.into(),
            size: size.into(),
            created_at: 0,
        }
    }

    fn fault(droplet: &str, kind: FaultKind, start: i64, end: i64) -> Fault {
        Fault {
            id: format!("f-{droplet}"),
            droplet_id: droplet.into(),
            cluster_id: "c".into(),
            kind,
            start_at: start,
            end_at: end,
        }
    }

    fn cpu_of(droplets: &[LiveDroplet], faults: &[Fault], now: i64) -> f64 {
        let mut rng = StdRng::seed_from_u64(7);
        let out = samples(droplets, faults, now, &mut rng);
        out["c"]
            .iter()
            .find(|s| s.droplet_id == "d1")
            .unwrap()
            .cpu_percent
    }

    #[test]
    fn the_daily_curve_peaks_in_the_afternoon_and_bottoms_out_at_night() {
        assert!((daily(AFTERNOON) - 1.0).abs() < 1e-9);
        assert!((daily(NIGHT) - 0.3).abs() < 1e-9);
    }

    #[test]
    fn adding_droplets_lowers_each_droplets_cpu() {
        let one = [droplet("d1", "c", "s-1vcpu-1gb")];
        let three = [
            droplet("d1", "c", "s-1vcpu-1gb"),
            droplet("d2", "c", "s-1vcpu-1gb"),
            droplet("d3", "c", "s-1vcpu-1gb"),
        ];
        let night = NIGHT;
        assert!(cpu_of(&three, &[], night) < cpu_of(&one, &[], night));
    }

    #[test]
    fn a_cpu_spike_pins_the_cpu_near_full() {
        let d = [
            droplet("d1", "c", "s-8vcpu-16gb"),
            droplet("d2", "c", "s-8vcpu-16gb"),
        ];
        let spike = [fault("d1", FaultKind::CpuSpike, NIGHT - 1000, NIGHT + 1000)];
        assert!(cpu_of(&d, &[], NIGHT) < 50.0);
        assert!(cpu_of(&d, &spike, NIGHT) >= 94.0);
    }

    #[test]
    fn a_memory_leak_climbs_until_it_ends() {
        let d = [droplet("d1", "c", "s-2vcpu-4gb")];
        let leak = [fault("d1", FaultKind::MemoryLeak, 0, 100_000)];
        let at = |now: i64| {
            let mut rng = StdRng::seed_from_u64(1);
            samples(&d, &leak, now, &mut rng)["c"][0].memory_percent
        };
        assert!(at(10_000) < at(50_000));
        assert!(at(50_000) < at(99_000));
        assert!(at(99_000) > 95.0);
        // Ended: back to its usual level.
        assert!(at(100_000) < at(10_000) + 5.0);
    }

    /// R² of a least-squares line through `ys`, sampled evenly.
    fn line_fit(ys: &[f64]) -> f64 {
        let n = ys.len() as f64;
        let mx = (n - 1.0) / 2.0;
        let my = ys.iter().sum::<f64>() / n;
        let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
        for (i, y) in ys.iter().enumerate() {
            let (dx, dy) = (i as f64 - mx, y - my);
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        sxy * sxy / (sxx * syy)
    }

    #[test]
    fn a_ten_minute_leak_reads_as_a_clean_line_within_fifteen_seconds_of_samples() {
        // What diagnosis needs to call it a leak (R² ≥ 0.5 over its recent
        // window), on the demo's window, for any droplet and seed.
        for size in ["s-1vcpu-1gb", "s-4vcpu-8gb"] {
            for seed in 0..200 {
                let d = [droplet(&format!("d{seed}"), "c", size)];
                let leak = [fault(&d[0].id, FaultKind::MemoryLeak, 0, 600_000)];
                let mut rng = StdRng::seed_from_u64(seed);
                let ys: Vec<f64> = (60..75)
                    .map(|s| samples(&d, &leak, s * 1000, &mut rng)["c"][0].memory_percent)
                    .collect();
                let r2 = line_fit(&ys);
                assert!(r2 >= 0.5, "{size}, seed {seed}: R² {r2:.2} of {ys:?}");
            }
        }
    }

    #[test]
    fn network_loss_collapses_throughput() {
        let d = [droplet("d1", "c", "s-4vcpu-8gb")];
        let loss = [fault("d1", FaultKind::NetworkLoss, 0, AFTERNOON * 2)];
        let mut rng = StdRng::seed_from_u64(3);
        let normal = samples(&d, &[], AFTERNOON, &mut rng)["c"][0].network_in_mbps;
        let lossy = samples(&d, &loss, AFTERNOON, &mut rng)["c"][0].network_in_mbps;
        assert!(normal > 5.0, "normal {normal}");
        assert!(lossy < normal * 0.1, "lossy {lossy} vs {normal}");
    }

    #[test]
    fn samples_are_grouped_by_cluster_and_stay_in_range() {
        let d = [
            droplet("d1", "a", "s-1vcpu-1gb"),
            droplet("d2", "b", "s-1vcpu-1gb"),
            droplet("d3", "b", "s-1vcpu-1gb"),
        ];
        let mut rng = StdRng::seed_from_u64(9);
        let out = samples(&d, &[], AFTERNOON, &mut rng);
        assert_eq!(out["a"].len(), 1);
        assert_eq!(out["b"].len(), 2);
        for s in out.values().flatten() {
            for v in [s.cpu_percent, s.memory_percent, s.disk_percent] {
                assert!((0.0..=100.0).contains(&v), "{v}");
            }
        }
    }
}
