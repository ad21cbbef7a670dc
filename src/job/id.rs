//! Render job identifiers.

use std::fmt;

use crate::error::{Error, Result};

/// The longest identifier accepted from callers, in characters.
pub(crate) const MAX_ID_LEN: usize = 255;

/// The prefix of identifiers this crate generates, as Medusa does for its own models.
pub(crate) const JOB_ID_PREFIX: &str = "rjob_";

/// A render job's identifier: an opaque string.
///
/// New identifiers are Medusa-style: `rjob_` followed by a ULID, so they sort by creation
/// time. Identifiers from callers are accepted as they are when they are non-empty, at
/// most 255 characters long and free of control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// Generates a fresh `rjob_<ULID>` identifier.
    pub fn generate() -> Self {
        JobId(format!("{JOB_ID_PREFIX}{}", ulid::Ulid::new()))
    }

    /// Accepts an identifier from a caller, checking the rules above.
    pub fn parse(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        match check_identifier(&id) {
            Some(problem) => Err(Error::validation("id", problem)),
            None => Ok(JobId(id)),
        }
    }

    /// The identifier as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the identifier, returning its string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks the shared identifier rules (non-empty, at most 255 characters, no control
/// characters). Returns a message describing the problem, or `None` when the value is fine.
pub(crate) fn check_identifier(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("must not be empty".to_string());
    }
    let len = value.chars().count();
    if len > MAX_ID_LEN {
        return Some(format!(
            "must be at most {MAX_ID_LEN} characters (got {len})"
        ));
    }
    if value.chars().any(char::is_control) {
        return Some("must not contain control characters (newlines, tabs, NUL, ...)".into());
    }
    None
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for JobId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        JobId::parse(s)
    }
}

impl AsRef<str> for JobId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        JobId::parse(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_medusa_style_and_unique() {
        let a = JobId::generate();
        let b = JobId::generate();
        assert!(a.as_str().starts_with("rjob_"));
        assert_eq!(a.as_str().len(), 5 + 26);
        assert_ne!(a, b);
        assert!(JobId::parse(a.as_str()).is_ok());
    }

    #[test]
    fn caller_ids_follow_the_rules() {
        assert!(JobId::parse("job-1").is_ok());
        assert!(JobId::parse("x".repeat(255)).is_ok());
        assert!(
            JobId::parse("é".repeat(255)).is_ok(),
            "length is in characters"
        );
        for bad in ["", "a\nb", "nul\0", &"x".repeat(256)] {
            let err = JobId::parse(bad).unwrap_err();
            assert_eq!(err.code(), "E_VALIDATION");
            assert_eq!(err.fields()[0].field, "id");
        }
    }

    #[test]
    fn deserialising_checks_the_rules() {
        assert!(serde_json::from_str::<JobId>("\"\"").is_err());
        let id: JobId = serde_json::from_str("\"rjob_1\"").unwrap();
        assert_eq!(id.as_str(), "rjob_1");
    }
}
