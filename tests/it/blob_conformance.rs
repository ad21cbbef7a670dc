//! One conformance suite for every blob storage: the local folder and (feature `s3`) an
//! S3 bucket on the test server (moto, `scripts/ensure-moto`). The same function runs
//! against both: put/get/list/delete, overwrite, missing keys, keys that would
//! escape the root or prefix, and 16 concurrent writers of one key.

use std::sync::Arc;

use render_engine::blobs::{BlobKey, BlobStorage, LocalStorage};

fn key(k: &str) -> BlobKey {
    BlobKey::parse(k).unwrap()
}

/// A payload that says who wrote it in every byte: a mix of two writers shows.
fn payload(writer: u8, len: usize) -> Vec<u8> {
    vec![writer; len]
}

/// The suite. `other` is a second storage on the same backend with another root or
/// prefix: nothing written through `storage` may be visible through it.
async fn conformance(storage: Arc<dyn BlobStorage>, other: Arc<dyn BlobStorage>) {
    // put / get / exists and what put returns.
    let k = key("designs/a.png");
    assert!(!storage.exists(&k).await.unwrap());
    let stored = storage
        .put(&k, b"first".to_vec(), "image/png")
        .await
        .unwrap();
    assert_eq!(stored.key, k);
    assert_eq!(stored.size, 5);
    assert_eq!(stored.content_type, "image/png");
    assert_eq!(
        storage.key_for_url(&stored.url),
        Some(k.clone()),
        "{}",
        stored.url
    );
    assert_eq!(storage.key_for_url(&storage.url_for(&k)), Some(k.clone()));
    assert!(storage.exists(&k).await.unwrap());
    assert_eq!(storage.get(&k).await.unwrap(), b"first");

    // Overwrite.
    storage
        .put(&k, b"second, longer".to_vec(), "image/png")
        .await
        .unwrap();
    assert_eq!(storage.get(&k).await.unwrap(), b"second, longer");

    // list: segment-wise prefixes, sorted, every key when None.
    for name in [
        "jobs/a/1.png",
        "jobs/a/2.png",
        "jobs/ab/3.png",
        "jobs/a/deep/4.png",
    ] {
        storage.put(&key(name), vec![1], "image/png").await.unwrap();
    }
    assert_eq!(
        storage.list(Some(&key("jobs/a"))).await.unwrap(),
        vec![
            key("jobs/a/1.png"),
            key("jobs/a/2.png"),
            key("jobs/a/deep/4.png")
        ]
    );
    assert_eq!(storage.list(Some(&key("nothing"))).await.unwrap(), vec![]);
    assert_eq!(
        storage.list(None).await.unwrap(),
        vec![
            key("designs/a.png"),
            key("jobs/a/1.png"),
            key("jobs/a/2.png"),
            key("jobs/a/deep/4.png"),
            key("jobs/ab/3.png"),
        ]
    );

    // Missing keys.
    let missing = key("designs/missing.png");
    assert_eq!(
        storage.get(&missing).await.unwrap_err().code(),
        "E_NOT_FOUND"
    );
    assert!(!storage.exists(&missing).await.unwrap());
    assert!(!storage.delete(&missing).await.unwrap());

    // delete.
    assert!(storage.delete(&k).await.unwrap());
    assert!(!storage.delete(&k).await.unwrap());
    assert!(!storage.exists(&k).await.unwrap());
    assert_eq!(storage.get(&k).await.unwrap_err().code(), "E_NOT_FOUND");

    // Keys that would escape the root or prefix cannot even be made...
    for bad in [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "a/./b",
        "%2e%2e/x",
        "a\\..\\b",
    ] {
        assert_eq!(
            BlobKey::parse(bad).unwrap_err().code(),
            "E_VALIDATION",
            "{bad}"
        );
    }
    // ...nor smuggled in through a URL...
    let base = storage.url_for(&key("jobs/a/1.png"));
    let up = "/..".repeat(12);
    let up_encoded = "/%2e%2e".repeat(12);
    let up_slashes = "/..%2f".repeat(12);
    for tail in [
        format!("{up}/etc/passwd"),
        format!("{up_encoded}/etc/passwd"),
        format!("{up_slashes}etc%2fpasswd"),
    ] {
        let crafted = format!("{base}{tail}");
        if let Some(found) = storage.key_for_url(&crafted) {
            panic!("{crafted} was taken for the key {found}");
        }
    }
    // ...and what one storage writes is not visible through another root or prefix.
    assert_eq!(other.list(None).await.unwrap(), vec![]);
    assert!(!other.exists(&key("jobs/a/1.png")).await.unwrap());
    assert_eq!(
        other.get(&key("jobs/a/1.png")).await.unwrap_err().code(),
        "E_NOT_FOUND"
    );

    // 16 concurrent writers of one key, each 256 KiB of its own byte, with a reader
    // looking on: every read and the final value is one writer's whole payload.
    let contested = key("jobs/contested/front.png");
    let len = 256 * 1024;
    let reader = {
        let storage = storage.clone();
        let contested = contested.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            for _ in 0..40 {
                match storage.get(&contested).await {
                    Ok(bytes) => {
                        assert_eq!(bytes.len(), len, "a partial blob was visible");
                        assert!(
                            bytes.iter().all(|b| *b == bytes[0]),
                            "a mixed blob was visible"
                        );
                        seen += 1;
                    }
                    Err(e) => assert_eq!(e.code(), "E_NOT_FOUND", "{e}"),
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            seen
        })
    };
    let writers: Vec<_> = (0..16u8)
        .map(|w| {
            let storage = storage.clone();
            let contested = contested.clone();
            tokio::spawn(async move {
                storage
                    .put(&contested, payload(w + 1, len), "image/png")
                    .await
                    .unwrap()
            })
        })
        .collect();
    for w in writers {
        let blob = w.await.unwrap();
        assert_eq!(blob.size, len as u64);
    }
    reader.await.unwrap();
    let value = storage.get(&contested).await.unwrap();
    assert_eq!(value.len(), len);
    assert!((1..=16).contains(&value[0]));
    assert_eq!(
        value,
        payload(value[0], len),
        "the final value mixes writers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_storage_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(LocalStorage::open(dir.path().join("a")).unwrap());
    let other = Arc::new(LocalStorage::open(dir.path().join("b")).unwrap());
    conformance(storage.clone(), other).await;
    // Only blobs in the folder: no temporary files of the writers are left.
    let staging = std::fs::read_dir(dir.path().join("a/.staging"))
        .unwrap()
        .count();
    assert_eq!(staging, 0);
}

#[cfg(feature = "s3")]
mod s3 {
    use super::*;
    use crate::common::s3::{fresh_bucket, storage_url};
    use render_engine::blobs::{open_storage_url, StorageOptions};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn s3_storage_conforms() {
        let Some((endpoint, bucket)) = fresh_bucket() else {
            return;
        };
        let options = StorageOptions::default();
        let storage =
            open_storage_url(&storage_url(&endpoint, &bucket, "shop/a"), &options).unwrap();
        storage.check().await.unwrap();
        let other =
            open_storage_url(&storage_url(&endpoint, &bucket, "shop/ab"), &options).unwrap();
        conformance(storage.clone(), other).await;

        // Everything went under the prefix: the bucket's root sees it there.
        let root = open_storage_url(&storage_url(&endpoint, &bucket, ""), &options).unwrap();
        let all = root.list(None).await.unwrap();
        assert!(!all.is_empty());
        for k in &all {
            assert!(
                k.as_str().starts_with("shop/a/"),
                "{k} is outside the prefix"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn s3_storage_without_prefix_conforms() {
        let Some((endpoint, bucket)) = fresh_bucket() else {
            return;
        };
        let Some((_, other_bucket)) = fresh_bucket() else {
            return;
        };
        let options = StorageOptions::default();
        let storage = open_storage_url(&storage_url(&endpoint, &bucket, ""), &options).unwrap();
        let other = open_storage_url(&storage_url(&endpoint, &other_bucket, ""), &options).unwrap();
        conformance(storage, other).await;
    }
}
