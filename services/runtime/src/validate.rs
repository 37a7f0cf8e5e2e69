//! Collects field violations so a bad request is answered with all its
//! problems at once, not the first one.

use crate::FieldViolation;

#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Keeps the parsed value, or records why `field` is invalid.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}

/// A page size: 0 means `default`; otherwise 1..=`max`.
pub fn page_size(raw: i32, default: u32, max: u32) -> Result<u32, String> {
    match raw {
        0 => Ok(default),
        n if n < 0 => Err("must not be negative".into()),
        n if n.unsigned_abs() > max => Err(format!("must be at most {max}")),
        n => Ok(n.unsigned_abs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_page_size_means_default_and_negative_is_rejected() {
        assert_eq!(page_size(0, 50, 1000), Ok(50));
        assert_eq!(page_size(7, 50, 1000), Ok(7));
        assert!(page_size(-1, 50, 1000).is_err());
        assert!(page_size(1001, 50, 1000).is_err());
    }
}
