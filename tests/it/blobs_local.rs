//! The local-directory blob storage: round trips, atomic writes, URLs and traversal.

use render_engine::blobs::{BlobKey, BlobStorage, LocalStorage};

fn key(k: &str) -> BlobKey {
    BlobKey::parse(k).unwrap()
}

#[tokio::test]
async fn put_get_exists_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalStorage::open(dir.path()).unwrap();
    let k = key("jobs/rjob_1/front.png");
    assert!(!storage.exists(&k).await.unwrap());
    let stored = storage
        .put(&k, b"png bytes".to_vec(), "image/png")
        .await
        .unwrap();
    assert_eq!(stored.size, 9);
    assert_eq!(stored.content_type, "image/png");
    assert!(stored.url.starts_with("file:///"), "{}", stored.url);
    assert!(storage.exists(&k).await.unwrap());
    assert_eq!(storage.get(&k).await.unwrap(), b"png bytes");
    assert_eq!(storage.key_for_url(&stored.url), Some(k.clone()));

    storage
        .put(&k, b"replaced".to_vec(), "image/png")
        .await
        .unwrap();
    assert_eq!(storage.get(&k).await.unwrap(), b"replaced");

    assert!(storage.delete(&k).await.unwrap());
    assert!(!storage.delete(&k).await.unwrap());
    let err = storage.get(&k).await.unwrap_err();
    assert_eq!(err.code(), "E_NOT_FOUND");
}

#[tokio::test]
async fn no_temporary_files_are_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalStorage::open(dir.path()).unwrap();
    for i in 0..5 {
        storage
            .put(
                &key(&format!("d/{i}.bin")),
                vec![i; 1000],
                "application/octet-stream",
            )
            .await
            .unwrap();
    }
    let staging: Vec<_> = std::fs::read_dir(storage.root().join(".staging"))
        .unwrap()
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
}

#[tokio::test]
async fn public_base_url_shapes_the_urls() {
    let dir = tempfile::tempdir().unwrap();
    let storage = LocalStorage::open(dir.path())
        .unwrap()
        .with_public_base_url("http://localhost:9000/static/")
        .unwrap();
    let k = key("designs/abc.png");
    let stored = storage.put(&k, vec![0], "image/png").await.unwrap();
    assert_eq!(stored.url, "http://localhost:9000/static/designs/abc.png");
    assert_eq!(storage.key_for_url(&stored.url), Some(k));
    assert_eq!(
        storage.key_for_url("http://localhost:9000/static/../etc/passwd"),
        None
    );
    assert_eq!(
        storage.key_for_url("http://evil.test/designs/abc.png"),
        None
    );

    for bad in ["javascript:alert(1)", "ftp://x/y", "not a url"] {
        let err = LocalStorage::open(dir.path())
            .unwrap()
            .with_public_base_url(bad)
            .unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION", "{bad}");
    }
}

#[tokio::test]
async fn traversal_cannot_be_expressed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let storage = LocalStorage::open(&root).unwrap();
    for attempt in ["../outside.txt", "a/../../outside.txt", "/tmp/outside.txt"] {
        assert!(BlobKey::parse(attempt).is_err(), "{attempt}");
    }
    // A file:// URL pointing outside the root maps to no key.
    let outside = url::Url::from_file_path(dir.path().join("outside.txt")).unwrap();
    assert_eq!(storage.key_for_url(outside.as_str()), None);
}
