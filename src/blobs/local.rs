//! Blob storage in a local directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{BlobKey, BlobStorage, StoredBlob};
use crate::error::{Error, Result};

/// The directory (under the root) where writes are staged before their rename.
const STAGING_DIR: &str = ".staging";

/// Stores blobs as files under a root directory.
///
/// Writes are atomic (a staged temporary file, flushed, then renamed into place), so a
/// reader never sees half a file. URLs are `{public_base_url}/{key}` when a public base
/// URL is set (e.g. Medusa's `http://localhost:9000/static`), else `file://` URLs.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    public_base_url: Option<String>,
}

impl LocalStorage {
    /// Opens (creating if needed) the directory `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join(STAGING_DIR))
            .map_err(|e| storage_error("create", &root, e))?;
        let root = root
            .canonicalize()
            .map_err(|e| storage_error("resolve", &root, e))?;
        Ok(Self {
            root,
            public_base_url: None,
        })
    }

    /// Returns URLs under `base` (without a trailing `/`) instead of `file://` URLs.
    pub fn with_public_base_url(mut self, base: impl Into<String>) -> Result<Self> {
        self.public_base_url = Some(super::check_public_base_url(&base.into())?);
        Ok(self)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file that holds `key`.
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        // BlobKey segments are plain names: the join cannot leave the root.
        self.root.join(key.as_str())
    }

    fn write_atomically(&self, key: &BlobKey, bytes: &[u8]) -> Result<()> {
        let target = self.path_of(key);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| storage_error("create", parent, e))?;
        }
        let staging = self.root.join(STAGING_DIR);
        let mut temp = tempfile::NamedTempFile::new_in(&staging)
            .map_err(|e| storage_error("stage", &staging, e))?;
        temp.write_all(bytes)
            .and_then(|_| temp.as_file().sync_all())
            .map_err(|e| storage_error("write", temp.path(), e))?;
        temp.persist(&target)
            .map_err(|e| storage_error("rename into", &target, e.error))?;
        Ok(())
    }
}

fn storage_error(action: &str, path: &Path, e: std::io::Error) -> Error {
    Error::storage(format!("could not {action} {}: {e}", path.display())).caused_by(e)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("a storage task stopped unexpectedly: {e}")))?
}

#[async_trait::async_trait]
impl BlobStorage for LocalStorage {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<StoredBlob> {
        let this = self.clone();
        let owned_key = key.clone();
        let size = bytes.len() as u64;
        blocking(move || this.write_atomically(&owned_key, &bytes)).await?;
        Ok(StoredBlob {
            url: self.url_for(key),
            key: key.clone(),
            size,
            content_type: content_type.to_string(),
        })
    }

    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        let path = self.path_of(key);
        let key = key.clone();
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound {
                what: "blob",
                id: key.to_string(),
            }),
            Err(e) => Err(storage_error("read", &path, e)),
        })
        .await
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool> {
        let path = self.path_of(key);
        blocking(move || Ok(path.is_file())).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<bool> {
        let path = self.path_of(key);
        blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(storage_error("delete", &path, e)),
        })
        .await
    }

    async fn list(&self, prefix: Option<&BlobKey>) -> Result<Vec<BlobKey>> {
        let root = self.root.clone();
        let start = match prefix {
            Some(p) => self.path_of(p),
            None => self.root.clone(),
        };
        blocking(move || {
            let mut keys = Vec::new();
            let mut dirs = vec![start];
            while let Some(dir) = dirs.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => continue,
                    Err(e) => return Err(storage_error("list", &dir, e)),
                };
                for entry in entries {
                    let entry = entry.map_err(|e| storage_error("list", &dir, e))?;
                    let path = entry.path();
                    let kind = entry
                        .file_type()
                        .map_err(|e| storage_error("stat", &path, e))?;
                    if kind.is_dir() {
                        // The storage's own temporary files are not blobs.
                        if path != root.join(STAGING_DIR) {
                            dirs.push(path);
                        }
                    } else if kind.is_file() {
                        let key = path
                            .strip_prefix(&root)
                            .ok()
                            .and_then(|p| p.to_str())
                            .and_then(|p| BlobKey::parse(p).ok());
                        keys.extend(key);
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
        .await
    }

    fn url_for(&self, key: &BlobKey) -> String {
        match &self.public_base_url {
            Some(base) => format!("{base}/{key}"),
            None => url::Url::from_file_path(self.path_of(key))
                .map(String::from)
                .unwrap_or_else(|_| format!("file://{}", self.path_of(key).display())),
        }
    }

    fn key_for_url(&self, url: &str) -> Option<BlobKey> {
        let rest = match &self.public_base_url {
            Some(base) if url.starts_with(base.as_str()) => {
                url[base.len()..].strip_prefix('/')?.to_string()
            }
            _ => {
                let path = url::Url::parse(url).ok()?.to_file_path().ok()?;
                path.strip_prefix(&self.root).ok()?.to_str()?.to_string()
            }
        };
        BlobKey::parse(rest).ok()
    }
}
