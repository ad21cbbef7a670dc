//! `render-engine worker` as a process: it works submitted jobs and shuts down gracefully
//! on SIGTERM/SIGINT; two worker processes share a PostgreSQL store and one is killed
//! (SIGKILL) mid-job, yet every job ends exactly once.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use render_engine::store::StoredJob;
use render_engine::{
    DesignSource, Engine, EngineConfig, JobId, JobStatus, OutputSelection, Preset, Submission, View,
};

use crate::pg::{drop_schema, postgres_url};

fn design_png(seed: u8) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(900, 700, |x, y| {
        image::Rgba([
            seed.wrapping_mul(37).wrapping_add((x / 9) as u8),
            (y / 3) as u8,
            ((x + y) / 7) as u8,
            255,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Every output: the slowest jobs, easiest to catch in the middle.
const FULL: &str = "print,stills,turntable";

/// A `render-engine worker` process on `data` and `database`, logging to a file.
struct WorkerProcess {
    child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    /// `outputs`: the worker's `--outputs` list; the full set (`print,stills,turntable`)
    /// keeps a job running long enough to be caught in the middle.
    fn start(data: &Path, database: &str, name: &str, outputs: &str, extra: &[&str]) -> Self {
        let log = data.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_render-engine"))
            .args(["worker", "--concurrency", "1", "--poll-ms", "50"])
            .args(["--outputs", outputs])
            .args(extra)
            .arg("--database")
            .arg(database)
            .arg("--data")
            .arg(data)
            .env_remove("RENDER_ENGINE_DATABASE_URL")
            .env_remove("RENDER_ENGINE_DATA")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// The name its engine claims jobs under.
    fn worker_name(&self) -> String {
        format!("worker-{}", self.child.id())
    }

    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for the process to exit (at most `limit`), returning its log.
    fn wait(mut self, limit: Duration) -> (std::process::ExitStatus, String) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, std::fs::read_to_string(&self.log).unwrap());
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the worker did not exit within {limit:?}:\n{}",
                    std::fs::read_to_string(&self.log).unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        // Never leave a worker running behind a failed test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An engine on the same data and store, used to submit and inspect (never started).
async fn client(data: &Path, database: &str) -> Engine {
    Engine::open(
        EngineConfig::new(data)
            .with_store_url(database)
            .with_outputs(
                OutputSelection::all()
                    .with_print_file(true)
                    .with_stills([View::Front])
                    .with_turntable(false, false),
            ),
    )
    .await
    .unwrap()
}

async fn submit(engine: &Engine, seed: u8) -> JobId {
    engine
        .submit(Submission::new(
            format!("prod_{seed}"),
            Preset::BackSmall,
            DesignSource::Bytes(design_png(seed)),
        ))
        .await
        .unwrap()
        .job
        .id()
        .clone()
}

async fn wait_until(
    engine: &Engine,
    id: &JobId,
    limit: Duration,
    done: impl Fn(&StoredJob) -> bool,
) -> StoredJob {
    let started = Instant::now();
    loop {
        let job = engine.store().get(id).await.unwrap();
        if done(&job) {
            return job;
        }
        assert!(
            started.elapsed() < limit,
            "job {id} stuck in {:?}",
            job.job.status
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn running(job: &StoredJob) -> bool {
    matches!(
        job.job.status,
        JobStatus::Compositing | JobStatus::Rendering
    )
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

/// Every output listed in the job's metadata exists with its size, and nothing else is
/// stored for the job (no earlier attempt's leftovers).
async fn outputs_present(engine: &Engine, data: &Path, job: &StoredJob, expected: usize) {
    let outputs = job.job.metadata.as_ref().unwrap()["outputs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(outputs.len(), expected, "{outputs:?}");
    for o in &outputs {
        let key = engine
            .blobs()
            .key_for_url(o["url"].as_str().unwrap())
            .unwrap();
        let bytes = engine.blobs().get(&key).await.unwrap();
        assert_eq!(bytes.len() as u64, o["size"].as_u64().unwrap());
    }
    let committed = files_under(&data.join("blobs").join("jobs").join(job.id().as_str()));
    assert_eq!(committed.len(), outputs.len(), "{committed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process_works_jobs_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let database = format!("sqlite://{}", data.join("jobs.db").display());
    let engine = client(data, &database).await;

    // SIGTERM after the work is done: a clean exit reporting what it did.
    let worker = WorkerProcess::start(data, &database, "a", "print", &[]);
    let id = submit(&engine, 1).await;
    let job = wait_until(&engine, &id, Duration::from_secs(120), |j| {
        j.job.status.is_terminal()
    })
    .await;
    assert_eq!(job.job.status, JobStatus::Completed);
    outputs_present(&engine, data, &job, 3).await;
    worker.signal(libc::SIGTERM);
    let (status, log) = worker.wait(Duration::from_secs(20));
    assert!(status.success(), "{log}");
    assert!(log.contains("worker: 1 completed"), "{log}");

    // SIGINT in the middle of a job, with no time to finish it: the job is released
    // back to the queue, unleased, for another worker.
    let worker = WorkerProcess::start(data, &database, "b", FULL, &["--shutdown-secs", "0"]);
    let id = submit(&engine, 2).await;
    wait_until(&engine, &id, Duration::from_secs(60), running).await;
    worker.signal(libc::SIGINT);
    let (status, log) = worker.wait(Duration::from_secs(30));
    assert!(status.success(), "{log}");
    assert!(log.contains("1 released"), "{log}");
    let job = engine.store().get(&id).await.unwrap();
    assert_eq!(job.job.status, JobStatus::Pending);
    assert!(job.lease.is_none());

    // The next worker picks it up and completes it; what the released attempt wrote is
    // gone (the job's folder holds only the outputs it lists).
    let worker = WorkerProcess::start(data, &database, "c", "print", &[]);
    let job = wait_until(&engine, &id, Duration::from_secs(120), |j| {
        j.job.status.is_terminal()
    })
    .await;
    assert_eq!(job.job.status, JobStatus::Completed);
    assert_eq!(job.job.attempt, 2);
    outputs_present(&engine, data, &job, 3).await;
    worker.signal(libc::SIGTERM);
    let (status, _) = worker.wait(Duration::from_secs(20));
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_one_killed_mid_job_every_job_ends_once() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let engine = client(data, &url).await;
    let mut ids = Vec::new();
    for seed in 1..=4 {
        ids.push(submit(&engine, seed).await);
    }
    let fast_lease = ["--lease-secs", "2", "--heartbeat-secs", "0.3"];
    let a = WorkerProcess::start(data, &url, "a", FULL, &fast_lease);
    let b = WorkerProcess::start(data, &url, "b", FULL, &fast_lease);

    // Find the job worker A is in the middle of, and kill A there.
    let a_name = a.worker_name();
    let started = Instant::now();
    let victim = 'found: loop {
        for id in &ids {
            let job = engine.store().get(id).await.unwrap();
            if running(&job) && job.lease.as_ref().is_some_and(|l| l.owner == a_name) {
                break 'found job;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "worker A never started a job"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let mut a = a;
    a.child.kill().unwrap(); // SIGKILL: no shutdown, no release, no cleanup.
    a.child.wait().unwrap();
    drop(a);

    // Worker B finishes everything, the dead worker's job included once its lease ran out.
    let mut jobs = Vec::new();
    for id in &ids {
        jobs.push(
            wait_until(&engine, id, Duration::from_secs(180), |j| {
                j.job.status.is_terminal()
            })
            .await,
        );
    }
    let b_name = b.worker_name();
    b.signal(libc::SIGTERM);
    let (status, log) = b.wait(Duration::from_secs(30));
    assert!(status.success(), "{log}");

    for job in &jobs {
        assert_eq!(
            job.job.status,
            JobStatus::Completed,
            "{}: {:?}",
            job.id(),
            job.job.error_message
        );
        assert!(job.lease.is_none());
        outputs_present(&engine, data, job, 7).await;
        if job.id() == victim.id() {
            // The killed attempt counts once, as a lost lease; the second one completed.
            assert_eq!(job.job.attempt, 2);
            assert_eq!(job.errors.len(), 1);
            assert_eq!(job.errors[0].code, "E_LEASE_LOST");
        } else {
            assert_eq!(job.job.attempt, 1, "{} was worked twice", job.id());
            assert!(job.errors.is_empty());
        }
    }
    // Each job was completed by exactly one worker, and B's own report agrees.
    let completed_by = |name: &str| {
        jobs.iter()
            .filter(|j| j.job.metadata.as_ref().unwrap()["worker"] == name)
            .count()
    };
    assert_eq!(completed_by(&a_name) + completed_by(&b_name), jobs.len());
    let victim_done = jobs.iter().find(|j| j.id() == victim.id()).unwrap();
    assert_eq!(
        victim_done.job.metadata.as_ref().unwrap()["worker"],
        b_name.as_str()
    );
    assert!(
        log.contains(&format!("worker: {} completed", completed_by(&b_name))),
        "{log}"
    );
    // Another process sees the killed attempt's error after the retry completed.
    let show = std::process::Command::new(env!("CARGO_BIN_EXE_render-engine"))
        .args(["jobs", "show", victim.id().as_str(), "--database", &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert!(text.contains("attempt 1:  [E_LEASE_LOST]"), "{text}");
    assert!(
        !text.contains("progress:"),
        "a completed job has no progress: {text}"
    );
    // What the dead worker wrote was cleaned up by the attempt that completed: checked by
    // `outputs_present` above (the job's folder holds only its listed outputs).
    drop(engine);
    drop_schema(&url).await;
}
