//! Opaque page tokens for keyset pagination. A token carries the last key
//! seen and a fingerprint of the filter, so a token reused with another
//! filter is rejected instead of silently skipping rows.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub after: String,
}

/// Keyset page request: at most `size` rows after the key `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub size: u32,
    pub after: Option<String>,
}

impl PageRequest {
    /// Parses `page_size` (0: `default`, at most `max`) and `page_token`
    /// (bound to `filter`), recording what is wrong in `v`.
    pub fn parse(
        v: &mut crate::validate::Violations,
        page_size: i32,
        token: &str,
        filter: &str,
        (default, max): (u32, u32),
    ) -> Option<Self> {
        let size = v.check(
            "page_size",
            crate::validate::page_size(page_size, default, max),
        );
        let after = v.check("page_token", decode(token, filter));
        Some(Self {
            size: size?,
            after: after?.map(|t| t.after),
        })
    }
}

/// One page of rows and the key to continue after, if there are more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_after: Option<String>,
}

impl<T> PageOf<T> {
    /// The first `size` of `rows` (fetched as `size + 1` to learn whether
    /// more follow), continuing after `key` of the last one kept.
    pub fn from_rows(mut rows: Vec<T>, size: u32, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let next_after = if more { rows.last().map(key) } else { None };
        Self {
            items: rows,
            next_after,
        }
    }

    /// The `next_page_token` to answer: empty on the last page.
    pub fn next_token(&self, filter: &str) -> String {
        self.next_after
            .as_deref()
            .map_or_else(String::new, |after| encode(after, filter))
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PageOf<U> {
        PageOf {
            items: self.items.into_iter().map(f).collect(),
            next_after: self.next_after,
        }
    }
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
    fn a_page_of_size_plus_one_rows_continues_after_the_last_kept() {
        let page = PageOf::from_rows(vec![1, 2, 3], 2, ToString::to_string);
        assert_eq!(page.items, [1, 2]);
        assert_eq!(page.next_after.as_deref(), Some("2"));
        let last = PageOf::from_rows(vec![1, 2], 2, ToString::to_string);
        assert_eq!(last.next_after, None);
        assert_eq!(last.next_token("f"), "");
    }

    #[test]
    fn empty_token_is_the_first_page() {
        assert_eq!(decode("", "x"), Ok(None));
    }
}
