//! The engine end to end: submit, work, complete; failures, retries, timeouts, cancel,
//! shutdown and refused submissions. Runs on SQLite and on the memory store.

use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use render_engine::render::BakedRenderer;
use render_engine::render::{RenderOutput, RenderRequest, Renderer};
use render_engine::store::StoredJob;

use crate::common::engine::small_outputs;
use render_engine::{
    DesignSource, Engine, EngineConfig, Error, GarmentColor, JobId, JobStatus, OutputSelection,
    Preset, Stage, Submission,
};

#[cfg(feature = "postgres")]
use crate::common::pg::{drop_schema, postgres_url};

fn design_png() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(400, 300, |x, y| {
        if (x / 40 + y / 40) % 2 == 0 {
            image::Rgba([200, 30, 40, 255])
        } else {
            image::Rgba([20, 60, 200, 200])
        }
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn config(dir: &std::path::Path, store: &str) -> EngineConfig {
    let url = match store {
        "sqlite" => format!("sqlite://{}", dir.join("jobs.db").display()),
        other => other.to_string(),
    };
    EngineConfig::new(dir)
        .with_store_url(url)
        .with_lease(Duration::from_secs(5), Duration::from_millis(100))
        .with_poll_every(Duration::from_millis(50))
        .with_outputs(small_outputs())
}

async fn wait_for(engine: &Engine, id: &JobId, done: impl Fn(&StoredJob) -> bool) -> StoredJob {
    let started = Instant::now();
    loop {
        let job = engine.store().get(id).await.unwrap();
        if done(&job) {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job {id} stuck in {:?}",
            job.job.status
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn finished(engine: &Engine, id: &JobId) -> StoredJob {
    wait_for(engine, id, |j| j.job.status.is_terminal()).await
}

fn submission() -> Submission {
    Submission::new(
        "prod_1",
        Preset::ChestLarge,
        DesignSource::Bytes(design_png()),
    )
    .with_color(GarmentColor::parse("#224488").unwrap())
}

async fn blob(engine: &Engine, url: &str) -> Vec<u8> {
    let key = engine
        .blobs()
        .key_for_url(url)
        .expect("a URL of this storage");
    engine.blobs().get(&key).await.unwrap()
}

/// A renderer that fails its first `fail` calls with a transient error, or waits
/// `sleep` (watching the request's cancel token, as the Blender backend watches its
/// process) before rendering.
struct TestRenderer {
    inner: BakedRenderer,
    fail: usize,
    sleep: Duration,
    calls: AtomicUsize,
    /// Renders that saw the cancel token and returned `E_CANCELLED`.
    stopped: AtomicUsize,
}

impl TestRenderer {
    fn new(fail: usize, sleep: Duration) -> Arc<Self> {
        Arc::new(Self {
            inner: BakedRenderer::builtin().unwrap(),
            fail,
            sleep,
            calls: AtomicUsize::new(0),
            stopped: AtomicUsize::new(0),
        })
    }
}

impl Renderer for TestRenderer {
    fn name(&self) -> &str {
        "test"
    }

    fn render(&self, request: &RenderRequest<'_>) -> render_engine::Result<RenderOutput> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.fail {
            return Err(Error::storage("injected transient failure"));
        }
        let until = Instant::now() + self.sleep;
        while Instant::now() < until {
            if let Err(e) = request.check_cancelled() {
                self.stopped.fetch_add(1, Ordering::SeqCst);
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.inner.render(request)
    }
}

async fn complete_with_every_output(store: &str) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path(), store).with_outputs(OutputSelection::default()))
        .await
        .unwrap();
    let mut events = engine.subscribe();
    let created = engine.submit(submission()).await.unwrap();
    assert!(created.created);
    assert_eq!(created.job.job.status, JobStatus::Pending);
    let id = created.job.id().clone();
    let workers = engine.start();
    let stored = finished(&engine, &id).await;
    let report = workers.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(report.completed, vec![id.clone()]);
    let job = stored.job.clone();
    assert_eq!(job.status, JobStatus::Completed, "{:?}", job.error_message);
    assert_eq!(job.attempt, 1);

    let atlas = blob(&engine, job.composited_file_url.as_deref().unwrap()).await;
    let atlas = image::load_from_memory(&atlas).unwrap();
    assert!(atlas.width() > 100);
    let front = blob(&engine, job.rendered_image_url.as_deref().unwrap()).await;
    image::load_from_memory(&front).unwrap();
    let mp4 = blob(&engine, job.animation_url.as_deref().unwrap()).await;
    assert_eq!(&mp4[4..8], b"ftyp");

    // metadata.outputs lists every output with its size; the preflight report is kept.
    let manifest = serde_json::Value::Object(job.metadata.clone().unwrap());
    assert_eq!(manifest["color"], "#224488");
    let names: Vec<&str> = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    for name in [
        "atlas.png",
        "print.png",
        "front.png",
        "back.png",
        "three-quarter.png",
        "turntable.mp4",
        "turntable.webp",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for o in manifest["outputs"].as_array().unwrap() {
        let bytes = blob(&engine, o["url"].as_str().unwrap()).await;
        assert_eq!(bytes.len() as u64, o["size"].as_u64().unwrap());
    }
    assert!(manifest["preflight"].is_object());
    let webp = blob(
        &engine,
        manifest["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == "turntable.webp")
            .unwrap()["url"]
            .as_str()
            .unwrap(),
    )
    .await;
    assert_eq!(&webp[8..12], b"WEBP");

    // The job's folder holds exactly the outputs it lists, under its attempt.
    assert_eq!(stored_for(dir.path(), &stored), listed_outputs(&stored, 1));

    // Progress: monotonic, ends completed at 100.
    let mut last = 0u8;
    let mut saw_render = false;
    let mut end = None;
    while let Ok(e) = events.try_recv() {
        assert_eq!(e.job_id, id);
        assert!(
            e.percent >= last,
            "progress went down: {last} -> {}",
            e.percent
        );
        last = e.percent;
        saw_render |= e.stage == Stage::Rendering && e.percent > 20;
        end = Some(e);
    }
    assert!(saw_render);
    let end = end.unwrap();
    assert_eq!((end.stage, end.percent), (Stage::Completed, 100));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_submit_work_complete() {
    complete_with_every_output("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_submit_work_complete() {
    complete_with_every_output("memory:").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_submit_work_complete() {
    if let Some(url) = postgres_url().await {
        complete_with_every_output(&url).await;
        drop_schema(&url).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_design_fails_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path(), "sqlite")).await.unwrap();
    // A readable PNG header, then garbage. Submit decodes the whole design and refuses
    // it; the worker must refuse it too, for good, when it got into the storage another
    // way (written by an older version, or changed behind the engine's back).
    let mut bytes = design_png();
    let len = bytes.len();
    bytes.truncate(60);
    bytes.extend(std::iter::repeat_n(0x55, len - 60));
    let refused = engine
        .submit(Submission::new(
            "prod_1",
            Preset::ChestLarge,
            DesignSource::Bytes(bytes.clone()),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "E_IMAGE_DECODE", "{refused}");
    let key = render_engine::blobs::BlobKey::parse("designs/corrupt.png").unwrap();
    let stored = engine.blobs().put(&key, bytes, "image/png").await.unwrap();
    let created = engine
        .store()
        .create(
            render_engine::NewRenderJob::new("prod_1", stored.url, Preset::ChestLarge),
            Default::default(),
        )
        .await
        .unwrap();
    let id = created.job.id().clone();
    let workers = engine.start();
    finished(&engine, &id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    workers.shutdown(Duration::from_secs(5)).await.unwrap();
    let job = engine.store().get(&id).await.unwrap();
    assert_eq!(job.job.status, JobStatus::Failed);
    assert_eq!(job.job.error_code.as_deref(), Some("E_IMAGE_DECODE"));
    assert_eq!(job.job.attempt, 1, "a permanent failure is not retried");
    assert_eq!(job.errors.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failure_is_retried_then_completes() {
    let dir = tempfile::tempdir().unwrap();
    let renderer = TestRenderer::new(1, Duration::ZERO);
    let engine = Engine::open(config(dir.path(), "sqlite").with_renderer(renderer.clone()))
        .await
        .unwrap();
    let id = engine.submit(submission()).await.unwrap().job.id().clone();
    let workers = engine.start();
    let job = wait_for(&engine, &id, |j| j.job.status == JobStatus::Completed).await;
    workers.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(job.job.attempt, 2);
    assert_eq!(job.errors.len(), 1);
    assert_eq!(job.errors[0].code, "E_STORAGE");
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 2);
    // The first attempt had stored its print file and atlas before the render failed;
    // the second deleted them: the job's folder holds only what the job lists.
    assert_eq!(stored_for(dir.path(), &job), listed_outputs(&job, 2));
}

/// Every blob stored under the job's folder (`jobs/{id}/...`), sorted.
fn stored_for(data: &std::path::Path, job: &StoredJob) -> Vec<String> {
    let blobs = data.join("blobs");
    let mut stored: Vec<String> = walk(&blobs.join("jobs").join(job.id().as_str()))
        .iter()
        .map(|p| p.strip_prefix(&blobs).unwrap().display().to_string())
        .collect();
    stored.sort();
    stored
}

/// The keys of the outputs the job lists, all of them under `attempt`, sorted.
fn listed_outputs(job: &StoredJob, attempt: u32) -> Vec<String> {
    let mut listed: Vec<String> = job.job.metadata.as_ref().unwrap()["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            format!(
                "jobs/{}/{attempt}/{}",
                job.id(),
                o["name"].as_str().unwrap()
            )
        })
        .collect();
    listed.sort();
    listed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_that_runs_too_long_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let renderer = TestRenderer::new(0, Duration::from_secs(120));
    let engine = Engine::open(
        config(dir.path(), "sqlite")
            .with_renderer(renderer.clone())
            .with_job_timeout(Duration::from_secs(10))
            .with_max_attempts(1),
    )
    .await
    .unwrap();
    // The small back print composes quickly, so the time limit falls in the render.
    let mut small = submission();
    small.preset = Preset::BackSmall;
    let id = engine.submit(small).await.unwrap().job.id().clone();
    let workers = engine.start();
    let started = Instant::now();
    let job = finished(&engine, &id).await;
    // The timeout stopped the render itself (through its cancel token), not only the
    // wait for it: the job is recorded once the render returned, long before the
    // renderer's two minutes or the worker's 30 s grace.
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the timed-out render ran on: {:?}",
        started.elapsed()
    );
    let entered = renderer.calls.load(Ordering::SeqCst);
    assert_eq!(
        renderer.stopped.load(Ordering::SeqCst),
        entered,
        "a render that was entered saw the token"
    );
    workers.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(job.job.status, JobStatus::Failed);
    assert_eq!(job.job.error_code.as_deref(), Some("E_TIMEOUT"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_during_compose_never_renders() {
    let dir = tempfile::tempdir().unwrap();
    let renderer = TestRenderer::new(0, Duration::ZERO);
    let engine = Engine::open(
        config(dir.path(), "sqlite")
            .with_renderer(renderer.clone())
            // Far less than loading and composing the design take.
            .with_job_timeout(Duration::from_millis(1))
            .with_max_attempts(1),
    )
    .await
    .unwrap();
    let id = engine.submit(submission()).await.unwrap().job.id().clone();
    let workers = engine.start();
    let job = finished(&engine, &id).await;
    workers.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(job.job.status, JobStatus::Failed);
    assert_eq!(job.job.error_code.as_deref(), Some("E_TIMEOUT"));
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 0);
    assert!(job.job.composited_file_url.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_while_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let renderer = TestRenderer::new(0, Duration::from_secs(30));
    let engine = Engine::open(config(dir.path(), "sqlite").with_renderer(renderer.clone()))
        .await
        .unwrap();
    let id = engine.submit(submission()).await.unwrap().job.id().clone();
    let workers = engine.start();
    wait_for(&engine, &id, |j| j.job.status == JobStatus::Rendering).await;
    let started = Instant::now();
    engine.store().cancel(&id).await.unwrap();
    let job = finished(&engine, &id).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "cancel took {:?}",
        started.elapsed()
    );
    // The render itself stopped (E_CANCELLED from its token) before the job was recorded.
    assert_eq!(renderer.stopped.load(Ordering::SeqCst), 1);
    let report = workers.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(job.job.status, JobStatus::Cancelled);
    assert_eq!(report.cancelled, vec![id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_releases_running_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let renderer = TestRenderer::new(0, Duration::from_secs(30));
    let engine = Engine::open(config(dir.path(), "sqlite").with_renderer(renderer.clone()))
        .await
        .unwrap();
    let id = engine.submit(submission()).await.unwrap().job.id().clone();
    let workers = engine.start();
    wait_for(&engine, &id, |j| j.job.status == JobStatus::Rendering).await;
    let asked = Instant::now();
    let report = workers.shutdown(Duration::from_millis(200)).await.unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        renderer.stopped.load(Ordering::SeqCst),
        1,
        "the render stopped"
    );
    assert_eq!(report.released, vec![id.clone()]);
    let job = engine.store().get(&id).await.unwrap();
    assert_eq!(job.job.status, JobStatus::Pending, "back in the queue");
    assert!(job.lease.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_submissions_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("uploads");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("ok.png"), design_png()).unwrap();
    std::fs::write(dir.path().join("secret.png"), design_png()).unwrap();
    let engine = Engine::open(
        config(dir.path(), "sqlite")
            .with_allowed_file_root(&root)
            .with_max_design_bytes(64 * 1024),
    )
    .await
    .unwrap();
    let url = |p: &str| DesignSource::Url(format!("file://{}/{p}", root.display()));
    let cases: Vec<(DesignSource, &str)> = vec![
        (url("../secret.png"), "E_VALIDATION"),
        (
            DesignSource::Url(format!("file://{}/secret.png", dir.path().display())),
            "E_VALIDATION",
        ),
        (
            DesignSource::Url("http://169.254.169.254/latest".into()),
            "E_VALIDATION",
        ),
        (
            DesignSource::Url("ftp://example.com/x.png".into()),
            "E_VALIDATION",
        ),
        (
            DesignSource::Bytes(b"hello, not an image".to_vec()),
            "E_UNSUPPORTED_FORMAT",
        ),
        (DesignSource::Bytes(Vec::new()), "E_VALIDATION"),
        (
            DesignSource::Bytes(vec![0x89; 65 * 1024]),
            "E_IMAGE_TOO_LARGE",
        ),
    ];
    for (source, code) in cases {
        let err = engine
            .submit(Submission::new(
                "prod_1",
                Preset::ChestLarge,
                source.clone(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{source:?}: {err}");
    }
    let mut bad_fields = submission();
    bad_fields.product_id = String::new();
    assert_eq!(
        engine.submit(bad_fields).await.unwrap_err().code(),
        "E_VALIDATION"
    );
    assert!(walk(&dir.path().join("blobs")).is_empty(), "nothing stored");
    let page = engine.store().list(&Default::default()).await.unwrap();
    assert!(page.jobs.is_empty());

    // Inside the root it works, and the key is content-addressed and idempotent.
    let a = engine
        .submit(
            Submission::new("prod_1", Preset::ChestLarge, url("ok.png")).with_idempotency_key("k1"),
        )
        .await
        .unwrap();
    let b = engine
        .submit(
            Submission::new("prod_1", Preset::ChestLarge, url("ok.png")).with_idempotency_key("k1"),
        )
        .await
        .unwrap();
    assert!(a.created && !b.created);
    assert_eq!(a.job.id(), b.job.id());
    assert!(a.job.job.design_file_url.contains("/designs/"));
    assert_eq!(walk(&dir.path().join("blobs")).len(), 1);
}

/// A renderer that reports progress every few milliseconds for `busy` (far more often
/// than the store should be written), then renders.
struct ChattyRenderer {
    inner: BakedRenderer,
    busy: Duration,
    reports: AtomicUsize,
}

impl Renderer for ChattyRenderer {
    fn name(&self) -> &str {
        "chatty"
    }

    fn render(&self, request: &RenderRequest<'_>) -> render_engine::Result<RenderOutput> {
        let started = Instant::now();
        let total = 1000;
        let mut done = 0;
        while started.elapsed() < self.busy {
            request.check_cancelled()?;
            done = (done + 1).min(total - 1);
            if let Some(progress) = request.progress {
                progress(render_engine::render::RenderProgress {
                    done,
                    total,
                    eta: None,
                });
                self.reports.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(3));
        }
        self.inner.render(request)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_in_the_store_for_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let renderer = Arc::new(ChattyRenderer {
        inner: BakedRenderer::builtin().unwrap(),
        busy: Duration::from_secs(4),
        reports: AtomicUsize::new(0),
    });
    let engine = Engine::open(config(dir.path(), "sqlite").with_renderer(renderer.clone()))
        .await
        .unwrap();
    // Another connection pool on the same file: what another process would see.
    let url = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let reader = render_engine::open_store(&url).await.unwrap();
    let id = engine.submit(submission()).await.unwrap().job.id().clone();
    assert_eq!(reader.get(&id).await.unwrap().progress, None, "pending");

    let workers = engine.start();
    let started = Instant::now();
    let mut seen = Vec::new();
    let job = loop {
        let job = reader.get(&id).await.unwrap();
        if job.job.status.is_terminal() {
            break job;
        }
        if let Some(p) = &job.progress {
            if seen.last() != Some(p) {
                seen.push(p.clone());
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "stuck");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed();
    workers.shutdown(Duration::from_secs(5)).await.unwrap();

    assert_eq!(job.job.status, JobStatus::Completed);
    assert_eq!(
        job.progress, None,
        "no progress once the job stopped running"
    );
    // What a poller saw: the stages in order, percent rising, an ETA mid-render.
    let stages: Vec<&str> = seen.iter().map(|p| p.stage.as_str()).collect();
    assert!(stages.contains(&"rendering"), "{stages:?}");
    let mid = seen
        .iter()
        .find(|p| p.stage == "rendering" && p.percent > 20)
        .unwrap_or_else(|| panic!("no mid-render progress in {seen:?}"));
    assert!(mid.eta_seconds.is_some_and(|s| s > 0.0), "{mid:?}");
    assert!(mid.message.contains("rendering"), "{mid:?}");
    assert!(
        seen.windows(2).all(|w| w[0].percent <= w[1].percent),
        "{seen:?}"
    );
    assert!(seen.iter().all(|p| p.attempt == 1));
    // Throttled: the renderer reported hundreds of times; the store got about one write
    // a second plus one per stage (claimed, compositing, rendering, encoding, storing).
    let reports = renderer.reports.load(Ordering::SeqCst);
    assert!(reports > 300, "the renderer reported {reports} times");
    let allowed = elapsed.as_secs() as usize + 1 + 5;
    assert!(
        seen.len() <= allowed,
        "{} progress writes seen in {elapsed:?} (at most {allowed}): {seen:?}",
        seen.len()
    );
}
