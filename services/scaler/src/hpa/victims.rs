//! Which droplets a scale-down removes.

/// A droplet that a scale-down could remove.
#[derive(Debug, Clone, PartialEq)]
pub struct DropletLoad {
    pub id: String,
    pub created_ms: i64,
    /// The droplet's share of the scaling metric (e.g. its CPU %).
    pub load: f64,
    /// It has an unfinished action, so it is locked.
    pub in_action: bool,
}

/// Loads this close count as equal: a point of noise should not decide.
pub const LOAD_EQUALITY: f64 = 1.0;

/// Which droplets a scale-down by `n` removes, in removal order: never one
/// with an unfinished action (it is locked); the least loaded first, since
/// removing it moves the least work; among equal loads the newest first, as
/// the oldest have proven themselves (and a fresh one has the least state).
/// Fewer than `n` when not enough droplets are free.
///
/// Loads are grouped from the lowest up: a group takes every load within
/// [`LOAD_EQUALITY`] of its lowest, so equality does not chain through a
/// long run of small steps. A load that is not a number sorts last.
pub fn choose_victims(droplets: &[DropletLoad], n: usize) -> Vec<String> {
    let load = |d: &DropletLoad| {
        if d.load.is_nan() {
            f64::INFINITY
        } else {
            d.load
        }
    };
    let newest_first = |a: &&DropletLoad, b: &&DropletLoad| {
        b.created_ms
            .cmp(&a.created_ms)
            .then_with(|| a.id.cmp(&b.id))
    };
    let mut free: Vec<&DropletLoad> = droplets.iter().filter(|d| !d.in_action).collect();
    free.sort_by(|a, b| load(a).total_cmp(&load(b)).then_with(|| newest_first(a, b)));

    let mut chosen = Vec::with_capacity(n.min(free.len()));
    let mut rest = free.as_mut_slice();
    while !rest.is_empty() && chosen.len() < n {
        let lowest = load(rest[0]);
        // The first element always belongs to its own group, which also
        // keeps infinite loads (∞ − ∞ is NaN) from stalling the loop.
        let len = 1 + rest[1..]
            .iter()
            .take_while(|d| load(d) - lowest <= LOAD_EQUALITY)
            .count();
        let (group, tail) = rest.split_at_mut(len);
        group.sort_by(newest_first);
        chosen.extend(group.iter().take(n - chosen.len()).map(|d| d.id.clone()));
        rest = tail;
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn droplet(id: &str, created_ms: i64, load: f64, in_action: bool) -> DropletLoad {
        DropletLoad {
            id: id.into(),
            created_ms,
            load,
            in_action,
        }
    }

    #[test]
    fn victims_are_the_least_loaded_first() {
        let d = [
            droplet("a", 1, 80.0, false),
            droplet("b", 2, 10.0, false),
            droplet("c", 3, 50.0, false),
        ];
        assert_eq!(choose_victims(&d, 2), ["b", "c"]);
    }

    #[test]
    fn a_droplet_in_an_action_is_never_a_victim() {
        let d = [
            droplet("locked", 1, 0.0, true),
            droplet("a", 2, 90.0, false),
            droplet("b", 3, 95.0, false),
        ];
        assert_eq!(choose_victims(&d, 3), ["a", "b"]);
    }

    #[test]
    fn among_equal_loads_the_newest_goes_first() {
        let d = [
            droplet("old", 100, 20.0, false),
            droplet("new", 300, 20.9, false),
            droplet("mid", 200, 20.5, false),
            droplet("busy", 400, 21.5, false),
        ];
        // 20.0, 20.5 and 20.9 are within 1.0 of each other; 21.5 is not
        // within 1.0 of the group's lowest.
        assert_eq!(choose_victims(&d, 4), ["new", "mid", "old", "busy"]);
        assert_eq!(choose_victims(&d, 1), ["new"]);
    }

    #[test]
    fn equal_loads_do_not_chain() {
        let d = [
            droplet("a", 1, 10.0, false),
            droplet("b", 2, 10.8, false),
            droplet("c", 3, 11.6, false),
            droplet("d", 4, 12.4, false),
        ];
        // {a, b} then {c, d}: c is within 1.0 of b but not of a.
        assert_eq!(choose_victims(&d, 4), ["b", "a", "d", "c"]);
    }

    #[test]
    fn victims_are_deterministic_for_identical_droplets_and_odd_loads() {
        let d = [
            droplet("z", 1, f64::NAN, false),
            droplet("y", 1, f64::INFINITY, false),
            droplet("b", 1, 5.0, false),
            droplet("a", 1, 5.0, false),
        ];
        assert_eq!(choose_victims(&d, 10), ["a", "b", "y", "z"]);
        assert!(choose_victims(&d, 0).is_empty());
        assert!(choose_victims(&[], 3).is_empty());
    }
}
