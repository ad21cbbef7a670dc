//! Blob storage for designs and outputs.
//!
//! [`BlobStorage`] is what the engine writes through; [`LocalStorage`], a local
//! directory, is the default; [`S3Storage`] (cargo feature `s3`) keeps blobs in an
//! S3-compatible bucket. [`open_storage_url`] opens either from a storage URL. Keys are
//! [`BlobKey`]s, which cannot name anything outside the storage root (or prefix).

mod key;
mod local;
#[cfg(feature = "s3")]
mod s3;

pub use key::{content_type_for, BlobKey, MAX_KEY_LEN};
pub use local::LocalStorage;
#[cfg(feature = "s3")]
pub use s3::{S3Storage, MAX_PRESIGN_EXPIRES};

use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// The default lifetime of presigned output URLs: 7 days, the longest SigV4 allows.
pub const DEFAULT_PRESIGN_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);

/// How a storage opened from a URL hands out URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StorageOptions {
    /// The URL the storage root is served under (`{public_base_url}/{key}` is a blob's
    /// URL), e.g. a CDN in front of the bucket's prefix, or Medusa's
    /// `http://localhost:9000/static` for a local folder. Without it a local folder gives
    /// `file://` URLs and a bucket gives presigned GET URLs.
    pub public_base_url: Option<String>,
    /// How long presigned GET URLs stay valid (default 7 days, the maximum).
    pub presign_expires: Duration,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            public_base_url: None,
            presign_expires: DEFAULT_PRESIGN_EXPIRES,
        }
    }
}

impl StorageOptions {
    /// Serves blobs under `url` instead of presigned or `file://` URLs.
    pub fn with_public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into());
        self
    }

    /// Makes presigned URLs valid for `expires` (1 second to 7 days).
    pub fn with_presign_expires(mut self, expires: Duration) -> Self {
        self.presign_expires = expires;
        self
    }
}

/// Opens the blob storage a storage URL names:
///
/// - a plain path or a `file://` URL: a [`LocalStorage`] folder (created if needed);
/// - `s3://bucket/prefix?region=..&endpoint=..&path_style=true&allow_http=true`: an
///   [`S3Storage`] (cargo feature `s3`), credentials from the AWS environment variables.
///
/// Nothing is sent to a bucket yet; [`BlobStorage::check`] (which
/// [`crate::Engine::open`] calls) finds out whether it answers.
///
/// Errors: `E_VALIDATION` on field `storage` for a malformed URL, an unknown scheme or an
/// `s3://` URL in a build without the `s3` feature (and on `public_base_url` /
/// `presign_expires` for those options); `E_STORAGE` when a folder cannot be created.
pub fn open_storage_url(url: &str, options: &StorageOptions) -> Result<Arc<dyn BlobStorage>> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(Error::validation(
            "storage",
            "is empty: give a folder, a file:// URL or s3://bucket/prefix",
        ));
    }
    let scheme = trimmed
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        None => local_storage(std::path::PathBuf::from(trimmed), options),
        Some("file") => {
            let path = url::Url::parse(trimmed)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| {
                    Error::validation(
                        "storage",
                        format!("`{trimmed}` is not a file:// URL of an absolute local path"),
                    )
                })?;
            local_storage(path, options)
        }
        #[cfg(feature = "s3")]
        Some("s3") => Ok(Arc::new(S3Storage::open(trimmed, options)?)),
        #[cfg(not(feature = "s3"))]
        Some("s3") => Err(Error::validation(
            "storage",
            "this build has no S3 storage; rebuild with the cargo feature `s3`",
        )),
        Some(other) => Err(Error::validation(
            "storage",
            format!(
                "scheme `{}://` is not a storage; use a folder, file:// or s3://",
                other.escape_debug()
            ),
        )),
    }
}

fn local_storage(
    path: std::path::PathBuf,
    options: &StorageOptions,
) -> Result<Arc<dyn BlobStorage>> {
    let mut local = LocalStorage::open(path)?;
    if let Some(base) = &options.public_base_url {
        local = local.with_public_base_url(base.clone())?;
    }
    Ok(Arc::new(local))
}

/// A storage URL fit for messages and `Debug`: no user name, password or query values.
pub(crate) fn redact_storage_url(raw: &str) -> String {
    #[cfg(feature = "s3")]
    if raw.trim_start().to_ascii_lowercase().starts_with("s3://") {
        return s3::redact_storage_url(raw);
    }
    if raw.contains("://") {
        redact_url(raw)
    } else {
        raw.to_string()
    }
}

/// A URL without its user name, password and query (for messages).
pub(crate) fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.to_string()
        }
        Err(_) => "(an unparseable URL)".to_string(),
    }
}

/// A public base URL checked (http or https) and without its trailing `/`.
pub(crate) fn check_public_base_url(base: &str) -> Result<String> {
    let parsed = url::Url::parse(base).map_err(|e| {
        Error::validation("public_base_url", format!("`{base}` is not a URL ({e})"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::validation(
            "public_base_url",
            format!("`{base}` must be an http:// or https:// URL"),
        ));
    }
    Ok(base.trim_end_matches('/').to_string())
}

/// A blob that was written: where it is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredBlob {
    /// Its key.
    pub key: BlobKey,
    /// The URL callers use to fetch it.
    pub url: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its content type (`image/png`, ...).
    pub content_type: String,
}

/// Where designs and outputs are kept.
#[async_trait::async_trait]
pub trait BlobStorage: Send + Sync + std::fmt::Debug {
    /// Writes `bytes` under `key` atomically (replacing any blob there) and returns where.
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<StoredBlob>;
    /// Reads a blob; `E_NOT_FOUND` when there is none.
    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>>;
    /// Whether a blob exists under `key`.
    async fn exists(&self, key: &BlobKey) -> Result<bool>;
    /// Deletes a blob; `false` when there was none.
    async fn delete(&self, key: &BlobKey) -> Result<bool>;
    /// Every blob key under `prefix` (segment-wise: `jobs/a` lists `jobs/a/x`, not
    /// `jobs/ab`), or every key when `None`, sorted.
    async fn list(&self, prefix: Option<&BlobKey>) -> Result<Vec<BlobKey>>;
    /// Checks that the storage answers (the engine calls it when it opens): `E_STORAGE`
    /// naming the storage, without credentials, when it does not.
    async fn check(&self) -> Result<()> {
        Ok(())
    }
    /// A URL to fetch the blob under `key` now: a newly presigned one for a bucket
    /// without a public base URL (the ones in a job expire), else [`BlobStorage::url_for`].
    async fn fresh_url(&self, key: &BlobKey) -> Result<String> {
        Ok(self.url_for(key))
    }
    /// The URL a blob under `key` has (whether or not it exists yet).
    fn url_for(&self, key: &BlobKey) -> String;
    /// The key behind a URL this storage handed out, if it is one of its own.
    fn key_for_url(&self, url: &str) -> Option<BlobKey>;
}

impl serde::Serialize for BlobKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for BlobKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        BlobKey::parse(raw).map_err(serde::de::Error::custom)
    }
}
