//! Two machines, no shared disk: two `render-engine worker` processes, each with its own
//! empty data folder, share one PostgreSQL database and one S3 bucket (moto); a third
//! kind of process, `render-engine submit`, submits 12 jobs from a folder of its own.
//! One worker is SIGKILLed in the middle of a job. Every job completes exactly once, all
//! its outputs are in the bucket, nothing else is left there, and the workers'
//! folders can be deleted without losing anything.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use render_engine::blobs::{open_storage_url, BlobKey, StorageOptions};
use render_engine::store::StoredJob;
use render_engine::{JobId, JobStatus};

use crate::pg::{drop_schema, postgres_url};
use crate::s3::{fresh_bucket, s3_env, storage_url, FAKE_SECRET};

const EXE: &str = env!("CARGO_BIN_EXE_render-engine");

/// The print file besides the atlas and front still: three outputs, slow enough (the
/// print file at 300 DPI) to catch a job in the middle.
const OUTPUTS: &str = "print";

fn design_png(seed: u8, path: &Path) {
    let img = image::RgbaImage::from_fn(900, 700, |x, y| {
        image::Rgba([
            seed.wrapping_mul(37).wrapping_add((x / 9) as u8),
            (y / 3) as u8,
            ((x + y) / 7) as u8,
            255,
        ])
    });
    img.save(path).unwrap();
}

/// `render-engine` with the shared database and bucket and its own data folder.
fn command(database: &str, storage: &str, data: &Path) -> Command {
    let mut cmd = Command::new(EXE);
    cmd.arg("--database")
        .arg(database)
        .arg("--storage")
        .arg(storage)
        .arg("--data")
        .arg(data)
        .env_remove("RENDER_ENGINE_DATABASE_URL")
        .env_remove("RENDER_ENGINE_DATA")
        .env_remove("RENDER_ENGINE_STORAGE")
        .envs(s3_env())
        .stdin(Stdio::null());
    cmd
}

struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(database: &str, storage: &str, data: &Path, log: PathBuf) -> Self {
        let child = command(database, storage, data)
            .args(["worker", "--concurrency", "1", "--poll-ms", "50"])
            .args([
                "--outputs",
                OUTPUTS,
                "--lease-secs",
                "2",
                "--heartbeat-secs",
                "0.3",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    fn name(&self) -> String {
        format!("worker-{}", self.child.id())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_without_a_shared_disk_one_killed_every_job_completes_once() {
    let Some(database) = postgres_url().await else {
        return;
    };
    let Some((endpoint, bucket)) = fresh_bucket() else {
        drop_schema(&database).await;
        return;
    };
    let storage = storage_url(&endpoint, &bucket, "shop");
    let root = tempfile::tempdir().unwrap();
    let (a_data, b_data) = (root.path().join("machine-a"), root.path().join("machine-b"));
    let submitter = root.path().join("submitter");
    let logs = root.path().join("logs");
    for dir in [&a_data, &b_data, &submitter, &logs] {
        std::fs::create_dir_all(dir).unwrap();
    }

    // The third process: 12 submissions, from a folder no worker sees.
    let mut ids = Vec::new();
    for seed in 1..=12u8 {
        let design = submitter.join(format!("design-{seed}.png"));
        design_png(seed, &design);
        let out = command(&database, &storage, &submitter.join("data"))
            .args(["submit", "--json", "--preset", "back-small", "--product"])
            .arg(format!("prod_{seed}"))
            .arg(&design)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "submit failed: {stderr}");
        assert!(!stderr.contains(FAKE_SECRET));
        let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ids.push(JobId::parse(job["job"]["id"].as_str().unwrap()).unwrap());
    }

    // The client that watches: the test's own engine on yet another empty folder.
    let watcher_dir = root.path().join("watcher");
    let watcher = render_engine::Engine::open(
        render_engine::EngineConfig::new(&watcher_dir)
            .with_store_url(&database)
            .with_storage_url(&storage),
    )
    .await
    .unwrap();

    let a = Worker::start(&database, &storage, &a_data, logs.join("a.log"));
    let b = Worker::start(&database, &storage, &b_data, logs.join("b.log"));
    let (a_name, b_name) = (a.name(), b.name());

    // SIGKILL worker A while it holds a running job.
    let started = Instant::now();
    let victim: StoredJob = 'found: loop {
        for id in &ids {
            let job = watcher.store().get(id).await.unwrap();
            let running = matches!(
                job.job.status,
                JobStatus::Compositing | JobStatus::Rendering
            );
            if running && job.lease.as_ref().is_some_and(|l| l.owner == a_name) {
                break 'found job;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "worker A never started a job: {}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();

    // B finishes everything, the victim included once A's lease has run out.
    let mut jobs = Vec::new();
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let job = watcher.store().get(id).await.unwrap();
            if job.job.status.is_terminal() {
                jobs.push(job);
                break;
            }
            assert!(Instant::now() < deadline, "{id} stuck: {}", b.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut b = b;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(b.child.id() as i32, libc::SIGTERM) };
    let status = b.child.wait().unwrap();
    let b_log = b.log();
    assert!(status.success(), "{b_log}");
    assert!(!b_log.contains(FAKE_SECRET));
    assert!(!a.log().contains(FAKE_SECRET));

    // Exactly once: every job completed by one worker in one attempt, except the victim,
    // whose killed attempt shows as a lost lease (unless A completed it just before the
    // kill landed).
    for job in &jobs {
        assert_eq!(
            job.job.status,
            JobStatus::Completed,
            "{}: {:?}",
            job.id(),
            job.errors
        );
        let by = job.job.metadata.as_ref().unwrap()["worker"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(by == a_name || by == b_name, "{by}");
        if job.id() == victim.id() {
            eprintln!(
                "the killed worker's job {}: completed by {by} in attempt {}",
                job.id(),
                job.job.attempt
            );
        }
        if job.id() == victim.id() && by == b_name {
            assert_eq!(job.job.attempt, 2);
            assert_eq!(job.errors.len(), 1);
            assert_eq!(job.errors[0].code, "E_LEASE_LOST");
        } else {
            assert_eq!(job.job.attempt, 1, "{} was worked twice", job.id());
            assert!(job.errors.is_empty(), "{:?}", job.errors);
        }
        assert!(!serde_json::to_string(job).unwrap().contains(FAKE_SECRET));
    }

    // The bucket holds every output of the completed attempt and nothing else (the
    // killed attempt's outputs were deleted by the one that completed).
    let bucket_view = open_storage_url(&storage, &StorageOptions::default()).unwrap();
    for job in &jobs {
        let prefix = BlobKey::parse(format!("jobs/{}", job.id())).unwrap();
        let keys: Vec<String> = bucket_view
            .list(Some(&prefix))
            .await
            .unwrap()
            .iter()
            .map(|k| k.to_string())
            .collect();
        let attempt = format!("jobs/{}/{}", job.id(), job.job.attempt);
        assert_eq!(
            keys,
            ["atlas.png", "front.png", "print.png"].map(|n| format!("{attempt}/{n}")),
            "{}",
            job.id()
        );
    }

    // Nothing on the workers' disks is needed: delete their folders, then read every
    // output through a fresh engine on a new empty folder.
    assert!(
        files_under(&a_data).is_empty() && files_under(&b_data).is_empty(),
        "the workers wrote to their local disks: {:?} {:?}",
        files_under(&a_data),
        files_under(&b_data)
    );
    std::fs::remove_dir_all(&a_data).unwrap();
    std::fs::remove_dir_all(&b_data).unwrap();
    drop(watcher);
    let reader = render_engine::Engine::open(
        render_engine::EngineConfig::new(root.path().join("reader"))
            .with_store_url(&database)
            .with_storage_url(&storage),
    )
    .await
    .unwrap();
    for id in &ids {
        let job = reader.job(id).await.unwrap();
        for o in job.job.metadata.as_ref().unwrap()["outputs"]
            .as_array()
            .unwrap()
        {
            let key = reader
                .blobs()
                .key_for_url(o["url"].as_str().unwrap())
                .unwrap();
            let bytes = reader.blobs().get(&key).await.unwrap();
            assert_eq!(bytes.len() as u64, o["size"].as_u64().unwrap());
        }
    }
    drop(reader);
    drop_schema(&database).await;
}

/// The binary as built with default features (what `cargo install` gives) has the
/// PostgreSQL store and S3 storage: a refused connection, not "this build has no ...".
#[test]
fn the_default_binary_speaks_postgres_and_s3() {
    let dir = tempfile::tempdir().unwrap();
    // An option only the PostgreSQL driver reads, so the answer comes at once (a refused
    // connection would wait for the pool's 30 s timeout).
    let jobs = Command::new(EXE)
        .args([
            "jobs",
            "list",
            "--database",
            "postgres://nobody@127.0.0.1:9/none?sslmode=bogus",
        ])
        .arg("--data")
        .arg(dir.path())
        .env_remove("RENDER_ENGINE_DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&jobs.stderr);
    assert!(!jobs.status.success());
    assert!(stderr.contains("is not a PostgreSQL URL"), "{stderr}");
    assert!(stderr.contains("ssl_mode"), "{stderr}");
    assert!(!stderr.contains("rebuild with"), "{stderr}");

    let design = dir.path().join("d.png");
    design_png(1, &design);
    let submit = Command::new(EXE)
        .args(["submit", "--product", "p"])
        .arg(&design)
        .args([
            "--storage",
            "s3://some-bucket/x?endpoint=http://127.0.0.1:9",
        ])
        .arg("--data")
        .arg(dir.path())
        .env_remove("RENDER_ENGINE_DATABASE_URL")
        .env_remove("RENDER_ENGINE_STORAGE")
        .envs(s3_env())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&submit.stderr);
    assert!(!submit.status.success());
    assert!(stderr.contains("error[E_STORAGE]"), "{stderr}");
    assert!(stderr.contains("s3://some-bucket/x"), "{stderr}");
    assert!(!stderr.contains(FAKE_SECRET), "{stderr}");
}
