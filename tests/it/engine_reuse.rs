//! Identical work is not redone (on SQLite, memory and PostgreSQL), and a job's
//! `template_id` picks a configured template pack.

use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use render_engine::render::BakedRenderer;
use render_engine::render::{RenderOutput, RenderRequest, Renderer, Still};
use render_engine::store::StoredJob;
use render_engine::template::TemplatePack;
use render_engine::{
    DesignSource, Engine, EngineConfig, GarmentColor, JobId, JobStatus, OutputSelection, Preset,
    Submission, View,
};

#[cfg(feature = "postgres")]
use crate::common::pg::{drop_schema, postgres_url};

fn design_png(seed: u8) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(300, 200, |x, y| {
        image::Rgba([
            seed.wrapping_add((x / 30) as u8 * 20),
            (y / 2) as u8,
            160,
            255,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// The baked renderer, counting its calls.
#[derive(Debug)]
struct Counting {
    inner: BakedRenderer,
    calls: AtomicUsize,
}

impl Renderer for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    fn render(&self, request: &RenderRequest<'_>) -> render_engine::Result<RenderOutput> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.render(request)
    }
}

fn config(dir: &std::path::Path, store: &str) -> EngineConfig {
    let url = match store {
        "sqlite" => format!("sqlite://{}", dir.join("jobs.db").display()),
        other => other.to_string(),
    };
    EngineConfig::new(dir)
        .with_store_url(url)
        .with_lease(Duration::from_secs(5), Duration::from_millis(100))
        .with_poll_every(Duration::from_millis(30))
        .with_outputs(
            OutputSelection::all()
                .with_print_file(true)
                .with_stills([View::Front])
                .with_turntable(false, false),
        )
}

async fn finished(engine: &Engine, id: &JobId) -> StoredJob {
    let started = Instant::now();
    loop {
        let job = engine.store().get(id).await.unwrap();
        if job.job.status.is_terminal() {
            return job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "job {id} stuck"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn run(engine: &Engine, submission: Submission) -> StoredJob {
    let id = engine.submit(submission).await.unwrap().job.id().clone();
    let job = finished(engine, &id).await;
    assert_eq!(
        job.job.status,
        JobStatus::Completed,
        "{:?}",
        job.job.error_message
    );
    job
}

fn submission(product: &str, seed: u8, color: &str) -> Submission {
    // The small back print: quick to compose in a debug build.
    Submission::new(
        product,
        Preset::BackSmall,
        DesignSource::Bytes(design_png(seed)),
    )
    .with_color(GarmentColor::parse(color).unwrap())
}

fn outputs(job: &StoredJob) -> Vec<(String, String)> {
    job.job.metadata.as_ref().unwrap()["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["url"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn blob(engine: &Engine, url: &str) -> Vec<u8> {
    let key = engine.blobs().key_for_url(url).unwrap();
    engine.blobs().get(&key).await.unwrap()
}

/// `thorough`: also another design, and a deleted original (SQLite only, to keep the
/// suite quick; the lookup itself is the same on every store).
async fn identical_work_is_reused(store: &str, thorough: bool) {
    let dir = tempfile::tempdir().unwrap();
    let renderer = Arc::new(Counting {
        inner: BakedRenderer::builtin().unwrap(),
        calls: AtomicUsize::new(0),
    });
    let engine = Engine::open(config(dir.path(), store).with_renderer(renderer.clone()))
        .await
        .unwrap();
    let workers = engine.start();

    let first = run(&engine, submission("prod_1", 1, "#224488")).await;
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 1);
    let meta = first.job.metadata.as_ref().unwrap();
    assert!(meta.get("reused_from").is_none());

    // Same design, preset, colour, template and outputs (another product): reused.
    let second = run(&engine, submission("prod_2", 1, "#224488")).await;
    assert_eq!(
        renderer.calls.load(Ordering::SeqCst),
        1,
        "nothing was rendered again"
    );
    let meta2 = second.job.metadata.as_ref().unwrap();
    assert_eq!(meta2["reused_from"], first.id().as_str());
    assert_eq!(meta2["fingerprint"], meta["fingerprint"]);
    assert_eq!(meta2["preflight"], meta["preflight"]);
    // Copies under the new job's own keys, byte for byte the same.
    let (a, b) = (outputs(&first), outputs(&second));
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(
        a.iter().map(|o| &o.0).collect::<Vec<_>>(),
        b.iter().map(|o| &o.0).collect::<Vec<_>>()
    );
    for ((name, url_a), (_, url_b)) in a.iter().zip(&b) {
        assert_ne!(url_a, url_b, "{name} is a copy, not the same URL");
        assert!(url_b.contains(second.id().as_str()), "{url_b}");
        assert_eq!(blob(&engine, url_a).await, blob(&engine, url_b).await);
    }
    assert!(second
        .job
        .rendered_image_url
        .as_deref()
        .unwrap()
        .contains(second.id().as_str()));
    assert!(second
        .job
        .composited_file_url
        .as_deref()
        .unwrap()
        .contains(second.id().as_str()));

    // Another colour or another design is new work.
    let third = run(&engine, submission("prod_2", 1, "#aa2233")).await;
    assert!(third
        .job
        .metadata
        .as_ref()
        .unwrap()
        .get("reused_from")
        .is_none());
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 2);
    if !thorough {
        workers.shutdown(Duration::from_secs(5)).await.unwrap();
        return;
    }
    let fourth = run(&engine, submission("prod_2", 2, "#224488")).await;
    assert!(fourth
        .job
        .metadata
        .as_ref()
        .unwrap()
        .get("reused_from")
        .is_none());
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 3);

    // A deleted job is not reused from: the work is done again.
    engine.store().delete(first.id()).await.unwrap();
    let fifth = run(&engine, submission("prod_3", 1, "#224488")).await;
    assert!(fifth
        .job
        .metadata
        .as_ref()
        .unwrap()
        .get("reused_from")
        .is_none());
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 4);
    // ... and the next identical job reuses the new one.
    let sixth = run(&engine, submission("prod_4", 1, "#224488")).await;
    assert_eq!(
        sixth.job.metadata.as_ref().unwrap()["reused_from"],
        fifth.id().as_str()
    );
    assert_eq!(renderer.calls.load(Ordering::SeqCst), 4);
    workers.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_identical_work_is_reused() {
    identical_work_is_reused("sqlite", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_identical_work_is_reused() {
    identical_work_is_reused("memory:", false).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_identical_work_is_reused() {
    if let Some(url) = postgres_url().await {
        identical_work_is_reused(&url, false).await;
        drop_schema(&url).await;
    }
}

/// Records the atlas size and template pack it was given and returns a small front still.
#[derive(Debug, Default)]
struct AtlasProbe {
    sizes: Mutex<Vec<(u32, u32)>>,
    packs: Mutex<Vec<Option<String>>>,
}

impl Renderer for AtlasProbe {
    fn name(&self) -> &str {
        "atlas-probe"
    }

    fn render(&self, request: &RenderRequest<'_>) -> render_engine::Result<RenderOutput> {
        self.sizes.lock().unwrap().push(request.atlas.dimensions());
        self.packs
            .lock()
            .unwrap()
            .push(request.template.map(|t| t.id().to_string()));
        Ok(RenderOutput {
            stills: vec![Still {
                view: View::Front,
                image: image::RgbaImage::from_pixel(8, 8, image::Rgba([1, 2, 3, 255])),
            }],
            ..RenderOutput::default()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_template_id_picks_a_configured_pack() {
    let dir = tempfile::tempdir().unwrap();
    // A pack of its own: the classic tee's pattern at 20 pixels per inch.
    let mut manifest = TemplatePack::builtin().manifest().clone();
    manifest.id = "classic-tee-draft".into();
    manifest.atlas.pixels_per_inch = 20;
    let pack = TemplatePack::from_manifest(manifest, None).unwrap();
    let expected = pack.atlas_size_px();
    assert_ne!(expected, TemplatePack::builtin().atlas_size_px());

    let probe = Arc::new(AtlasProbe::default());
    let engine = Engine::open(
        config(dir.path(), "sqlite")
            .with_template(pack)
            .with_renderer(probe.clone()),
    )
    .await
    .unwrap();

    // An unknown template is refused at submit, before anything is stored.
    let mut unknown = submission("prod_1", 1, "#ffffff");
    unknown.template_id = Some("no-such-tee".into());
    let err = engine.submit(unknown).await.unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert_eq!(err.fields()[0].field, "template_id");
    assert!(err.to_string().contains("classic-tee-draft"), "{err}");
    assert!(!dir.path().join("blobs").join("designs").exists());

    let workers = engine.start();
    let mut custom = submission("prod_1", 1, "#ffffff");
    custom.template_id = Some("classic-tee-draft".into());
    let job = run(&engine, custom).await;
    let builtin = run(&engine, submission("prod_1", 1, "#ffffff")).await;
    workers.shutdown(Duration::from_secs(5)).await.unwrap();

    // The worker composed each job on its own pack: the atlases differ in size.
    let sizes = probe.sizes.lock().unwrap().clone();
    assert_eq!(
        sizes,
        vec![expected, TemplatePack::builtin().atlas_size_px()]
    );
    // ... and the renderer was told which garment to draw.
    assert_eq!(
        probe.packs.lock().unwrap().clone(),
        vec![
            Some("classic-tee-draft".to_string()),
            Some("classic-tee".to_string())
        ]
    );
    let atlas = blob(&engine, job.job.composited_file_url.as_deref().unwrap()).await;
    let atlas = image::load_from_memory(&atlas).unwrap();
    assert_eq!((atlas.width(), atlas.height()), expected);
    assert_eq!(
        job.job.metadata.as_ref().unwrap()["renderer"],
        "atlas-probe"
    );
    assert!(builtin
        .job
        .metadata
        .as_ref()
        .unwrap()
        .get("reused_from")
        .is_none());
}
