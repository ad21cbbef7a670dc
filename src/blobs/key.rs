//! Blob keys: relative paths that cannot escape their storage root.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// A key in blob storage: `/`-separated segments of ASCII letters, digits, `.`, `_` and
/// `-`, where no segment is empty, `.` or `..`, and the key does not start with `/`.
///
/// The rules make path traversal impossible by construction: a `BlobKey` always names a
/// path strictly inside the storage root, whatever the storage is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// Accepts `key` when it follows the rules, else `E_VALIDATION` saying what is wrong.
    pub fn parse(key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        match check_key(&key) {
            None => Ok(BlobKey(key)),
            Some(problem) => Err(Error::validation(
                "key",
                format!("`{}` {problem}", key.escape_debug()),
            )),
        }
    }

    /// A content-addressed key `{prefix}/{sha256 of bytes}.{extension}`: the same bytes
    /// always get the same key.
    pub fn content_addressed(prefix: &str, bytes: &[u8], extension: &str) -> Result<Self> {
        let digest = Sha256::digest(bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Self::parse(format!("{prefix}/{hex}.{extension}"))
    }

    /// Joins a child segment (or `/`-separated segments) under this key.
    pub fn join(&self, child: &str) -> Result<Self> {
        Self::parse(format!("{}/{child}", self.0))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment's extension, if any (`png` for `a/b.png`).
    pub fn extension(&self) -> Option<&str> {
        let last = self.0.rsplit('/').next()?;
        let (stem, ext) = last.rsplit_once('.')?;
        (!stem.is_empty()).then_some(ext)
    }
}

fn check_key(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("is empty".into());
    }
    if key.len() > MAX_KEY_LEN {
        return Some(format!("is longer than {MAX_KEY_LEN} bytes"));
    }
    if key.starts_with('/') {
        return Some("is absolute; keys are relative paths like `designs/a.png`".into());
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return Some("has an empty segment (`//` or a trailing `/`)".into());
        }
        if segment == "." || segment == ".." {
            return Some("has a `.` or `..` segment".into());
        }
        if let Some(bad) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Some(format!(
                "contains {:?}; use only ASCII letters, digits, `.`, `_`, `-` and `/`",
                bad
            ));
        }
    }
    None
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A content type guessed from a key's extension, for the outputs this crate writes.
pub fn content_type_for(key: &BlobKey) -> &'static str {
    match key.extension().map(str::to_ascii_lowercase).as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some("mp4") => "video/mp4",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_keys_are_accepted() {
        for key in [
            "a",
            "designs/abc.png",
            "jobs/rjob_01/front.png",
            "x-y_z.1/.hidden",
        ] {
            assert_eq!(BlobKey::parse(key).unwrap().as_str(), key);
        }
    }

    #[test]
    fn traversal_and_odd_characters_are_refused() {
        for key in [
            "",
            "/etc/passwd",
            "../secret",
            "a/../../b",
            "a/./b",
            "a//b",
            "a/",
            "a\\..\\b",
            "a\0b",
            "a\nb",
            "C:x",
            "über.png",
            "a b.png",
            "%2e%2e/x",
        ] {
            let err = BlobKey::parse(key).unwrap_err();
            assert_eq!(err.code(), "E_VALIDATION", "{key:?}");
        }
        assert!(BlobKey::parse("k".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[test]
    fn content_addressed_keys_depend_only_on_the_bytes() {
        let a = BlobKey::content_addressed("designs", b"hello", "png").unwrap();
        let b = BlobKey::content_addressed("designs", b"hello", "png").unwrap();
        let c = BlobKey::content_addressed("designs", b"hello!", "png").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            a.as_str(),
            "designs/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824.png"
        );
        assert_eq!(content_type_for(&a), "image/png");
        assert_eq!(a.extension(), Some("png"));
    }
}
