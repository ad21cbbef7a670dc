//! The job store burn-down benchmark: enqueue N no-op jobs, then 4 and 8 workers claim
//! them in batches and complete them. Prints jobs per second for each store.
//!
//! ```text
//! cargo bench --features postgres --bench store_burndown
//! ```
//!
//! Settings (environment): `BENCH_JOBS` (5000), `BENCH_BATCH` (claim size, 50),
//! `BENCH_WORKERS` (`4,8`), `BENCH_STORES` (`sqlite,postgres`), `DATABASE_URL`
//! (`postgres://postgres@127.0.0.1:5432/test`; a fresh schema is used and dropped).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use render_engine::store::{open_store, CreateOptions, JobStore, JobUpdate};
use render_engine::{JobEvent, NewRenderJob, Preset};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn enqueue(store: &Arc<dyn JobStore>, jobs: usize) -> Duration {
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, next) = (store.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < jobs {
                let new = NewRenderJob::new(
                    "prod_bench",
                    "https://cdn.example.com/d.png",
                    Preset::ChestLarge,
                );
                store
                    .create(new, CreateOptions::default())
                    .await
                    .expect("create");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

async fn burn(store: &Arc<dyn JobStore>, workers: usize, batch: u32, jobs: usize) -> Duration {
    let start = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (store, done) = (store.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let worker = format!("bench-{w}");
            let events = vec![
                JobEvent::StartCompositing,
                JobEvent::StartRendering,
                JobEvent::Completed {
                    rendered_image_url: "file:///out/noop.png".into(),
                    animation_url: None,
                },
            ];
            loop {
                let claimed = store
                    .claim(&worker, batch, Duration::from_secs(60))
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    return;
                }
                let updates: Vec<JobUpdate<'_>> = claimed
                    .iter()
                    .map(|current| JobUpdate {
                        current,
                        events: &events,
                    })
                    .collect();
                for r in store.apply_many(&updates).await.expect("apply_many") {
                    r.expect("complete");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        done.load(Ordering::Relaxed),
        jobs,
        "every job completed once"
    );
    start.elapsed()
}

async fn run(label: &str, url: &str, workers: usize, batch: u32, jobs: usize) {
    let store = open_store(url).await.expect("open store");
    let enqueue_time = enqueue(&store, jobs).await;
    let burn_time = burn(&store, workers, batch, jobs).await;
    let total = enqueue_time + burn_time;
    println!(
        "{label:<9} workers={workers} batch={batch} jobs={jobs}: enqueue {:>6.2} s \
         ({:>7.0} jobs/s), burn-down {:>6.2} s ({:>7.0} jobs/s), total {:>6.2} s",
        enqueue_time.as_secs_f64(),
        jobs as f64 / enqueue_time.as_secs_f64(),
        burn_time.as_secs_f64(),
        jobs as f64 / burn_time.as_secs_f64(),
        total.as_secs_f64(),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once, briefly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let jobs = env_or("BENCH_JOBS", if quick { 200 } else { 5000 });
    let batch = env_or("BENCH_BATCH", 50u32);
    let workers: Vec<usize> = std::env::var("BENCH_WORKERS")
        .unwrap_or_else(|_| "4,8".into())
        .split(',')
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    let stores = std::env::var("BENCH_STORES").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for &w in &workers {
            if stores.contains("sqlite") && cfg!(feature = "sqlite") {
                let path = std::env::temp_dir().join(format!(
                    "render-engine-bench-{}.db",
                    ulid::Ulid::new().to_string().to_lowercase()
                ));
                run(
                    "sqlite",
                    &format!("sqlite://{}", path.display()),
                    w,
                    batch,
                    jobs,
                )
                .await;
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            if stores.contains("postgres") && cfg!(feature = "postgres") {
                postgres(w, batch, jobs).await;
            }
        }
    });
}

#[cfg(feature = "postgres")]
async fn postgres(workers: usize, batch: u32, jobs: usize) {
    use sqlx::Connection;
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("re_bench_{}", ulid::Ulid::new().to_string().to_lowercase());
    let sep = if base.contains('?') { '&' } else { '?' };
    if sqlx::PgConnection::connect(&base).await.is_err() {
        eprintln!("postgres: {base} is unreachable; skipped");
        return;
    }
    run(
        "postgres",
        &format!("{base}{sep}schema={schema}"),
        workers,
        batch,
        jobs,
    )
    .await;
    if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
        use sqlx::Executor;
        let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        let _ = conn.execute(sql.as_str()).await;
    }
}

#[cfg(not(feature = "postgres"))]
async fn postgres(_workers: usize, _batch: u32, _jobs: usize) {}
