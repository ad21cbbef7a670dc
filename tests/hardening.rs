//! Hardening (issue 15, points 4 to 9): the store survives cancelled calls, reuse never
//! serves stale work, no existence oracle for `file://` designs, HTTPS for real, Blender
//! contained, and the main job prints nothing alarming.

use render_engine::{DesignSource, Engine, EngineConfig, Preset, Submission};

// 6. No existence oracle for `file://` designs.

/// A `file://` design outside the allowed root gets the same refusal whether or not the
/// file exists: the answer tells nothing about the file system outside the root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_designs_outside_the_root_are_refused_alike() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("uploads");
    let outside = dir.path().join("private");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("exists.png"), b"not looked at").unwrap();
    let engine = Engine::open(
        EngineConfig::new(dir.path())
            .with_store_url("memory:")
            .with_allowed_file_root(&root),
    )
    .await
    .unwrap();
    let refusal = |path: String| {
        let engine = engine.clone();
        async move {
            let source = DesignSource::Url(format!("file://{path}"));
            let err = engine
                .submit(Submission::new("prod_1", Preset::ChestLarge, source))
                .await
                .unwrap_err();
            // The same words apart from the path the caller gave.
            (err.code(), err.to_string().replace(&path, "PATH"))
        }
    };
    let o = outside.display();
    for (a, b) in [
        (format!("{o}/exists.png"), format!("{o}/missing.png")),
        (format!("{o}/exists.png"), format!("{o}/missing/deeper.png")),
        ("/etc/passwd".to_string(), "/etc/no-such-file".to_string()),
    ] {
        let (ra, rb) = (refusal(a.clone()).await, refusal(b.clone()).await);
        assert_eq!(ra.0, "E_VALIDATION", "{a}: {}", ra.1);
        assert_eq!(ra, rb, "{a} and {b} are told apart");
    }
}

