//! Hardening (issue 15, points 4 to 9): the store survives cancelled calls, reuse never
//! serves stale work, no existence oracle for `file://` designs, HTTPS for real, Blender
//! contained, and the main job prints nothing alarming.

use render_engine::{DesignSource, Engine, EngineConfig, Preset, Submission};

mod common;

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

// 4. The store survives cancellation; unreadable rows are permanent errors.

use std::sync::Arc;
use std::time::Duration;

use render_engine::{
    open_store, CreateOptions, JobEvent, JobFilter, JobStore, NewRenderJob, StoredJob,
};

/// A small deterministic generator (xorshift), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn new_job(product: &str) -> NewRenderJob {
    NewRenderJob::new(
        product,
        "https://cdn.example.com/design.png",
        Preset::ChestLarge,
    )
}

/// Errors a store call may return on a busy queue; anything else (`E_STORE`,
/// `E_INTERNAL`) means the store itself broke.
fn expected(e: &render_engine::Error) -> bool {
    matches!(
        e.code(),
        "E_NOT_FOUND" | "E_CONFLICT" | "E_INVALID_TRANSITION" | "E_LEASE_LOST"
    )
}

/// One random store call; returns a job it claimed or advanced, if any.
async fn random_call(
    store: &Arc<dyn JobStore>,
    rng: &mut Rng,
    known: &[StoredJob],
) -> render_engine::Result<Option<StoredJob>> {
    let pick = |rng: &mut Rng| known[rng.below(known.len() as u64) as usize].clone();
    match rng.below(9) {
        0 => Ok(Some(
            store
                .create(new_job("prod_cancel"), CreateOptions::default())
                .await?
                .job,
        )),
        1 => Ok(store
            .claim("w", 2, Duration::from_secs(30))
            .await?
            .into_iter()
            .next()),
        2 => store.get(pick(rng).id()).await.map(Some),
        3 => store
            .apply(&pick(rng), &JobEvent::StartCompositing)
            .await
            .map(Some),
        4 => {
            let job = pick(rng);
            match job.lease_token() {
                Some(token) => store
                    .heartbeat(job.id(), token, Duration::from_secs(30))
                    .await
                    .map(|_| None),
                None => Ok(None),
            }
        }
        5 => store.cancel(pick(rng).id()).await.map(Some),
        6 => store.list(&JobFilter::default()).await.map(|_| None),
        7 => {
            let job = pick(rng);
            match job.lease_token() {
                Some(token) => store.release(job.id(), token, "test").await.map(Some),
                None => Ok(None),
            }
        }
        _ => store.rescue(10).await.map(|_| None),
    }
}

/// Store calls dropped at random points (timeouts of 0 to 3 ms cut them wherever they
/// are: acquiring, beginning, mid-statement, committing), then the pool must still serve
/// every call: no connection comes back inside a transaction nobody owns.
async fn store_survives_dropped_calls(url: &str, rounds: usize) {
    let store = open_store(url).await.unwrap();
    let mut known = Vec::new();
    for i in 0..8 {
        known.push(
            store
                .create(new_job(&format!("prod_{i}")), CreateOptions::default())
                .await
                .unwrap()
                .job,
        );
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut dropped, mut finished) = (0, 0);
    for round in 0..rounds {
        let limit = Duration::from_micros(rng.below(3_000));
        match tokio::time::timeout(limit, random_call(&store, &mut rng, &known)).await {
            Err(_) => dropped += 1,
            Ok(Ok(job)) => {
                finished += 1;
                known.extend(job);
            }
            Ok(Err(e)) => assert!(expected(&e), "round {round}: {e}"),
        }
    }
    // Every pooled connection is used again, with time to spare: a connection left in
    // a write transaction would block the others (busy timeout) or refuse to begin.
    for round in 0..40 {
        let call = random_call(&store, &mut rng, &known);
        match tokio::time::timeout(Duration::from_secs(10), call).await {
            Err(_) => panic!("after the drops, call {round} hung (a connection holds a lock)"),
            Ok(Ok(job)) => known.extend(job),
            Ok(Err(e)) => assert!(expected(&e), "after the drops, call {round}: {e}"),
        }
    }
    let created = store
        .create(new_job("prod_after"), CreateOptions::default())
        .await
        .unwrap();
    assert!(created.created);
    eprintln!("{url}: {dropped} calls dropped, {finished} finished, then 41 clean calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_survives_dropped_calls() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    store_survives_dropped_calls(&url, 1500).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_survives_dropped_calls() {
    let Some(url) = common::postgres_url().await else {
        return;
    };
    store_survives_dropped_calls(&url, 1500).await;
    common::drop_schema(&url).await;
}

/// A row this version cannot read is a permanent error, not a transient one the engine
/// would retry with backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_rows_are_permanent_errors() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let url = format!("sqlite://{}", path.display());
    let store = open_store(&url).await.unwrap();
    let job = store
        .create(new_job("prod_corrupt"), CreateOptions::default())
        .await
        .unwrap()
        .job;
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE render_job SET preset = 'from-a-newer-version' WHERE id = ?1")
        .bind(job.id().as_str())
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let err = store.get(job.id()).await.unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
    assert!(
        !err.is_transient(),
        "{} is retried as if transient: {err}",
        err.code()
    );
    assert_eq!(err.code(), "E_INTERNAL");
}

// 5. Reuse never serves stale work.

/// The baked renderer under another name, with settings chosen by the test, counting
/// its renders.
#[derive(Debug)]
struct Configured {
    inner: render_engine::BakedRenderer,
    settings: String,
    calls: std::sync::atomic::AtomicUsize,
}

impl render_engine::Renderer for Configured {
    fn name(&self) -> &str {
        "configured"
    }

    fn settings(&self) -> String {
        self.settings.clone()
    }

    fn render(
        &self,
        request: &render_engine::RenderRequest<'_>,
    ) -> render_engine::Result<render_engine::RenderOutput> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.render(request)
    }
}

/// Reuse never serves work made with other renderer settings (say Blender's samples):
/// the same design rendered again after a settings change is rendered afresh, and with
/// the same settings it is reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_follows_the_renderer_settings() {
    use render_engine::{JobStatus, OutputSelection};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let design = std::fs::read(format!(
        "{}/examples/designs/sunset-badge.png",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut reused = Vec::new();
    for (settings, product) in [
        ("samples 16", "p1"),
        ("samples 64", "p2"),
        ("samples 16", "p3"),
    ] {
        let renderer = Arc::new(Configured {
            inner: render_engine::BakedRenderer::builtin().unwrap(),
            settings: settings.to_string(),
            calls: AtomicUsize::new(0),
        });
        let engine = Engine::open(
            EngineConfig::new(dir.path())
                .with_store_url(format!("sqlite://{}", dir.path().join("jobs.db").display()))
                .with_poll_every(Duration::from_millis(30))
                .with_outputs(OutputSelection {
                    print_file: false,
                    all_stills: false,
                    turntable: false,
                })
                .with_renderer(renderer.clone()),
        )
        .await
        .unwrap();
        let workers = engine.start();
        let source = DesignSource::Bytes(design.clone());
        let id = engine
            .submit(Submission::new(product, Preset::BackSmall, source))
            .await
            .unwrap()
            .job
            .id()
            .clone();
        let started = std::time::Instant::now();
        let job = loop {
            let job = engine.store().get(&id).await.unwrap();
            if job.job.status.is_terminal() {
                break job;
            }
            assert!(started.elapsed() < Duration::from_secs(120), "stuck");
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        workers.shutdown(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            job.job.status,
            JobStatus::Completed,
            "{:?}",
            job.job.error_message
        );
        let from = job
            .job
            .metadata
            .as_ref()
            .unwrap()
            .get("reused_from")
            .cloned();
        assert_eq!(
            renderer.calls.load(Ordering::SeqCst),
            usize::from(from.is_none())
        );
        reused.push(from.is_some());
    }
    assert_eq!(
        reused,
        [false, false, true],
        "64 samples must not reuse the 16-sample renders; 16 again must"
    );
}

// 7. HTTPS for real.

/// A test CA, a `localhost` certificate it signed, and an HTTPS server on 127.0.0.1
/// serving `body` to every request (rustls, on a thread). Returns the CA (DER) and port.
fn https_server(body: Vec<u8>) -> (Vec<u8>, u16) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    use std::io::{Read, Write};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "render-engine test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone(), ca.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            // Read the request head; a client that refuses the certificate ends here.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match tls.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            if !head.ends_with(b"\r\n\r\n") {
                continue;
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            let _ = tls.write_all(reply.as_bytes());
            let _ = tls.write_all(&body);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (ca.der().to_vec(), port)
}

/// Designs download over real HTTPS: a local TLS server whose certificate a test-only
/// root vouches for is fetched; without that root the same server is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_designs_download_over_verified_tls() {
    use render_engine::HttpDesigns;
    let design = std::fs::read(format!(
        "{}/examples/designs/sunset-badge.png",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let (ca, port) = https_server(design);
    let url = format!("https://localhost:{port}/designs/badge.png");
    let local = HttpDesigns::enabled().allow("127.0.0.1/32".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let open = |http: HttpDesigns| {
        Engine::open(
            EngineConfig::new(dir.path())
                .with_store_url("memory:")
                .with_http_designs(http),
        )
    };
    let submission = || {
        Submission::new(
            "prod_https",
            Preset::ChestLarge,
            DesignSource::Url(url.clone()),
        )
    };

    let untrusting = open(local.clone()).await.unwrap();
    let err = untrusting.submit(submission()).await.unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION", "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");

    let trusting = open(local.trust_root(ca)).await.unwrap();
    let created = trusting.submit(submission()).await.unwrap();
    assert!(created.created);
    let meta = created.job.job.metadata.as_ref().unwrap();
    assert_eq!(meta["design_format"], "png");
}
// 8. Blender, contained.

/// Runs `tool` (found on PATH) or, when it is missing, skips loudly; under `CI=true`
/// a missing tool fails the test (the project's scripts install it).
fn tool_or_skip(tool: &str, installer: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{tool} is not on PATH under CI=true; run {installer}");
        }
        eprintln!("\n!!!!!!!! SKIPPING: {tool} is not on PATH; run {installer}\n");
    }
    found
}

/// Blender and its scripts run with a minimal environment: a secret in the caller's
/// environment (a database URL, a cloud key) does not reach them, and Blender still
/// renders with what it does get.
#[test]
fn blender_does_not_see_the_callers_secrets() {
    use render_engine::render::{BlenderOptions, BlenderRenderer, RenderOutputs, Renderer, View};
    use std::os::unix::fs::PermissionsExt;
    let Some(blender) = tool_or_skip("blender", "scripts/ensure-blender") else {
        return;
    };
    // The only test in this binary that sets a variable, before Blender is started.
    std::env::set_var(
        "RENDER_ENGINE_TEST_SECRET",
        "postgres://admin:hunter2@db/prod",
    );
    let dir = tempfile::tempdir().unwrap();
    // Blender started through a wrapper that records the environment it was given; the
    // `exec` hands exactly that environment to Blender and so to its Python scripts.
    let wrapper = dir.path().join("blender");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nenv > \"{}/env-$$.txt\"\nexec \"{}\" \"$@\"\n",
            dir.path().display(),
            blender.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let renderer = BlenderRenderer::new(
        BlenderOptions::default()
            .with_blender_path(&wrapper)
            .with_samples(1)
            .with_still_size(48, 48)
            .with_work_dir(dir.path()),
    )
    .unwrap();
    let (w, h) = render_engine::TemplatePack::builtin().atlas_size_px();
    let atlas = image::RgbaImage::new(w, h);
    let out = renderer
        .render(
            &render_engine::RenderRequest::new(&atlas, render_engine::GarmentColor::WHITE)
                .with_outputs(RenderOutputs {
                    stills: vec![View::Front],
                    turntable: false,
                }),
        )
        .unwrap();
    assert_eq!(
        out.stills.len(),
        1,
        "Blender rendered with the minimal environment"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("env-") {
            continue;
        }
        seen += 1;
        let env = std::fs::read_to_string(entry.path()).unwrap();
        assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
        assert!(
            !env.contains("RENDER_ENGINE_TEST_SECRET") && !env.contains("hunter2"),
            "Blender was given the caller's secret:\n{env}"
        );
    }
    // The render for sure; the version probe too unless another test probed first.
    assert!(seen >= 1, "the wrapper never ran");
}

// 9. The main job prints nothing alarming; the MP4 says how its colours were made.

/// `render-engine render` prints its progress and summary, nothing from the codecs.
#[test]
fn render_prints_no_codec_warnings() {
    let out = tempfile::tempdir().unwrap();
    let design = format!(
        "{}/examples/designs/sunset-badge.png",
        env!("CARGO_MANIFEST_DIR")
    );
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_render-engine"))
        .env("PATH", "/nonexistent")
        .args(["render", &design, "--preset", "chest-large", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(out.path().join("turntable.mp4").is_file());
    for alarming in ["OpenH264", "Warning", "warning", "WARN"] {
        assert!(
            !stderr.contains(alarming),
            "stderr mentions {alarming:?}:\n{stderr}"
        );
    }
}

/// The MP4 says how its frames were converted (sRGB values through the BT.601 matrix into
/// limited range), and a real demuxer reads it.
#[test]
fn mp4_colour_box_is_read_by_ffprobe() {
    let Some(ffprobe) = tool_or_skip("ffprobe", "scripts/ensure-ffmpeg") else {
        return;
    };
    let frames: Vec<image::RgbaImage> = (0..4u8)
        .map(|i| {
            image::RgbaImage::from_fn(64, 48, |x, _| {
                image::Rgba([200, (x * 3) as u8, 40 * i, 255])
            })
        })
        .collect();
    let mp4 = render_engine::encode_mp4(&frames, 12).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("turntable.mp4");
    std::fs::write(&path, &mp4).unwrap();
    let out = std::process::Command::new(ffprobe)
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .arg("stream=codec_name,pix_fmt,color_range,color_space,color_transfer,color_primaries")
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "codec_name=h264",
        "pix_fmt=yuv420p",
        "color_range=tv",
        "color_space=smpte170m",
        "color_transfer=iec61966-2-1",
        "color_primaries=bt709",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
}
