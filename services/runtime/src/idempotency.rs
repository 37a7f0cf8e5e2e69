//! Fingerprints for idempotent creates: a `request_id` replays the first
//! answer only when the request body is the same.

use sha2::{Digest, Sha256};

/// A stable hash of a request's identifying fields (request_id excluded).
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for p in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        hasher.update((p.len() as u64).to_le_bytes());
        hasher.update(p.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_splits_of_the_same_text_differ() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }

    #[test]
    fn same_parts_give_the_same_fingerprint() {
        assert_eq!(fingerprint(&["x", "y"]), fingerprint(&["x", "y"]));
    }
}
