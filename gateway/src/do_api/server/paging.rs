//! `page` and `per_page`, as DigitalOcean takes them.

use super::*;

/// DigitalOcean's page size bounds.
pub(super) const PER_PAGE_DEFAULT: u32 = 20;
pub(super) const PER_PAGE_MAX: u32 = 200;
/// Deeper than this a page is refused: provisioning skips at most 100000.
pub(super) const SKIP_MAX: u32 = 100_000;

/// `page` and `per_page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Paging {
    pub(super) page: u32,
    pub(super) per_page: u32,
}

impl Paging {
    pub(super) fn parse(query: &[(String, String)]) -> Result<Self, DoError> {
        let get = |key: &str| {
            query
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let page = match get("page") {
            None | Some("") => 1,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| DoError::bad_request("page must be a positive integer"))?,
        };
        let per_page = match get("per_page") {
            None | Some("") => PER_PAGE_DEFAULT,
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=PER_PAGE_MAX).contains(n))
                .ok_or_else(|| {
                    DoError::bad_request(format!(
                        "per_page must be an integer from 1 to {PER_PAGE_MAX}"
                    ))
                })?,
        };
        let paging = Self { page, per_page };
        if paging.skip().is_none() {
            return Err(DoError::bad_request(format!(
                "page is too deep: at most {SKIP_MAX} items can be passed over"
            )));
        }
        Ok(paging)
    }

    /// As the backends' `page_size` and `skip` take them.
    pub(super) fn page_size(self) -> i32 {
        i32::try_from(self.per_page).unwrap_or(i32::MAX)
    }

    pub(super) fn skip_rows(self) -> i32 {
        i32::try_from(self.skip().unwrap_or(0)).unwrap_or(i32::MAX)
    }

    pub(super) fn skip(self) -> Option<u32> {
        (self.page - 1)
            .checked_mul(self.per_page)
            .filter(|s| *s <= SKIP_MAX)
    }

    /// This page of an in-memory list.
    pub(super) fn slice<T: Clone>(self, all: &[T]) -> Vec<T> {
        let skip = self.skip().unwrap_or(u32::MAX) as usize;
        all.iter()
            .skip(skip)
            .take(self.per_page as usize)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_defaults_and_bounds() {
        let q = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            Paging::parse(&q(&[])).unwrap(),
            Paging {
                page: 1,
                per_page: 20
            }
        );
        assert_eq!(
            Paging::parse(&q(&[("page", "3"), ("per_page", "2")]))
                .unwrap()
                .skip(),
            Some(4)
        );
        for bad in [
            [("page", "0")],
            [("page", "abc")],
            [("per_page", "0")],
            [("per_page", "201")],
            [("page", "4000000000")],
        ] {
            let e = Paging::parse(&q(&bad)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }
}
