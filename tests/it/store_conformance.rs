//! The job store conformance suite: written once, run against every store.
//!
//! Each case is an async function taking a [`Ctx`]; the `suite!` macro at the bottom
//! instantiates every case for the memory, SQLite (feature `sqlite`) and PostgreSQL
//! (feature `postgres`) stores.
//!
//! PostgreSQL: `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`); every
//! test gets a fresh schema, dropped afterwards. Unreachable, the tests skip loudly, or
//! fail when `CI=true`.
//!
//! Cases that need a second process (crash recovery, shared SQLite) re-run this test
//! binary with `RE_STORE_TEST_ROLE` set; the `worker_process` test is its entry point.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use render_engine::store::{
    backoff_delay, jittered_backoff, open_store, CreateOptions, JobFilter, JobProgress, JobStore,
    JobUpdate, RescueAction, StoredJob, MAX_BACKOFF,
};
use render_engine::{JobEvent, JobId, JobStatus, NewRenderJob, Preset};

type Store = Arc<dyn JobStore>;

/// What a case gets: the store, and its URL when other processes can open it too.
#[derive(Clone)]
struct Ctx {
    store: Store,
    url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Memory,
    #[allow(dead_code)]
    Sqlite,
    #[allow(dead_code)]
    Postgres,
}

const ROLE_VAR: &str = "RE_STORE_TEST_ROLE";
const URL_VAR: &str = "RE_STORE_TEST_URL";

/// Runs `case` against a fresh store of `kind`, cleaning up even when it panics.
async fn run<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (ctx, cleanup): (Ctx, Box<dyn FnOnce() -> CleanupFut + Send>) = match kind {
        Kind::Memory => (
            Ctx {
                store: open_store("memory:").await.expect("memory store"),
                url: None,
            },
            Box::new(|| Box::pin(async {})),
        ),
        Kind::Sqlite => {
            let path = std::env::temp_dir().join(format!(
                "render-engine-store-{}.db",
                ulid::Ulid::new().to_string().to_lowercase()
            ));
            let url = format!("sqlite://{}", path.display());
            let store = open_store(&url).await.expect("sqlite store");
            (
                Ctx {
                    store,
                    url: Some(url),
                },
                Box::new(move || {
                    Box::pin(async move {
                        for suffix in ["", "-wal", "-shm"] {
                            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                        }
                    })
                }),
            )
        }
        Kind::Postgres => match postgres_ctx().await {
            Some(pair) => pair,
            None => return,
        },
    };
    let outcome = tokio::spawn(case(ctx.clone())).await;
    drop(ctx);
    cleanup().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

type CleanupFut = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

#[cfg(feature = "postgres")]
async fn postgres_ctx() -> Option<(Ctx, Box<dyn FnOnce() -> CleanupFut + Send>)> {
    use crate::common::pg;
    let url = pg::postgres_url().await?;
    let store = open_store(&url).await.expect("postgres store");
    let schema_url = url.clone();
    let cleanup = move || -> CleanupFut {
        Box::pin(async move {
            pg::drop_schema(&schema_url).await;
        })
    };
    Some((
        Ctx {
            store,
            url: Some(url),
        },
        Box::new(cleanup),
    ))
}

#[cfg(not(feature = "postgres"))]
async fn postgres_ctx() -> Option<(Ctx, Box<dyn FnOnce() -> CleanupFut + Send>)> {
    None
}

// ---------------------------------------------------------------------------------------
// helpers

fn new_job(product: &str) -> NewRenderJob {
    NewRenderJob::new(
        product,
        "https://cdn.example.com/design.png",
        Preset::ChestLarge,
    )
}

async fn create(store: &Store, product: &str) -> StoredJob {
    store
        .create(new_job(product), CreateOptions::default())
        .await
        .expect("create")
        .job
}

async fn create_with(store: &Store, new: NewRenderJob, options: CreateOptions) -> StoredJob {
    store.create(new, options).await.expect("create").job
}

/// Creates `n` jobs with up to 8 concurrent creators.
async fn create_many(store: &Store, n: usize, product: &str) -> Vec<JobId> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        let next = next.clone();
        let product = product.to_string();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            while next.fetch_add(1, Ordering::SeqCst) < n {
                ids.push(create(&store, &product).await.job.id);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    assert_eq!(ids.len(), n);
    ids
}

fn finish(tag: &str) -> Vec<JobEvent> {
    vec![
        JobEvent::StartCompositing,
        JobEvent::StartRendering,
        JobEvent::Completed {
            rendered_image_url: format!("file:///out/{tag}.png"),
            animation_url: None,
        },
    ]
}

fn completed() -> JobEvent {
    JobEvent::Completed {
        rendered_image_url: "file:///out/done.png".into(),
        animation_url: None,
    }
}

fn fail(message: &str) -> JobEvent {
    JobEvent::Fail {
        code: "E_RENDER_FAILED".into(),
        message: message.into(),
    }
}

const LONG_LEASE: Duration = Duration::from_secs(60);

async fn claim_one(store: &Store, worker: &str, lease: Duration) -> StoredJob {
    let mut claimed = store.claim(worker, 1, lease).await.expect("claim");
    assert_eq!(claimed.len(), 1, "expected a claimable job");
    claimed.pop().unwrap()
}

async fn all_jobs(store: &Store, filter: JobFilter) -> Vec<StoredJob> {
    let mut filter = {
        let mut f = filter;
        f.limit = Some(200);
        f
    };
    let mut out = Vec::new();
    loop {
        let page = store.list(&filter).await.expect("list");
        out.extend(page.jobs);
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => return out,
        }
    }
}

fn code<T: std::fmt::Debug>(r: render_engine::Result<T>) -> &'static str {
    r.expect_err("expected an error").code()
}

// ---------------------------------------------------------------------------------------
// 1. exactly-once claiming

/// 1,000 jobs, 8 workers claiming in batches; every tenth job fails its first attempt and
/// is retried. Every (job, attempt) is claimed exactly once and every job completes.
async fn exactly_once_claiming(ctx: Ctx) {
    let store = ctx.store;
    let ids = create_many(&store, 1000, "prod_burn").await;
    let flaky: HashSet<JobId> = ids.iter().step_by(10).cloned().collect();
    let claims: Arc<Mutex<HashMap<(JobId, u32), usize>>> = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));
    let flaky = Arc::new(flaky);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..8 {
        let (store, claims, done, flaky) =
            (store.clone(), claims.clone(), done.clone(), flaky.clone());
        workers.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            while done.load(Ordering::SeqCst) < 1000 {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "burn-down stalled"
                );
                let batch = store.claim(&worker, 16, LONG_LEASE).await.expect("claim");
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
                let mut events = Vec::new();
                for job in &batch {
                    *claims
                        .lock()
                        .unwrap()
                        .entry((job.job.id.clone(), job.job.attempt))
                        .or_default() += 1;
                    assert_eq!(job.status(), JobStatus::Pending);
                    assert_eq!(job.lease.as_ref().unwrap().owner, worker);
                    if flaky.contains(&job.job.id) && job.job.attempt == 1 {
                        events.push(vec![JobEvent::StartCompositing, fail("flaky")]);
                    } else {
                        events.push(finish(job.job.id.as_str()));
                    }
                }
                let updates: Vec<JobUpdate<'_>> = batch
                    .iter()
                    .zip(&events)
                    .map(|(current, events)| JobUpdate { current, events })
                    .collect();
                for result in store.apply_many(&updates).await.expect("apply_many") {
                    let job = result.expect("a claimed job's update must succeed");
                    match job.status() {
                        JobStatus::Completed => {
                            assert!(job.lease.is_none(), "a finished job keeps no lease");
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        JobStatus::Failed => {
                            let retried = store.retry(job.id()).await.expect("retry");
                            assert_eq!(retried.job.attempt, 2);
                        }
                        other => panic!("unexpected status {other}"),
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let claims = claims.lock().unwrap().clone();
    assert_eq!(claims.len(), 1000 + 100, "one claim per job and attempt");
    assert!(claims.values().all(|&n| n == 1), "a job was claimed twice");
    let jobs = all_jobs(&store, {
        let mut f = JobFilter::default();
        f.product_id = Some("prod_burn".into());
        f
    })
    .await;
    assert_eq!(jobs.len(), 1000);
    for s in &jobs {
        assert_eq!(s.status(), JobStatus::Completed, "{}", s.job.id);
        s.job.check_invariants().unwrap();
        let expected_attempt = if flaky.contains(&s.job.id) { 2 } else { 1 };
        assert_eq!(s.job.attempt, expected_attempt);
        assert_eq!(s.errors.len(), expected_attempt as usize - 1);
    }
}

// ---------------------------------------------------------------------------------------
// 2. claim order and filters

async fn claim_order_and_filters(ctx: Ctx) {
    let store = ctx.store;
    let now = store.now().await.unwrap();
    let hour = chrono::TimeDelta::hours(1);
    let opts = |priority: i32, run_at: Option<chrono::DateTime<chrono::Utc>>| CreateOptions {
        priority,
        run_at,
        ..CreateOptions::default()
    };
    let a = create_with(&store, new_job("p"), opts(0, None)).await;
    let b = create_with(&store, new_job("p"), opts(0, None)).await;
    let c = create_with(&store, new_job("p"), opts(5, None)).await;
    let future = create_with(&store, new_job("p"), opts(9, Some(now + hour))).await;
    let deleted = create_with(&store, new_job("p"), opts(9, None)).await;
    store.delete(deleted.id()).await.unwrap();
    let low = create_with(&store, new_job("p"), opts(-1, None)).await;
    let early = create_with(&store, new_job("p"), opts(0, Some(now - hour))).await;
    let cancelled = create_with(&store, new_job("p"), opts(9, None)).await;
    store.cancel(cancelled.id()).await.unwrap();

    assert_eq!(code(store.claim("w", 0, LONG_LEASE).await), "E_VALIDATION");
    assert_eq!(code(store.claim("", 1, LONG_LEASE).await), "E_VALIDATION");

    let first = store.claim("w", 2, LONG_LEASE).await.unwrap();
    let ids: Vec<_> = first.iter().map(|s| s.job.id.clone()).collect();
    assert_eq!(
        ids,
        vec![c.job.id.clone(), early.job.id.clone()],
        "priority, then run_at"
    );
    let rest = store.claim("w", 10, LONG_LEASE).await.unwrap();
    let ids: Vec<_> = rest.iter().map(|s| s.job.id.clone()).collect();
    assert_eq!(
        ids,
        vec![a.job.id.clone(), b.job.id.clone(), low.job.id.clone()],
        "FIFO within a priority; never deleted, cancelled or future jobs"
    );
    assert!(store.claim("w", 10, LONG_LEASE).await.unwrap().is_empty());
    let still = store.get(future.id()).await.unwrap();
    assert!(still.lease.is_none());

    // A restored job is claimable again.
    store.restore(deleted.id()).await.unwrap();
    let again = store.claim("w", 10, LONG_LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].job.id, deleted.job.id);

    // Never more than N.
    create_many(&store, 7, "q").await;
    assert_eq!(store.claim("w", 3, LONG_LEASE).await.unwrap().len(), 3);
    assert_eq!(store.claim("w", 3, LONG_LEASE).await.unwrap().len(), 3);
    assert_eq!(store.claim("w", 3, LONG_LEASE).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------------------
// 3. crash recovery

const CRASH_JOBS: usize = 12;
const CRASH_CLAIM: u32 = 8;
const CRASH_STARTED: usize = 4;
const CRASH_LEASE: Duration = Duration::from_millis(1500);

/// What the crashing worker does before it is killed: claims jobs, starts some, and
/// keeps their leases alive by heartbeating.
async fn crashing_worker(store: Store, announce: impl FnOnce(Vec<StoredJob>)) {
    let claimed = store
        .claim("doomed", CRASH_CLAIM, CRASH_LEASE)
        .await
        .expect("claim");
    let mut held = Vec::new();
    for (i, job) in claimed.into_iter().enumerate() {
        if i < CRASH_STARTED {
            held.push(
                store
                    .apply(&job, &JobEvent::StartCompositing)
                    .await
                    .unwrap(),
            );
        } else {
            held.push(job);
        }
    }
    announce(held.clone());
    loop {
        for job in &held {
            store
                .heartbeat(job.id(), job.lease_token().unwrap(), CRASH_LEASE)
                .await
                .expect("heartbeat");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn crash_recovery(ctx: Ctx) {
    let store = ctx.store.clone();
    let ids = create_many(&store, CRASH_JOBS, "crash").await;
    let held: Vec<StoredJob> = match &ctx.url {
        // A real worker process, killed with SIGKILL.
        Some(url) => {
            let mut child = spawn_role("crash", url);
            let line = wait_for_line(&mut child, "HELD ");
            let held: Vec<String> = serde_json::from_str(&line).unwrap();
            child.kill().expect("SIGKILL the worker");
            child.wait().unwrap();
            let mut jobs = Vec::new();
            for id in held {
                jobs.push(store.get(&id.parse().unwrap()).await.unwrap());
            }
            jobs
        }
        // The memory store lives in this process: the worker is a task, aborted.
        None => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let task = tokio::spawn(crashing_worker(store.clone(), move |held| {
                let _ = tx.send(held);
            }));
            let held = rx.await.unwrap();
            task.abort();
            let _ = task.await;
            held
        }
    };
    assert_eq!(held.len(), CRASH_CLAIM as usize);
    let started: HashSet<JobId> = held
        .iter()
        .filter(|s| s.status() == JobStatus::Compositing)
        .map(|s| s.job.id.clone())
        .collect();
    assert_eq!(started.len(), CRASH_STARTED);
    // The leases are still valid: nothing to rescue yet.
    assert_eq!(store.rescue(100).await.unwrap().rescued(), 0);

    // After expiry the rescuer returns every held job.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rescued = HashSet::new();
    while rescued.len() < held.len() {
        assert!(Instant::now() < deadline, "jobs were not rescued");
        let report = store.rescue(100).await.unwrap();
        assert!(report.failed.is_empty() && report.cancelled.is_empty());
        rescued.extend(report.requeued);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for s in &held {
        let now = store.get(s.id()).await.unwrap();
        assert_eq!(now.status(), JobStatus::Pending);
        assert!(now.lease.is_none());
        if started.contains(s.id()) {
            assert_eq!(now.job.attempt, 2, "a started attempt is counted");
            assert_eq!(now.errors.len(), 1);
            assert_eq!(now.errors[0].code, "E_LEASE_LOST");
            assert_eq!(now.errors[0].attempt, 1);
            assert!(now.errors[0].message.contains("doomed"));
        } else {
            assert_eq!(now.job.attempt, 1, "an unstarted claim costs no attempt");
            assert!(now.errors.is_empty());
        }
    }

    // Another worker completes everything (after the 1 s backoff of the started ones).
    let mut completions: HashMap<JobId, usize> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while completions.len() < CRASH_JOBS {
        assert!(Instant::now() < deadline, "the survivor did not finish");
        let batch = store.claim("survivor", 5, LONG_LEASE).await.unwrap();
        for job in &batch {
            let done = store
                .apply_many(&[JobUpdate {
                    current: job,
                    events: &finish("survivor"),
                }])
                .await
                .unwrap()
                .pop()
                .unwrap()
                .unwrap();
            assert_eq!(done.status(), JobStatus::Completed);
            *completions.entry(done.job.id).or_default() += 1;
        }
        if batch.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert!(completions.values().all(|&n| n == 1), "completed twice");
    for id in &ids {
        let s = store.get(id).await.unwrap();
        assert_eq!(s.status(), JobStatus::Completed);
        assert_eq!(
            s.job.rendered_image_url.as_deref(),
            Some("file:///out/survivor.png")
        );
    }
    assert_eq!(store.rescue(100).await.unwrap().rescued(), 0);
}

// ---------------------------------------------------------------------------------------
// 4. heartbeats

async fn heartbeats(ctx: Ctx) {
    let store = ctx.store;
    let lease = Duration::from_millis(400);
    create(&store, "hb").await;
    create(&store, "hb").await;
    let claimed = store.claim("w", 2, lease).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let alive = store
        .apply(&claimed[0], &JobEvent::StartCompositing)
        .await
        .unwrap();
    let silent = store
        .apply(&claimed[1], &JobEvent::StartCompositing)
        .await
        .unwrap();
    let token = alive.lease_token().unwrap().to_string();

    let rescuer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut rescued = Vec::new();
            let stop = Instant::now() + Duration::from_millis(1700);
            while Instant::now() < stop {
                rescued.extend(store.rescue(100).await.unwrap().requeued);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            rescued
        })
    };
    // Four lease periods, heartbeating every 100 ms.
    let start = Instant::now();
    let mut last_expiry = None;
    while start.elapsed() < Duration::from_millis(1600) {
        let beat = store.heartbeat(alive.id(), &token, lease).await.unwrap();
        assert!(!beat.cancel_requested);
        if let Some(prev) = last_expiry {
            assert!(
                beat.lease_expires_at >= prev,
                "a heartbeat extends the lease"
            );
        }
        last_expiry = Some(beat.lease_expires_at);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rescued = rescuer.await.unwrap();
    assert_eq!(
        rescued,
        vec![silent.job.id.clone()],
        "only the silent job is rescued"
    );
    let after = store.get(alive.id()).await.unwrap();
    assert_eq!(after.status(), JobStatus::Compositing);
    assert_eq!(after.lease_token(), Some(token.as_str()));
    let gone = store.get(silent.id()).await.unwrap();
    assert_eq!(gone.status(), JobStatus::Pending);
    assert_eq!(gone.job.attempt, 2);

    let mut events = finish("alive");
    events.remove(0);
    let done = store
        .apply_many(&[JobUpdate {
            current: &after,
            events: &events,
        }])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(done.status(), JobStatus::Completed);
    assert_eq!(
        code(store.heartbeat(alive.id(), &token, lease).await),
        "E_LEASE_LOST",
        "a finished job has no lease to extend"
    );
}

// ---------------------------------------------------------------------------------------
// 5. fencing

async fn fencing(ctx: Ctx) {
    let store = ctx.store;
    let lease = Duration::from_millis(300);
    let job = create(&store, "fence").await;
    let first = claim_one(&store, "w1", lease).await;
    let first = store
        .apply(&first, &JobEvent::StartCompositing)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = store.rescue(10).await.unwrap();
    assert_eq!(report.requeued, vec![job.job.id.clone()]);
    // Wait out the backoff (at most 10 % over attempt 1's), then another worker claims it.
    tokio::time::sleep(backoff_delay(1).mul_f64(1.1) + Duration::from_millis(100)).await;
    let second = claim_one(&store, "w2", LONG_LEASE).await;
    assert_ne!(second.lease_token(), first.lease_token());
    let second = store
        .apply(&second, &JobEvent::StartCompositing)
        .await
        .unwrap();

    // The first worker is fenced off: typed errors, no rows changed.
    let token1 = first.lease_token().unwrap();
    assert_eq!(
        code(store.heartbeat(first.id(), token1, lease).await),
        "E_LEASE_LOST"
    );
    let err = store
        .apply(&first, &JobEvent::StartRendering)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_LEASE_LOST", "{err}");
    assert!(err.to_string().contains("stop working"), "{err}");
    assert_eq!(
        code(store.release(first.id(), token1, "shutting down").await),
        "E_LEASE_LOST"
    );
    let mut stale = first.clone();
    stale.version = second.version; // even with a current version, the token fences
    assert_eq!(
        code(store.apply(&stale, &JobEvent::StartRendering).await),
        "E_LEASE_LOST"
    );

    // The new owner's result stands.
    let mut events = finish("w2");
    events.remove(0);
    let done = store
        .apply_many(&[JobUpdate {
            current: &second,
            events: &events,
        }])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(done.status(), JobStatus::Completed);
    let now = store.get(job.id()).await.unwrap();
    assert_eq!(
        now.job.rendered_image_url.as_deref(),
        Some("file:///out/w2.png")
    );
    assert_eq!(now.job.attempt, 2);
}

// ---------------------------------------------------------------------------------------
// 6. rescuer races

async fn rescuer_races(ctx: Ctx) {
    let store = ctx.store;
    let lease = Duration::from_millis(200);
    for _ in 0..3 {
        create(&store, "race").await;
    }
    let claimed = store.claim("w", 3, lease).await.unwrap();
    let mut started = Vec::new();
    for job in &claimed {
        started.push(store.apply(job, &JobEvent::StartCompositing).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The rescuer reads all three as expired...
    let plan = store.plan_rescue(100).await.unwrap();
    let mut planned: Vec<_> = plan.actions();
    planned.sort();
    let mut expect: Vec<_> = started
        .iter()
        .map(|s| (s.job.id.clone(), RescueAction::Requeue))
        .collect();
    expect.sort();
    assert_eq!(planned, expect);

    // ...meanwhile job 0 completes (its lease expired but nobody took it yet) and job 1
    // heartbeats.
    let mut events = finish("late");
    events.remove(0);
    let done = store
        .apply_many(&[JobUpdate {
            current: &started[0],
            events: &events,
        }])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(done.status(), JobStatus::Completed);
    store
        .heartbeat(
            started[1].id(),
            started[1].lease_token().unwrap(),
            LONG_LEASE,
        )
        .await
        .unwrap();

    // A second rescuer with the same reading runs first and takes job 2.
    let rival = store.plan_rescue(100).await.unwrap();
    let rival_report = store.apply_rescue(rival).await.unwrap();
    assert_eq!(rival_report.requeued, vec![started[2].job.id.clone()]);

    let report = store.apply_rescue(plan).await.unwrap();
    assert_eq!(report.rescued(), 0, "{report:?}");
    let mut skipped = report.skipped.clone();
    skipped.sort();
    let mut all: Vec<_> = started.iter().map(|s| s.job.id.clone()).collect();
    all.sort();
    assert_eq!(skipped, all);

    let j0 = store.get(started[0].id()).await.unwrap();
    assert_eq!(
        j0.status(),
        JobStatus::Completed,
        "completion was not overwritten"
    );
    assert!(j0.errors.is_empty());
    let j1 = store.get(started[1].id()).await.unwrap();
    assert_eq!(j1.status(), JobStatus::Compositing, "heartbeat job kept");
    assert_eq!(j1.lease_token(), started[1].lease_token());
    let j2 = store.get(started[2].id()).await.unwrap();
    assert_eq!(j2.status(), JobStatus::Pending);
    assert_eq!(j2.job.attempt, 2, "rescued once, not twice");
    assert_eq!(j2.errors.len(), 1);
}

// ---------------------------------------------------------------------------------------
// 7. optimistic concurrency

async fn optimistic_concurrency(ctx: Ctx) {
    let store = ctx.store;
    for round in 0..5 {
        let job = create(&store, "occ").await;
        let mut racers = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            let job = job.clone();
            let event = if i % 2 == 0 {
                JobEvent::Cancel
            } else {
                fail(&format!("racer {i}"))
            };
            racers.push(tokio::spawn(async move { store.apply(&job, &event).await }));
        }
        let mut wins = 0;
        for r in racers {
            match r.await.unwrap() {
                Ok(_) => wins += 1,
                Err(e) => assert_eq!(e.code(), "E_CONFLICT", "round {round}: {e}"),
            }
        }
        assert_eq!(wins, 1, "exactly one racer wins");
        let now = store.get(job.id()).await.unwrap();
        assert_eq!(now.version, job.version + 1);
        assert!(now.status().is_terminal());
        assert!(now.errors.len() <= 1);
    }
    // A stale copy is refused with a message that says what to do.
    let job = create(&store, "occ").await;
    store
        .apply(&job, &JobEvent::StartCompositing)
        .await
        .unwrap();
    let err = store.apply(&job, &JobEvent::Cancel).await.unwrap_err();
    assert_eq!(err.code(), "E_CONFLICT");
    assert!(err.to_string().contains("read it again"), "{err}");
    // The state machine still rules: an invalid move is refused, not written.
    let current = store.get(job.id()).await.unwrap();
    assert_eq!(
        code(store.apply(&current, &completed()).await),
        "E_INVALID_TRANSITION"
    );
    assert_eq!(store.get(job.id()).await.unwrap().version, current.version);

    // A batch reports each job's own outcome; the failures change nothing.
    let fresh = create(&store, "occ").await;
    let other = create(&store, "occ").await;
    let stale = other.clone();
    store.cancel(other.id()).await.unwrap();
    let start = [JobEvent::StartCompositing];
    let bad = [completed()]; // compositing -> completed skips rendering
    let results = store
        .apply_many(&[
            JobUpdate {
                current: &fresh,
                events: &start,
            },
            JobUpdate {
                current: &stale,
                events: &start,
            },
            JobUpdate {
                current: &current,
                events: &bad,
            },
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[0].as_ref().unwrap().status(),
        JobStatus::Compositing
    );
    assert_eq!(results[1].as_ref().unwrap_err().code(), "E_CONFLICT");
    assert_eq!(
        results[2].as_ref().unwrap_err().code(),
        "E_INVALID_TRANSITION"
    );
    assert_eq!(
        store.get(other.id()).await.unwrap().status(),
        JobStatus::Cancelled
    );
}

// ---------------------------------------------------------------------------------------
// 8. retry and backoff

async fn retry_backoff(ctx: Ctx) {
    let store = ctx.store;
    let job = create_with(
        &store,
        NewRenderJob {
            max_attempts: Some(10),
            ..new_job("retry")
        },
        CreateOptions::default(),
    )
    .await;
    assert_eq!(
        code(store.retry(job.id()).await),
        "E_INVALID_TRANSITION",
        "only failed jobs retry"
    );
    let mut current = job;
    let mut last_delay = Duration::ZERO;
    for attempt in 1..=10u32 {
        current = store
            .apply(&current, &fail(&format!("try {attempt}")))
            .await
            .unwrap();
        assert_eq!(current.status(), JobStatus::Failed);
        assert_eq!(current.errors.len(), attempt as usize);
        assert_eq!(current.errors.last().unwrap().attempt, attempt);
        let before = store.now().await.unwrap();
        let retried = store.retry(current.id()).await;
        if attempt == 10 {
            let err = retried.unwrap_err();
            assert_eq!(err.code(), "E_INVALID_TRANSITION");
            assert!(err.to_string().contains("attempts are spent"), "{err}");
            break;
        }
        current = retried.unwrap();
        let after = store.now().await.unwrap();
        assert_eq!(current.status(), JobStatus::Pending);
        assert_eq!(current.job.attempt, attempt + 1);
        assert!(current.job.error_message.is_none());
        // The job's own jittered wait: within 10 % of the schedule, exact for this job.
        let expected = jittered_backoff(attempt, current.id());
        let nominal = backoff_delay(attempt).as_secs_f64();
        assert!((expected.as_secs_f64() - nominal).abs() <= nominal * 0.1 + 1e-9);
        let slack = chrono::TimeDelta::milliseconds(5);
        let lo = before + chrono::TimeDelta::from_std(expected).unwrap() - slack;
        let hi = after + chrono::TimeDelta::from_std(expected).unwrap() + slack;
        assert!(
            current.run_at >= lo && current.run_at <= hi,
            "attempt {attempt}: run_at {} not in [{lo}, {hi}]",
            current.run_at
        );
        assert!(backoff_delay(attempt) >= last_delay && expected <= MAX_BACKOFF.mul_f64(1.1));
        last_delay = backoff_delay(attempt);
        // Backing off: not claimable yet.
        assert!(store.claim("w", 10, LONG_LEASE).await.unwrap().is_empty());
        if attempt == 1 {
            tokio::time::sleep(expected + Duration::from_millis(50)).await;
            let claimed = claim_one(&store, "w", LONG_LEASE).await;
            assert_eq!(claimed.job.attempt, 2);
            current = store
                .release(claimed.id(), claimed.lease_token().unwrap(), "test")
                .await
                .unwrap();
            assert_eq!(
                current.job.attempt, 2,
                "releasing an unstarted job costs nothing"
            );
        }
    }
    assert_eq!(last_delay, MAX_BACKOFF, "the backoff reaches its cap");
    let history = store.get(current.id()).await.unwrap().errors;
    let attempts: Vec<u32> = history.iter().map(|e| e.attempt).collect();
    assert_eq!(
        attempts,
        (1..=10).collect::<Vec<_>>(),
        "every attempt's error is kept"
    );
}

// ---------------------------------------------------------------------------------------
// 9. idempotent create

async fn idempotent_create(ctx: Ctx) {
    let store = ctx.store;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create(
                    NewRenderJob {
                        metadata: Some(serde_json::json!({ "caller": i })),
                        ..new_job("idem")
                    },
                    CreateOptions::with_key("order-42"),
                )
                .await
                .unwrap()
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        ids.insert(r.job.job.id.clone());
        created += usize::from(r.created);
        assert_eq!(r.job.idempotency_key.as_deref(), Some("order-42"));
    }
    assert_eq!(ids.len(), 1, "every caller gets the one job");
    assert_eq!(created, 1, "exactly one caller created it");
    let listed = all_jobs(&store, {
        let mut f = JobFilter::default();
        f.product_id = Some("idem".into());
        f
    })
    .await;
    assert_eq!(listed.len(), 1);

    let other = store
        .create(new_job("idem"), CreateOptions::with_key("order-43"))
        .await
        .unwrap();
    assert!(other.created);
    assert!(!ids.contains(&other.job.job.id));

    // A taken caller id, bad input and a bad key are refused with what to fix.
    let id = other.job.job.id.to_string();
    let dup = store
        .create(
            NewRenderJob {
                id: Some(id),
                ..new_job("idem")
            },
            CreateOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(dup.code(), "E_CONFLICT");
    assert!(dup.to_string().contains("already exists"), "{dup}");
    let bad = store
        .create(
            NewRenderJob::new("", "ftp://x/y.png", Preset::BackSmall),
            CreateOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(bad.fields().len(), 2);
    assert_eq!(
        code(
            store
                .create(new_job("idem"), CreateOptions::with_key(""))
                .await
        ),
        "E_VALIDATION"
    );
}

// ---------------------------------------------------------------------------------------
// 10. cancel

async fn cancel(ctx: Ctx) {
    let store = ctx.store;
    // Pending: cancelled at once, never claimed.
    let pending = create(&store, "cancel").await;
    let c = store.cancel(pending.id()).await.unwrap();
    assert_eq!(c.status(), JobStatus::Cancelled);
    assert!(c.job.completed_at.is_some());
    assert_eq!(store.cancel(pending.id()).await.unwrap().version, c.version);
    assert!(store.claim("w", 10, LONG_LEASE).await.unwrap().is_empty());

    // Claimed but not started: cancelled at once; the worker is fenced off.
    create(&store, "cancel").await;
    let claimed = claim_one(&store, "w", LONG_LEASE).await;
    let c = store.cancel(claimed.id()).await.unwrap();
    assert_eq!(c.status(), JobStatus::Cancelled);
    assert!(c.lease.is_none());
    assert_eq!(
        code(store.apply(&claimed, &JobEvent::StartCompositing).await),
        "E_LEASE_LOST"
    );

    // In flight: flagged, seen at the next heartbeat, the worker stops.
    create(&store, "cancel").await;
    let running = claim_one(&store, "w", LONG_LEASE).await;
    let running = store
        .apply(&running, &JobEvent::StartCompositing)
        .await
        .unwrap();
    let flagged = store.cancel(running.id()).await.unwrap();
    assert_eq!(flagged.status(), JobStatus::Compositing);
    assert!(flagged.cancel_requested_at.is_some());
    assert_eq!(
        flagged.version, running.version,
        "a flag is not a change of state"
    );
    let beat = store
        .heartbeat(running.id(), running.lease_token().unwrap(), LONG_LEASE)
        .await
        .unwrap();
    assert!(beat.cancel_requested);
    let stopped = store.apply(&running, &JobEvent::Cancel).await.unwrap();
    assert_eq!(stopped.status(), JobStatus::Cancelled);
    assert!(stopped.lease.is_none());

    // In flight and the worker dies: the rescuer cancels, never resurrects.
    create(&store, "cancel").await;
    let lost = claim_one(&store, "w", Duration::from_millis(200)).await;
    let lost = store
        .apply(&lost, &JobEvent::StartCompositing)
        .await
        .unwrap();
    store.cancel(lost.id()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = store.rescue(10).await.unwrap();
    assert_eq!(report.cancelled, vec![lost.job.id.clone()]);
    assert!(report.requeued.is_empty());
    let gone = store.get(lost.id()).await.unwrap();
    assert_eq!(gone.status(), JobStatus::Cancelled);
    assert_eq!(gone.job.attempt, 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(store.rescue(10).await.unwrap().rescued(), 0);
    assert!(store.claim("w", 10, LONG_LEASE).await.unwrap().is_empty());

    // A finished job cannot be cancelled.
    create(&store, "cancel").await;
    let job = claim_one(&store, "w", LONG_LEASE).await;
    store
        .apply_many(&[JobUpdate {
            current: &job,
            events: &finish("c"),
        }])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert_eq!(code(store.cancel(job.id()).await), "E_INVALID_TRANSITION");
}

// ---------------------------------------------------------------------------------------
// 11. two processes share one store

const SHARED_JOBS: usize = 1000;

async fn two_processes(ctx: Ctx) {
    let Some(url) = ctx.url.clone() else {
        return; // the memory store cannot be shared between processes
    };
    let store = ctx.store;
    let ids = create_many(&store, SHARED_JOBS, "shared").await;
    let mut children: Vec<Child> = (0..2).map(|_| spawn_role("burn", &url)).collect();
    // Every output line, tagged with its process; both start claiming together.
    let (tx, rx) = std::sync::mpsc::channel::<(usize, String)>();
    for (i, child) in children.iter_mut().enumerate() {
        let out = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((i, line));
            }
        });
    }
    drop(tx);
    let mut claimed: HashMap<String, usize> = HashMap::new();
    let mut per_process = [0usize; 2];
    let mut ready = 0;
    let mut go_sent = false;
    while let Ok((i, line)) = rx.recv_timeout(Duration::from_secs(60)) {
        assert!(!line.contains("database is locked"), "{line}");
        assert!(!line.contains("ERROR "), "worker process failed: {line}");
        if after_marker(&line, "READY").is_some() {
            ready += 1;
        }
        if ready == 2 && !go_sent {
            use std::io::Write;
            for child in &mut children {
                let stdin = child.stdin.as_mut().unwrap();
                stdin.write_all(b"GO\n").unwrap();
                stdin.flush().unwrap();
            }
            go_sent = true;
        }
        if let Some(id) = after_marker(&line, "CLAIMED ") {
            *claimed.entry(id.to_string()).or_default() += 1;
            per_process[i] += 1;
        }
    }
    assert!(go_sent, "the worker processes did not get ready");
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "worker process exited with {status}");
    }
    eprintln!("jobs claimed per process: {per_process:?}");
    assert_eq!(claimed.len(), SHARED_JOBS, "every job claimed");
    assert!(claimed.values().all(|&n| n == 1), "a job was claimed twice");
    for id in &ids {
        assert_eq!(store.get(id).await.unwrap().status(), JobStatus::Completed);
    }
}

/// The burn-down worker process of case 11: 4 workers claiming in batches until the
/// queue is empty; prints each claimed id.
async fn burn_role(store: Store) {
    println!("READY");
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
    })
    .await
    .unwrap();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let store = store.clone();
        let out = out.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("{}-{w}", std::process::id());
            loop {
                let batch = match store.claim(&worker, 10, LONG_LEASE).await {
                    Ok(b) => b,
                    Err(e) => {
                        println!("ERROR claim: {e}");
                        std::process::exit(1);
                    }
                };
                if batch.is_empty() {
                    return;
                }
                {
                    use std::io::Write;
                    let mut out = out.lock().unwrap();
                    for job in &batch {
                        writeln!(out, "CLAIMED {}", job.job.id).unwrap();
                    }
                }
                let events: Vec<Vec<JobEvent>> =
                    batch.iter().map(|j| finish(j.job.id.as_str())).collect();
                let updates: Vec<JobUpdate<'_>> = batch
                    .iter()
                    .zip(&events)
                    .map(|(current, events)| JobUpdate { current, events })
                    .collect();
                match store.apply_many(&updates).await {
                    Ok(results) => {
                        for r in results {
                            if let Err(e) = r {
                                println!("ERROR apply: {e}");
                                std::process::exit(1);
                            }
                        }
                    }
                    Err(e) => {
                        println!("ERROR apply_many: {e}");
                        std::process::exit(1);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// the rest of the interface

async fn round_trip_and_soft_delete(ctx: Ctx) {
    let store = ctx.store;
    let new = NewRenderJob {
        variant_id: Some("variant_1".into()),
        template_id: Some("classic-tee".into()),
        metadata: Some(serde_json::json!({"source": "test", "n": [1, 2, {"x": null}]})),
        max_attempts: Some(5),
        ..new_job("rt")
    };
    let created = create_with(&store, new, CreateOptions::default()).await;
    let got = store.get(created.id()).await.unwrap();
    assert_eq!(got, created, "a job reads back exactly as written");
    assert_eq!(got.version, 1);
    assert!(got.errors.is_empty());
    assert_eq!(
        code(store.get(&"rjob_missing".parse().unwrap()).await),
        "E_NOT_FOUND"
    );

    let deleted = store.delete(created.id()).await.unwrap();
    assert!(deleted.job.deleted_at.is_some());
    assert_eq!(code(store.get(created.id()).await), "E_NOT_FOUND");
    let again = store.delete(created.id()).await.unwrap();
    assert_eq!(
        again.job.deleted_at, deleted.job.deleted_at,
        "delete is idempotent"
    );
    assert_eq!(
        store
            .get_including_deleted(created.id())
            .await
            .unwrap()
            .job
            .deleted_at,
        deleted.job.deleted_at
    );
    let restored = store.restore(created.id()).await.unwrap();
    assert!(restored.job.deleted_at.is_none());
    assert_eq!(store.get(created.id()).await.unwrap(), restored);

    // Refused while a worker holds it or it is in flight.
    let held = claim_one(&store, "w", LONG_LEASE).await;
    assert_eq!(
        held.job, restored.job,
        "a claim changes only the queue columns"
    );
    assert_eq!(held.version, restored.version + 1);
    let err = store.delete(held.id()).await.unwrap_err();
    assert_eq!(err.code(), "E_CONFLICT");
    assert!(err.to_string().contains("cancel it"), "{err}");
    let running = store
        .apply(&held, &JobEvent::StartCompositing)
        .await
        .unwrap();
    assert_eq!(code(store.delete(running.id()).await), "E_CONFLICT");
    let done = store
        .apply_many(&[JobUpdate {
            current: &running,
            events: &[JobEvent::StartRendering, completed()],
        }])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    assert!(store
        .delete(done.id())
        .await
        .unwrap()
        .job
        .deleted_at
        .is_some());
}

async fn list_filters_and_pages(ctx: Ctx) {
    let store = ctx.store;
    let mut all = Vec::new();
    for i in 0..23 {
        let new = NewRenderJob {
            variant_id: Some(format!("v{}", i % 3)),
            ..new_job(if i % 2 == 0 { "even" } else { "odd" })
        };
        all.push(create_with(&store, new, CreateOptions::default()).await);
    }
    // (SQLite's clock has millisecond precision: keep the cut clear of both sides.)
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cut = store.now().await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let late = create(&store, "even").await;
    all.push(late.clone());
    store.cancel(all[0].id()).await.unwrap();
    store.delete(all[1].id()).await.unwrap();

    // Pages of 5, newest first, with a job created mid-way that must not shift pages.
    let mut filter = {
        let mut f = JobFilter::default();
        f.limit = Some(5);
        f
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = store.list(&filter).await.unwrap();
        assert!(page.jobs.len() <= 5);
        seen.extend(page.jobs.iter().map(|s| s.job.id.clone()));
        pages += 1;
        if pages == 2 {
            create(&store, "newcomer").await;
        }
        match page.next_cursor {
            Some(c) => filter.cursor = Some(c),
            None => break,
        }
    }
    let mut expected: Vec<_> = all
        .iter()
        .filter(|s| s.job.id != all[1].job.id)
        .map(|s| (s.job.created_at, s.job.id.clone()))
        .collect();
    expected.sort();
    expected.reverse();
    let expected: Vec<_> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen, expected, "newest first, no gaps, no repeats");

    let count = |f: JobFilter| {
        let store = store.clone();
        async move { all_jobs(&store, f).await.len() }
    };
    let even = || {
        let mut f = JobFilter::default();
        f.product_id = Some("even".into());
        f
    };
    assert_eq!(count(even()).await, 13);
    assert_eq!(
        count({
            let mut f = JobFilter::default();
            f.include_deleted = true;
            f.product_id = Some("odd".into());
            f
        })
        .await,
        11
    );
    assert_eq!(
        count({
            let mut f = JobFilter::default();
            f.product_id = Some("odd".into());
            f
        })
        .await,
        10
    );
    assert_eq!(
        count({
            let mut f = even();
            f.variant_id = Some("v0".into());
            f
        })
        .await,
        4
    );
    assert_eq!(
        count({
            let mut f = JobFilter::default();
            f.statuses = vec![JobStatus::Cancelled, JobStatus::Completed];
            f
        })
        .await,
        1
    );
    assert_eq!(
        count({
            let mut f = even();
            f.statuses = vec![JobStatus::Pending];
            f
        })
        .await,
        12
    );
    let after = all_jobs(&store, {
        let mut f = JobFilter::default();
        f.created_after = Some(cut);
        f.product_id = Some("even".into());
        f
    })
    .await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].job.id, late.job.id);
    assert_eq!(
        count({
            let mut f = even();
            f.created_before = Some(cut);
            f
        })
        .await,
        12
    );

    let bad = store
        .list(&{
            let mut f = JobFilter::default();
            f.cursor = Some("not-a-cursor".into());
            f.limit = Some(0);
            f
        })
        .await
        .unwrap_err();
    let fields: Vec<_> = bad.fields().iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["limit", "cursor"]);
}

/// `completed_after`: jobs that finished (completed, failed, cancelled) at or after a
/// time; running and pending jobs never match; combined with the other conditions.
async fn completed_after(ctx: Ctx) {
    let store = ctx.store;
    let early = create(&store, "p").await;
    let early = store.apply(&early, &JobEvent::Cancel).await.unwrap();
    // (SQLite's clock has millisecond precision: keep the cut clear of both sides.)
    tokio::time::sleep(Duration::from_millis(5)).await;
    let cut = store.now().await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut done = create(&store, "p").await;
    for event in finish("late") {
        done = store.apply(&done, &event).await.unwrap();
    }
    let mut failed = create(&store, "q").await;
    failed = store
        .apply(&failed, &JobEvent::StartCompositing)
        .await
        .unwrap();
    failed = store.apply(&failed, &fail("boom")).await.unwrap();
    let mut running = create(&store, "p").await;
    running = store
        .apply(&running, &JobEvent::StartCompositing)
        .await
        .unwrap();
    let _pending = create(&store, "p").await;
    assert!(early.job.completed_at.unwrap() < cut);
    assert!(done.job.completed_at.unwrap() >= cut);
    assert_eq!(running.job.completed_at, None);

    let ids = |jobs: Vec<StoredJob>| {
        let mut ids: Vec<JobId> = jobs.into_iter().map(|j| j.job.id).collect();
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        ids
    };
    let sorted = |mut v: Vec<JobId>| {
        v.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        v
    };
    let after = all_jobs(&store, JobFilter::new().with_completed_after(cut)).await;
    assert_eq!(
        ids(after),
        sorted(vec![done.job.id.clone(), failed.job.id.clone()])
    );
    // Inclusive: a job completed exactly at the bound matches.
    let exact = all_jobs(
        &store,
        JobFilter::new().with_completed_after(done.job.completed_at.unwrap()),
    )
    .await;
    assert!(exact.iter().any(|j| j.job.id == done.job.id));
    // With other conditions.
    let of_p = all_jobs(
        &store,
        JobFilter::new()
            .with_completed_after(cut)
            .with_product("p")
            .with_statuses([JobStatus::Completed]),
    )
    .await;
    assert_eq!(ids(of_p), vec![done.job.id.clone()]);
    // Every finished job from before the first one.
    let all_done = all_jobs(
        &store,
        JobFilter::new().with_completed_after(early.job.completed_at.unwrap()),
    )
    .await;
    assert_eq!(all_done.len(), 3);
    // Nothing finished in the future.
    let later = cut + chrono::Duration::hours(1);
    assert!(
        all_jobs(&store, JobFilter::new().with_completed_after(later))
            .await
            .is_empty()
    );
}

async fn prune(ctx: Ctx) {
    let store = ctx.store;
    let ids = create_many(&store, 9, "prune").await;
    // 0..3 completed, 3..5 cancelled, 5..7 deleted, 7 held by a worker, 8 pending
    for id in &ids[0..3] {
        let job = store.get(id).await.unwrap();
        let events = finish("p");
        store
            .apply_many(&[JobUpdate {
                current: &job,
                events: &events,
            }])
            .await
            .unwrap()
            .pop()
            .unwrap()
            .unwrap();
    }
    for id in &ids[3..5] {
        store.cancel(id).await.unwrap();
    }
    for id in &ids[5..7] {
        store.delete(id).await.unwrap();
    }
    let held = store.claim("w", 10, LONG_LEASE).await.unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!(store.prune(Duration::from_secs(3600), 2).await.unwrap(), 0);
    assert_eq!(code(store.prune(Duration::ZERO, 0).await), "E_VALIDATION");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        store.prune(Duration::ZERO, 2).await.unwrap(),
        7,
        "in batches of 2"
    );
    for id in &ids[0..7] {
        assert_eq!(code(store.get_including_deleted(id).await), "E_NOT_FOUND");
    }
    for s in &held {
        assert!(store.get(s.id()).await.is_ok(), "unfinished jobs are kept");
    }
}

// ---------------------------------------------------------------------------------------
// worker processes

fn spawn_role(role: &str, url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "store_conformance::worker_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE_VAR, role)
        .env(URL_VAR, url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start a worker process")
}

/// The text after `marker` in a line of a worker's output. The marker need not start the
/// line: the test harness may have printed `test worker_process ... ` before it.
fn after_marker<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

fn wait_for_line(child: &mut Child, prefix: &str) -> String {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let prefix = prefix.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(rest) = after_marker(&line, &prefix) {
                let _ = tx.send(rest.to_string());
                return;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the worker process did not report")
}

/// The entry point of the worker processes; a no-op in a normal test run.
#[test]
fn worker_process() {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return;
    };
    let url = std::env::var(URL_VAR).expect("store URL");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = open_store(&url).await.expect("open the store");
        match role.as_str() {
            "crash" => {
                crashing_worker(store, |held| {
                    let ids: Vec<String> = held.iter().map(|s| s.job.id.to_string()).collect();
                    println!("HELD {}", serde_json::to_string(&ids).unwrap());
                })
                .await
            }
            "burn" => burn_role(store).await,
            other => panic!("unknown role {other}"),
        }
    });
}

// ---------------------------------------------------------------------------------------
// 15. progress

fn progress(attempt: u32, stage: &str, percent: u8) -> JobProgress {
    JobProgress {
        attempt,
        stage: stage.into(),
        percent,
        message: format!("{stage} at {percent}%"),
        eta_seconds: Some(3.5),
        // Whole microseconds: what every store keeps.
        updated_at: chrono::DateTime::from_timestamp_micros(chrono::Utc::now().timestamp_micros())
            .unwrap(),
    }
}

async fn progress_records(ctx: Ctx) {
    let store = ctx.store;
    let job = create(&store, "progress").await;
    let id = job.id().clone();
    let record = |worker: &'static str, p: JobProgress| {
        let (store, id) = (store.clone(), id.clone());
        async move { store.record_progress(&id, worker, &p).await.unwrap() }
    };
    // Not running yet: nothing is recorded.
    assert!(!record("w1", progress(1, "claimed", 0)).await);
    let claimed = claim_one(&store, "w1", LONG_LEASE).await;
    assert!(
        !record("w1", progress(1, "claimed", 0)).await,
        "claimed, not started"
    );
    let running = store
        .apply(&claimed, &JobEvent::StartCompositing)
        .await
        .unwrap();
    // Only the lease owner, for the current attempt.
    assert!(!record("w2", progress(1, "compositing", 10)).await);
    assert!(!record("w1", progress(2, "compositing", 10)).await);
    let forty = progress(1, "rendering", 40);
    assert!(record("w1", forty.clone()).await);

    // Readable by get and list, and not a state change: version and updated_at stay.
    let read = store.get(&id).await.unwrap();
    assert_eq!(read.progress.as_ref(), Some(&forty));
    assert_eq!(read.version, running.version);
    assert_eq!(read.job.updated_at, running.job.updated_at);
    let listed = all_jobs(&store, JobFilter::new().with_product("progress")).await;
    assert_eq!(listed[0].progress.as_ref(), Some(&forty));
    // The job's JSON carries it.
    let json = serde_json::to_value(&read).unwrap();
    assert_eq!(json["progress"]["percent"], 40);
    assert_eq!(json["progress"]["stage"], "rendering");

    // A state change that keeps the job running keeps the progress (and the worker's
    // copy of the job, read before the progress write, is still current).
    let rendering = store
        .apply(&running, &JobEvent::StartRendering)
        .await
        .unwrap();
    assert_eq!(
        store.get(&id).await.unwrap().progress.as_ref(),
        Some(&forty)
    );

    // The attempt fails and is retried: no progress; the error stays in the history.
    let events = [fail("the renderer crashed"), JobEvent::Retry];
    store
        .apply_many(&[JobUpdate {
            current: &rendering,
            events: &events,
        }])
        .await
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    let retried = store.get(&id).await.unwrap();
    assert_eq!(retried.status(), JobStatus::Pending);
    assert_eq!(retried.progress, None);
    assert_eq!(retried.errors.len(), 1);
    assert_eq!(retried.errors[0].attempt, 1);
    assert_eq!(retried.errors[0].code, "E_RENDER_FAILED");
    assert_eq!(
        serde_json::to_value(&retried).unwrap()["progress"],
        serde_json::Value::Null
    );
    // A late write for the spent attempt is refused.
    assert!(!record("w1", progress(1, "rendering", 90)).await);
    assert_eq!(store.get(&id).await.unwrap().progress, None);
}

// ---------------------------------------------------------------------------------------
// the suite, once per store

macro_rules! suite {
    ($store:ident, $kind:expr) => {
        mod $store {
            use super::*;
            suite!(@cases $kind;
                exactly_once_claiming, claim_order_and_filters, crash_recovery, heartbeats,
                fencing, rescuer_races, optimistic_concurrency, retry_backoff,
                idempotent_create, cancel, two_processes, round_trip_and_soft_delete,
                list_filters_and_pages, completed_after, prune, progress_records);
        }
    };
    (@cases $kind:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                run($kind, super::$case).await;
            }
        )*
    };
}

suite!(memory, Kind::Memory);
#[cfg(feature = "sqlite")]
suite!(sqlite, Kind::Sqlite);
#[cfg(feature = "postgres")]
suite!(postgres, Kind::Postgres);
