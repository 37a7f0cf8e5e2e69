//! Newtypes every service parses at its boundary: resource ids, DNS-label
//! names and idempotency keys. A value of one of these types is valid, so
//! code behind the boundary never checks again.

use std::fmt;

/// A resource id: a UUID in its canonical, lowercase hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        uuid::Uuid::try_parse(raw)
            .map(|u| Self(u.hyphenated().to_string()))
            .map_err(|_| "must be a UUID".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `text` cut to at most `max_chars` whole characters: text from another
/// service or a user is made to fit its column rather than failing the
/// write (MySQL's strict mode refuses overlong values).
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// A DNS label: 1–63 of `[a-z0-9-]`, not starting or ending with `-`.
pub fn dns_label(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.len() > 63 {
        return Err("must be at most 63 characters".into());
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may contain only lowercase letters, digits and '-'".into());
    }
    if raw.starts_with('-') || raw.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    Ok(raw.to_string())
}

/// Declares a name newtype that only holds DNS labels
/// (`cg_runtime::label_newtype!(ClusterName);`).
#[macro_export]
macro_rules! label_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, String> {
                $crate::types::dns_label(raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// An idempotency key (`request_id`): 1–64 printable ASCII characters
/// without spaces, as EC2's ClientToken.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// Empty means "no key".
    pub fn parse(raw: &str) -> Result<Option<Self>, &'static str> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.len() > 64 {
            return Err("must be at most 64 characters");
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("must be printable ASCII without spaces");
        }
        Ok(Some(Self(raw.to_string())))
    }

    /// A key the service derives itself (from a job or decision id); the
    /// caller guarantees it is short and printable.
    pub fn derived(key: String) -> Self {
        debug_assert!(Self::parse(&key).is_ok(), "derived request id {key:?}");
        Self(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_text_is_cut_to_whole_characters() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("ok", 10), "ok");
        assert_eq!(clip(&"x".repeat(5000), 1024).chars().count(), 1024);
    }

    label_newtype!(Name);

    #[test]
    fn ids_must_be_uuids() {
        assert!(Id::parse("not-a-uuid").is_err());
        assert!(Id::parse("").is_err());
        assert!(Id::parse("0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b").is_ok());
    }

    #[test]
    fn an_uppercase_id_is_stored_in_canonical_form() {
        let id = Id::parse("0190B6A8-7D2C-7F3E-8A4B-1C2D3E4F5A6B").unwrap();
        assert_eq!(id.as_str(), "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b");
    }

    #[test]
    fn empty_name_is_rejected() {
        assert!(Name::parse("").is_err());
    }

    #[test]
    fn uppercase_name_is_rejected() {
        assert!(Name::parse("Web-1").is_err());
    }

    #[test]
    fn name_with_leading_dash_is_rejected() {
        assert!(Name::parse("-web").is_err());
    }

    #[test]
    fn name_of_64_chars_is_rejected_and_63_accepted() {
        assert!(Name::parse(&"a".repeat(64)).is_err());
        assert_eq!(Name::parse(&"a".repeat(63)).unwrap().as_str().len(), 63);
    }

    #[test]
    fn empty_request_id_means_none() {
        assert_eq!(RequestId::parse(""), Ok(None));
    }

    #[test]
    fn request_id_longer_than_64_chars_is_rejected() {
        assert!(RequestId::parse(&"a".repeat(65)).is_err());
        assert!(RequestId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn request_id_with_spaces_is_rejected() {
        assert!(RequestId::parse("a b").is_err());
    }
}
