//! CPU time from /proc, for benchmarks that report what a call or a job
//! costs: the whole machine's busy time, and that of single processes.

/// /proc counts in USER_HZ ticks, 100 a second on Linux.
const TICKS_PER_SEC: f64 = 100.0;

/// CPU seconds a process has used so far (user + system); `"self"` is this
/// process. `None` when it is gone or /proc is not there.
pub fn process(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// Busy CPU seconds of the whole machine so far, all cores together.
pub fn machine() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let idle = fields.get(3).copied().unwrap_or(0.0) + fields.get(4).copied().unwrap_or(0.0);
    (fields.iter().sum::<f64>() - idle) / TICKS_PER_SEC
}

/// CPU seconds the local MariaDB server has used so far (0 when there is
/// none to read).
pub fn mariadb() -> f64 {
    std::process::Command::new("pidof")
        .arg("mariadbd")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().next().and_then(process))
        .unwrap_or(0.0)
}

/// A reading of the machine, this process and MariaDB.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub machine: f64,
    pub this: f64,
    pub mariadb: f64,
}

impl Reading {
    pub fn now() -> Self {
        Self {
            machine: machine(),
            this: process("self").unwrap_or(0.0),
            mariadb: mariadb(),
        }
    }

    /// CPU seconds used since `earlier`, per part.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            machine: self.machine - earlier.machine,
            this: self.this - earlier.this,
            mariadb: self.mariadb - earlier.mariadb,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_the_machine_are_seen_to_work() {
        let before = Reading::now();
        // Busy until /proc shows 50 ms more of this process (ticks are
        // 10 ms apart), however loaded the machine; a reading that never
        // moves ends at the deadline and fails below.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut x = 0u64;
        while Reading::now().since(&before).this < 0.05 && std::time::Instant::now() < deadline {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let used = Reading::now().since(&before);
        assert!(used.this >= 0.05, "{used:?}");
        assert!(used.machine >= used.this * 0.5, "{used:?}");
        assert!(process("no-such-pid").is_none());
    }
}
