//! Opaque page tokens for keyset pagination. A token carries the last key
//! seen and a fingerprint of the filter, so a token reused with another
//! filter is rejected instead of silently skipping rows.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub after: String,
}

fn fingerprint(filter: &str) -> String {
    let digest = Sha256::digest(filter.as_bytes());
    hex_prefix(&digest[..6])
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn encode(after: &str, filter: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("1|{}|{after}", fingerprint(filter)))
}

/// Empty → first page; otherwise the key to continue after.
pub fn decode(token: &str, filter: &str) -> Result<Option<PageToken>, &'static str> {
    if token.is_empty() {
        return Ok(None);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("is not a page token from this API")?;
    let mut parts = raw.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("1"), Some(fp), Some(after)) if !after.is_empty() => {
            if fp == fingerprint(filter) {
                Ok(Some(PageToken {
                    after: after.to_string(),
                }))
            } else {
                Err("belongs to a listing with other filters")
            }
        }
        _ => Err("is not a page token from this API"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_with_the_same_filter() {
        let t = encode("abc", "region=nyc1");
        assert_eq!(decode(&t, "region=nyc1").unwrap().unwrap().after, "abc");
    }

    #[test]
    fn a_token_used_with_another_filter_is_rejected() {
        let t = encode("abc", "region=nyc1");
        assert!(decode(&t, "region=sfo3").is_err());
    }

    #[test]
    fn garbage_token_is_rejected() {
        assert!(decode("not-a-token!", "").is_err());
    }

    #[test]
    fn empty_token_is_the_first_page() {
        assert_eq!(decode("", "x"), Ok(None));
    }
}
