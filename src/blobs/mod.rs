//! Blob storage for designs and outputs.
//!
//! [`BlobStorage`] is what the engine writes through; [`LocalStorage`], a local
//! directory, is the default. Keys are [`BlobKey`]s, which cannot name anything outside
//! the storage root.

mod key;
mod local;

pub use key::{content_type_for, BlobKey, MAX_KEY_LEN};
pub use local::LocalStorage;

use crate::error::Result;

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
    /// Moves a blob to another key atomically (committing a staged output).
    async fn rename(&self, from: &BlobKey, to: &BlobKey) -> Result<StoredBlob>;
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
