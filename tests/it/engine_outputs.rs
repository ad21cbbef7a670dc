//! What the package gives a plugin (issue 17 point 6): a job's typed outputs and
//! preflight, reading outputs through the engine, `completed_after`, designs decoded
//! completely at submit, and migrations as an explicit step.

use std::io::Cursor;
use std::time::Duration;

use render_engine::store::{migrate_store, open_store_with, JobFilter, MigrationMode};
use render_engine::{
    DesignSource, Engine, EngineConfig, JobId, JobStatus, OutputKind, Preset, Submission,
};

use crate::common::engine::sqlite_small_config as config;
#[cfg(feature = "postgres")]
use crate::common::pg::{drop_schema, postgres_base, postgres_url};

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(w, h, |x, y| {
        image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 3 % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
        .unwrap();
    out
}

fn files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// typed outputs, preflight, reading outputs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_jobs_have_typed_outputs_readable_through_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    // A small design: low effective DPI, so preflight has a warning to report.
    let created = engine
        .submit(Submission::new(
            "prod_1",
            Preset::ChestLarge,
            DesignSource::Bytes(png(300, 200)),
        ))
        .await
        .unwrap();
    let id = created.job.id().clone();
    assert!(created.job.outputs().is_empty(), "pending: no outputs");
    assert!(created.job.preflight().is_none());

    // Not completed: reading an output is a conflict that says to wait.
    let err = engine.read_output(&id, "front.png").await.unwrap_err();
    assert_eq!(err.code(), "E_CONFLICT", "{err}");
    assert!(err.to_string().contains("pending"), "{err}");
    assert_eq!(
        engine
            .output_url(&id, "front.png")
            .await
            .unwrap_err()
            .code(),
        "E_CONFLICT"
    );

    let workers = engine.start();
    let job = engine.wait(&id, Duration::from_secs(120)).await.unwrap();
    workers.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        job.job.status,
        JobStatus::Completed,
        "{:?}",
        job.job.error_message
    );

    let outputs = job.outputs();
    let kinds: Vec<OutputKind> = outputs.iter().map(|o| o.kind).collect();
    assert_eq!(
        kinds,
        [
            OutputKind::Atlas,
            OutputKind::Still(render_engine::View::Front)
        ]
    );
    assert_eq!(outputs[1].name, "front.png");
    assert_eq!(outputs[1].content_type, "image/png");
    assert_eq!(
        Some(outputs[1].url.as_str()),
        job.job.rendered_image_url.as_deref()
    );
    for o in &outputs {
        let bytes = engine.read_output(&id, &o.name).await.unwrap();
        assert_eq!(bytes.len() as u64, o.size, "{}", o.name);
        image::load_from_memory(&bytes).unwrap();
        // A folder without a public base URL: the fresh URL is the stable one.
        assert_eq!(engine.output_url(&id, &o.name).await.unwrap(), o.url);
    }
    // The JSON of an output, as the Node package and the command line show it.
    assert_eq!(
        serde_json::to_value(&outputs[0]).unwrap()["kind"],
        serde_json::json!("atlas")
    );

    let preflight = job
        .preflight()
        .expect("the preflight findings are recorded");
    assert!(preflight.effective_dpi.x > 0.0 && preflight.effective_dpi.x < 150.0);
    assert_eq!(preflight.print_dpi, 300);
    let low = preflight
        .warnings
        .iter()
        .find(|w| w.code.as_str() == "W_LOW_RESOLUTION")
        .expect("a 300 px design over 12 inches is low resolution");
    assert!(!low.message.is_empty());

    // Unknown names and jobs.
    let err = engine.read_output(&id, "poster.png").await.unwrap_err();
    assert_eq!(err.code(), "E_NOT_FOUND", "{err}");
    assert!(err.to_string().contains("poster.png"), "{err}");
    let unknown = JobId::parse("rjob_01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
    assert_eq!(
        engine
            .read_output(&unknown, "front.png")
            .await
            .unwrap_err()
            .code(),
        "E_NOT_FOUND"
    );
    assert_eq!(
        engine
            .output_url(&unknown, "front.png")
            .await
            .unwrap_err()
            .code(),
        "E_NOT_FOUND"
    );

    // A file deleted behind the engine's back is a storage error, not a crash.
    std::fs::remove_file(dir.path().join(format!("blobs/jobs/{id}/1/front.png"))).unwrap();
    assert_eq!(
        engine
            .read_output(&id, "front.png")
            .await
            .unwrap_err()
            .code(),
        "E_STORAGE"
    );

    // completed_after: the job finished after `before`, not after `later`.
    let done_at = job.job.completed_at.unwrap();
    let listed = |after| {
        let engine = engine.clone();
        async move {
            engine
                .jobs(&JobFilter::new().with_completed_after(after))
                .await
                .unwrap()
                .jobs
                .len()
        }
    };
    assert_eq!(listed(done_at - chrono::Duration::seconds(1)).await, 1);
    assert_eq!(listed(done_at + chrono::Duration::seconds(1)).await, 0);
}

// ---------------------------------------------------------------------------------------
// the whole design decoded at submit

/// A PNG whose `IEND` chunk has a wrong CRC: the header and every row decode; only
/// reading to the end finds it.
fn png_with_bad_iend_crc() -> Vec<u8> {
    let mut out = png(64, 48);
    let last = out.len() - 1;
    out[last] ^= 0xff;
    out
}

/// A PNG with an ancillary chunk (`tEXt`, after the image data) whose CRC is wrong: the
/// `png` decoder skips such chunks (as libpng does), so it is not refused.
fn png_with_bad_ancillary_crc() -> Vec<u8> {
    let good = png(64, 48);
    let iend = good.len() - 12;
    let mut out = good[..iend].to_vec();
    let data = b"Comment\0hello";
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(b"tEXt");
    out.extend(data);
    out.extend(0xdead_beef_u32.to_be_bytes());
    out.extend(&good[iend..]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_designs_are_refused_at_submit_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(config(dir.path())).await.unwrap();
    let whole = png(640, 480);
    let truncated_png = whole[..whole.len() / 2].to_vec();
    let mut garbage_png = whole.clone();
    let n = garbage_png.len();
    for b in &mut garbage_png[200..n - 20] {
        *b = 0x55;
    }
    let good_jpeg = jpeg(320, 240);
    // The entropy-coded data replaced by markers that are not allowed there.
    let mut corrupt_jpeg = good_jpeg.clone();
    let sos = corrupt_jpeg
        .windows(2)
        .position(|w| w == [0xff, 0xda])
        .unwrap();
    let m = corrupt_jpeg.len();
    for (i, b) in corrupt_jpeg[sos + 20..m - 2].iter_mut().enumerate() {
        *b = if i % 2 == 0 { 0xff } else { 0xc4 };
    }
    let truncated_jpeg = good_jpeg[..good_jpeg.len() / 3].to_vec();
    let mut webp = Vec::new();
    image::RgbaImage::from_pixel(64, 64, image::Rgba([10, 200, 30, 255]))
        .write_to(&mut Cursor::new(&mut webp), image::ImageFormat::WebP)
        .unwrap();
    let truncated_webp = webp[..webp.len() - 10].to_vec();
    let broken_svg =
        b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"><rect width=\"5\""
            .to_vec();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated PNG", truncated_png),
        ("PNG with garbage image data", garbage_png),
        ("PNG with a bad IEND CRC", png_with_bad_iend_crc()),
        ("corrupt JPEG", corrupt_jpeg),
        ("truncated JPEG", truncated_jpeg),
        ("truncated WebP", truncated_webp),
        ("broken SVG", broken_svg),
    ];
    for (what, bytes) in cases {
        let err = engine
            .submit(Submission::new(
                "prod_1",
                Preset::ChestLarge,
                DesignSource::Bytes(bytes),
            ))
            .await
            .expect_err(what);
        assert_eq!(err.code(), "E_IMAGE_DECODE", "{what}: {err}");
    }
    assert!(
        files(&dir.path().join("blobs")).is_empty(),
        "no blob is stored for a refused design"
    );
    assert!(engine
        .jobs(&JobFilter::new())
        .await
        .unwrap()
        .jobs
        .is_empty());

    // The intact files are accepted, and a damaged ancillary chunk is skipped.
    for bytes in [whole, good_jpeg, webp, png_with_bad_ancillary_crc()] {
        engine
            .submit(Submission::new(
                "prod_1",
                Preset::ChestLarge,
                DesignSource::Bytes(bytes),
            ))
            .await
            .unwrap();
    }
    assert_eq!(engine.jobs(&JobFilter::new()).await.unwrap().jobs.len(), 4);
}

// ---------------------------------------------------------------------------------------
// migrations as an explicit step

/// Against a store URL whose schema does not exist yet: opening without migrating is
/// refused with the way to migrate; `migrate_store` migrates; then it opens.
async fn explicit_migrations(url: &str, rollback: &str) {
    let err = open_store_with(url, MigrationMode::RequireCurrent)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_STORE", "{err}");
    let text = err.to_string();
    assert!(text.contains("schema version 0"), "{text}");
    assert!(text.contains("render-engine migrate --database"), "{text}");
    assert!(text.contains("RenderEngine.migrate("), "{text}");

    let report = migrate_store(url).await.unwrap();
    assert_eq!(report.applied, [1, 2, 3]);
    assert_eq!(report.version, 3);
    let again = migrate_store(url).await.unwrap();
    assert!(again.applied.is_empty());
    let store = open_store_with(url, MigrationMode::RequireCurrent)
        .await
        .unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    drop(store);

    // An older schema (migration 3 undone): behind, refused, and a default open (which
    // migrates) brings it up to date.
    rollback_last(url, rollback).await;
    let err = open_store_with(url, MigrationMode::RequireCurrent)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_STORE");
    assert!(err.to_string().contains("schema version 2"), "{err}");
    assert!(
        err.to_string().contains("migrations 3 have not run"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let engine_config = EngineConfig::new(dir.path()).with_store_url(url);
    let err = Engine::open(
        engine_config
            .clone()
            .with_migrations(MigrationMode::RequireCurrent),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "E_STORE");
    let engine = Engine::open(engine_config).await.unwrap();
    assert!(engine
        .store()
        .pending_migrations()
        .await
        .unwrap()
        .is_empty());
}

/// Undoes migration 3 with `sql` on the database at `url`.
async fn rollback_last(url: &str, sql: &str) {
    if url.starts_with("sqlite") {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else {
        #[cfg(feature = "postgres")]
        {
            use sqlx::Connection;
            let schema = crate::common::pg::schema_of(url).unwrap();
            let mut conn = sqlx::PgConnection::connect(&postgres_base()).await.unwrap();
            let sql = format!("SET search_path TO \"{schema}\"; {sql}");
            sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
        }
    }
}

const ROLLBACK: &str = "DROP INDEX render_job_completed_at_idx; \
    DELETE FROM render_engine_migrations WHERE version = 3;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_can_be_an_explicit_step() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let url = format!("sqlite://{}", path.display());
    // Opening without migrating does not create the file.
    assert_eq!(
        open_store_with(&url, MigrationMode::RequireCurrent)
            .await
            .unwrap_err()
            .code(),
        "E_STORE"
    );
    assert!(!path.exists(), "a require-current open created the file");
    explicit_migrations(&url, ROLLBACK).await;
}

#[tokio::test]
async fn memory_stores_are_always_current() {
    let store = open_store_with("memory:", MigrationMode::RequireCurrent)
        .await
        .unwrap();
    assert!(store.pending_migrations().await.unwrap().is_empty());
    assert_eq!(migrate_store("memory:").await.unwrap().version, 0);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_can_be_an_explicit_step() {
    // A schema of its own that does not exist yet (postgres_url's is migrated already).
    let Some(probe) = postgres_url().await else {
        return;
    };
    drop_schema(&probe).await;
    explicit_migrations(&probe, ROLLBACK).await;
    drop_schema(&probe).await;
}
