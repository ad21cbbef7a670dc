//! The engine's throughput and its overhead over calling the compositor and the renderer
//! directly, side by side in one run (release profile):
//!
//!     cargo bench --bench engine --features s3
//!
//! Both sides do the same work on the same designs: compose (print file and atlas),
//! render with the baked renderer (three stills and the 24-frame turntable), encode
//! (PNG stills, MP4 and WebP) and write every output to disk, two jobs at a time.
//!
//! * `direct`: two threads call `compose` and `BakedRenderer::render` and write the files;
//! * `engine`: the designs are submitted to an [`Engine`] on SQLite with concurrency 2 and
//!   local storage, and the clock stops when the last job is `completed` (submission,
//!   claims, leases, heartbeats, staged writes, the store's writes and progress events
//!   included).
//!
//! * `engine on S3`: the same engine with its blobs in an S3 bucket (moto, started by
//!   `scripts/ensure-moto`; endpoint `RENDER_ENGINE_TEST_S3`, default
//!   `http://127.0.0.1:5900`), a fresh bucket per round. Skipped, saying so, when no S3
//!   server answers.
//!
//! The sides take turns for `ROUNDS` rounds (the order rotates each round); the median of
//! each is reported as jobs per minute, with the engine's overhead in percent (target:
//! under 10%) and what S3 adds over local storage (target: under 15%). Every design is
//! distinct, so the engine's reuse of identical work does not flatter it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use image::{Rgba, RgbaImage};
use render_engine::render::{
    encode_mp4, encode_webp, BakedRenderer, RenderOutputs, RenderRequest, Renderer, View,
};
use render_engine::{
    compose, encode_png, ComposeOptions, DesignSource, Engine, EngineConfig, GarmentColor,
    JobStatus, Preset, Submission,
};

/// Jobs per round.
const JOBS: usize = 8;
/// Rounds per side.
const ROUNDS: usize = 4;
/// Jobs at once, on both sides.
const CONCURRENCY: usize = 2;

/// A 2400 x 2400 artwork-like design (8 in at 300 DPI); `seed` makes each one distinct.
fn design_png(seed: usize) -> Vec<u8> {
    let s = seed as f32;
    let img = RgbaImage::from_fn(2400, 2400, |x, y| {
        let (dx, dy) = (x as f32 - 1200.0, y as f32 - 1200.0 - s * 10.0);
        if dx * dx + dy * dy < 700.0 * 700.0 {
            Rgba([250, (160 + seed * 9) as u8, 40, 255])
        } else if (x / 200 + y / 200) % 2 == 0 {
            Rgba([200, 40, (60 + seed * 20) as u8, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    encode_png(&img, None).unwrap()
}

fn color() -> GarmentColor {
    GarmentColor::parse("#1f2937").unwrap()
}

/// compose + render + encode + write, `CONCURRENCY` jobs at a time.
fn direct(designs: &[Vec<u8>], renderer: &BakedRenderer, out: &std::path::Path) -> Duration {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..CONCURRENCY {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(design) = designs.get(i) else { break };
                let dir = out.join(format!("job-{i}"));
                std::fs::create_dir_all(&dir).unwrap();
                let options = ComposeOptions::new(Preset::ChestLarge).with_color(color());
                let c = compose(design, &options).unwrap();
                std::fs::write(dir.join("print.png"), c.print_png().unwrap()).unwrap();
                std::fs::write(dir.join("atlas.png"), c.atlas_png().unwrap()).unwrap();
                let request = RenderRequest::new(&c.atlas, color()).with_outputs(RenderOutputs {
                    stills: vec![View::Front, View::Back, View::ThreeQuarter],
                    turntable: true,
                });
                let r = renderer.render(&request).unwrap();
                for still in &r.stills {
                    let name = format!("{}.png", still.view.name());
                    std::fs::write(dir.join(name), encode_png(&still.image, None).unwrap())
                        .unwrap();
                }
                let (mp4, webp) = rayon::join(
                    || encode_mp4(&r.turntable, r.fps),
                    || encode_webp(&r.turntable, r.fps),
                );
                std::fs::write(dir.join("turntable.mp4"), mp4.unwrap()).unwrap();
                std::fs::write(dir.join("turntable.webp"), webp.unwrap()).unwrap();
            });
        }
    });
    started.elapsed()
}

// The S3 test helper of the integration tests (bucket creation, fake credentials).
#[allow(dead_code)]
#[path = "../tests/it/common/s3.rs"]
mod s3;

/// Submits every design to a fresh engine (blobs in `storage`, local when `None`) and
/// waits until every job completed.
async fn engine(designs: &[Vec<u8>], dir: &std::path::Path, storage: Option<String>) -> Duration {
    let mut config = EngineConfig::new(dir)
        .with_concurrency(CONCURRENCY)
        .with_poll_every(Duration::from_millis(50));
    if let Some(url) = storage {
        config = config.with_storage_url(url);
    }
    let engine = Engine::open(config).await.unwrap();
    let workers = engine.start();
    let started = Instant::now();
    let mut ids = Vec::new();
    for (i, design) in designs.iter().enumerate() {
        let submission = Submission::new(
            format!("prod_{i}"),
            Preset::ChestLarge,
            DesignSource::Bytes(design.clone()),
        )
        .with_color(color());
        ids.push(engine.submit(submission).await.unwrap().job.id().clone());
    }
    for id in &ids {
        loop {
            let job = engine.store().get(id).await.unwrap();
            if job.job.status.is_terminal() {
                assert_eq!(
                    job.job.status,
                    JobStatus::Completed,
                    "{:?}",
                    job.job.error_message
                );
                let meta = job.job.metadata.as_ref().unwrap();
                assert_eq!(meta["outputs"].as_array().unwrap().len(), 7);
                assert!(meta.get("reused_from").is_none());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let elapsed = started.elapsed();
    workers.shutdown(Duration::from_secs(30)).await.unwrap();
    elapsed
}

/// CPU time (user + system) of this process so far, all threads.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Runs `f`, returning its result with the CPU time it took.
fn with_cpu<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let before = cpu_time();
    let out = f();
    (out, cpu_time() - before)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn per_minute(d: Duration) -> f64 {
    JOBS as f64 * 60.0 / d.as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: run once, small.
    let benching = std::env::args().any(|a| a == "--bench");
    let (jobs, rounds) = if benching { (JOBS, ROUNDS) } else { (2, 1) };
    let designs: Vec<Vec<u8>> = (0..jobs).map(design_png).collect();
    let renderer = BakedRenderer::builtin().unwrap();
    renderer.preload().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // S3 (moto) when a server answers: a fresh bucket per round.
    s3::use_fake_credentials();
    let endpoint = s3::s3_endpoint();
    let s3_bucket = |round: usize| -> Option<String> {
        if !cfg!(feature = "s3") {
            println!("engine on S3: skipped, run with `--features s3`");
            return None;
        }
        let bucket = format!("bench-{}-{round}", std::process::id());
        match s3::create_bucket(&endpoint, &bucket) {
            Ok(()) => Some(s3::storage_url(&endpoint, &bucket, "bench")),
            Err(why) => {
                println!("engine on S3: skipped, {endpoint} is unusable ({why}); run scripts/ensure-moto");
                None
            }
        }
    };

    let mut direct_times = Vec::new();
    let mut engine_times = Vec::new();
    let mut s3_times = Vec::new();
    let mut direct_cpu = Vec::new();
    let mut engine_cpu = Vec::new();
    for round in 0..rounds {
        let tmp = tempfile::tempdir().unwrap();
        let storage = s3_bucket(round);
        // Rotate which side goes first, so none always runs on a warmer machine.
        let mut order = vec![0, 1, 2];
        order.rotate_left(round % 3);
        let (mut d, mut e, mut s) = (None, None, None);
        for side in order {
            match side {
                0 => {
                    d = Some(with_cpu(|| {
                        direct(&designs, &renderer, &tmp.path().join("direct"))
                    }))
                }
                1 => {
                    e = Some(with_cpu(|| {
                        runtime.block_on(engine(&designs, &tmp.path().join("engine"), None))
                    }))
                }
                _ => {
                    s = storage.clone().map(|url| {
                        runtime.block_on(engine(&designs, &tmp.path().join("engine-s3"), Some(url)))
                    })
                }
            }
        }
        let ((d, d_cpu), (e, e_cpu)) = (d.unwrap(), e.unwrap());
        println!(
            "round {}: direct {:.2} s ({:.2} s CPU), engine {:.2} s ({:.2} s CPU), engine on S3 {}, {} jobs each",
            round + 1,
            d.as_secs_f64(),
            d_cpu.as_secs_f64(),
            e.as_secs_f64(),
            e_cpu.as_secs_f64(),
            s.map(|s| format!("{:.2} s", s.as_secs_f64())).unwrap_or_else(|| "skipped".into()),
            jobs
        );
        direct_times.push(d);
        engine_times.push(e);
        s3_times.extend(s);
        direct_cpu.push(d_cpu);
        engine_cpu.push(e_cpu);
    }
    if !benching {
        return;
    }
    let (d, e) = (median(direct_times), median(engine_times));
    let overhead = (e.as_secs_f64() / d.as_secs_f64() - 1.0) * 100.0;
    println!(
        "direct: {:.1} jobs/min ({:.2} s per job-slot)",
        per_minute(d),
        d.as_secs_f64() * CONCURRENCY as f64 / JOBS as f64
    );
    println!(
        "engine (SQLite, local storage, concurrency {CONCURRENCY}): {:.1} jobs/min",
        per_minute(e)
    );
    println!("engine overhead over compose + render directly, wall clock: {overhead:+.1}% (target < 10%)");
    let (dc, ec) = (median(direct_cpu), median(engine_cpu));
    println!(
        "engine overhead in CPU time: {:+.1}% ({:.2} s vs {:.2} s for {JOBS} jobs)",
        (ec.as_secs_f64() / dc.as_secs_f64() - 1.0) * 100.0,
        ec.as_secs_f64(),
        dc.as_secs_f64()
    );
    if !s3_times.is_empty() {
        let s = median(s3_times);
        println!(
            "engine (SQLite, S3 storage on moto, concurrency {CONCURRENCY}): {:.1} jobs/min, {:.2} s",
            per_minute(s),
            s.as_secs_f64()
        );
        println!(
            "S3 over local storage, wall clock: {:+.1}% ({:.2} s vs {:.2} s; target < 15%)",
            (s.as_secs_f64() / e.as_secs_f64() - 1.0) * 100.0,
            s.as_secs_f64(),
            e.as_secs_f64()
        );
    }
}
