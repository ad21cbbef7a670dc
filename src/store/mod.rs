//! The job store: where render jobs live, and the queue that workers share.
//!
//! One async trait, [`JobStore`], three implementations:
//!
//! - [`MemoryStore`] (always built): for tests and one-shot use; `memory:`.
//! - `SqliteStore` (cargo feature `sqlite`, on by default): the embedded default;
//!   `sqlite://path.db` (created if missing). WAL mode, a busy timeout, and every write in
//!   a `BEGIN IMMEDIATE` transaction, so several processes can share one file.
//! - `PostgresStore` (cargo feature `postgres`): many worker processes on many machines
//!   share one queue; `postgres://user@host/db` (add `?schema=name` to keep the tables
//!   in a schema of their own).
//!
//! Open one with [`open_store`]; it runs the embedded migrations. A deployment that
//! migrates as a step of its own (a release job, `render-engine migrate`) runs
//! [`migrate_store`] there and opens with [`open_store_with`] and
//! [`MigrationMode::RequireCurrent`] everywhere else: the open then only checks that the
//! schema is current and fails with `E_STORE`, saying how to migrate, when it is behind.
//!
//! # The queue
//!
//! Beside the [`RenderJob`] each row carries queue columns, shown as a [`StoredJob`]:
//! `priority`, `run_at`, `version`, the lease (`lease_owner`, `lease_token`,
//! `lease_expires_at`, `heartbeat_at`), `cancel_requested_at`, `idempotency_key` and
//! the per-attempt error history.
//!
//! - **Claim** ([`JobStore::claim`]) leases up to N `pending` jobs whose `run_at` has come,
//!   highest `priority` first, then oldest `run_at`, then creation order. The job stays
//!   `pending`; the worker then applies [`JobEvent::StartCompositing`] with
//!   [`JobStore::apply`]. Lease times come from the database clock.
//! - **Fencing**: every write names the `version` it read; a job that holds a lease is
//!   also matched on its `lease_token`. A lost race is `E_CONFLICT`, a lost lease is
//!   `E_LEASE_LOST`; nothing is overwritten silently.
//! - **Heartbeat** ([`JobStore::heartbeat`]) extends a lease and reports a pending cancel
//!   request. A lease that has expired but not been rescued yet is still honoured.
//! - **Rescue** ([`JobStore::rescue`]) takes back jobs whose lease expired: a job in
//!   flight fails its attempt (`E_LEASE_LOST`, kept in the history) and returns to
//!   `pending` with the attempt counted and a backoff, or stays `failed` when its
//!   attempts are spent, or becomes `cancelled` when a cancel was requested; a claimed job
//!   that never started goes back to the queue as it was. The write is guarded by the
//!   version, the token and the expiry, so a job that moved meanwhile is left alone.
//! - **Retry** waits [`jittered_backoff`]: [`backoff_delay`] (`attempt^4` seconds, at most
//!   one hour) plus or minus 10 %.
//!
//! Every state change goes through [`crate::job::apply_event`]: the stores never
//! re-implement the lifecycle rules.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::{JobEvent, JobId, JobStatus, NewRenderJob, RenderJob};

mod memory;
mod plan;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

/// The longest backoff between attempts: one hour.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The most rows one list page may hold.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The page size used when a filter does not set one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// The most jobs one claim may lease.
pub const MAX_CLAIM: u32 = 1000;

/// The error code recorded when a job's lease was lost (rescued or released).
pub const LEASE_LOST_CODE: &str = "E_LEASE_LOST";

/// How long to wait before attempt `attempt + 1` after attempt `attempt` failed:
/// `attempt^4` seconds, at most [`MAX_BACKOFF`] (1 s, 16 s, 81 s, 256 s, ... 1 h).
pub fn backoff_delay(attempt: u32) -> Duration {
    let secs = u64::from(attempt.max(1)).saturating_pow(4);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

/// How far a retry's wait strays from [`backoff_delay`] either way: 10 % (as River's),
/// so jobs that failed together do not all come back in the same instant.
pub const BACKOFF_JITTER: f64 = 0.1;

/// The wait before retrying attempt `attempt` of job `id`: [`backoff_delay`] scaled by a
/// factor in `[0.9, 1.1)` taken from a hash of the job's id and the attempt. Spread
/// between jobs, and the same for one job's attempt on every store (no clock and no
/// random source, so tests and replays see the same value).
pub fn jittered_backoff(attempt: u32, id: &JobId) -> Duration {
    // FNV-1a, 64 bits.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.as_str().bytes().chain(attempt.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let unit = (hash >> 11) as f64 / (1u64 << 53) as f64;
    backoff_delay(attempt).mul_f64(1.0 + BACKOFF_JITTER * (2.0 * unit - 1.0))
}

/// A worker's hold on a claimed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker that claimed the job (free text chosen by the worker).
    pub owner: String,
    /// The token that fences the worker's writes; a new claim gets a new token.
    pub token: String,
    /// When the lease runs out unless the worker heartbeats (database clock).
    pub expires_at: DateTime<Utc>,
    /// When the worker last claimed or heartbeat the job (database clock).
    pub heartbeat_at: DateTime<Utc>,
}

/// One failed attempt, kept in the job's history for audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// The attempt that failed (1-based).
    pub attempt: u32,
    /// The stable error code (`E_...`).
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// When the failure was recorded.
    pub at: DateTime<Utc>,
}

/// How far a running job's current attempt is, as its worker last recorded it.
///
/// Written by the worker at most about once a second plus at each stage change (never
/// once per frame), so a reader in another process (an admin page polling the job,
/// `render-engine jobs show` on another machine) sees what the worker is doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    /// The attempt (1-based) the progress belongs to.
    pub attempt: u32,
    /// The pipeline step: `claimed`, `compositing`, `rendering`, `encoding` or `storing`.
    pub stage: String,
    /// How far the attempt is, 0 to 100.
    pub percent: u8,
    /// A short human message ("rendering frame 12 of 24").
    pub message: String,
    /// The estimated seconds left, once some progress has been made.
    pub eta_seconds: Option<f64>,
    /// When the worker recorded this (its clock).
    pub updated_at: DateTime<Utc>,
}

/// A render job as the store keeps it: the [`RenderJob`] and its queue columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredJob {
    /// The job itself, exactly as callers see it.
    pub job: RenderJob,
    /// Higher runs first; 0 by default.
    pub priority: i32,
    /// The job is not claimed before this time (database clock).
    pub run_at: DateTime<Utc>,
    /// Counts the changes to the record; every write names the version it read.
    pub version: i64,
    /// The worker's lease, while a worker holds the job.
    pub lease: Option<Lease>,
    /// When a cancel was requested for the job while a worker held it.
    pub cancel_requested_at: Option<DateTime<Utc>>,
    /// The key that made the creation idempotent, if one was given.
    pub idempotency_key: Option<String>,
    /// Every failed attempt, oldest first.
    pub errors: Vec<AttemptError>,
    /// The running attempt's progress; `None` when the job is not running (pending,
    /// finished) or its worker has not reported yet.
    pub progress: Option<JobProgress>,
}

impl StoredJob {
    /// The job's identifier.
    pub fn id(&self) -> &JobId {
        &self.job.id
    }

    /// The job's status.
    pub fn status(&self) -> JobStatus {
        self.job.status
    }

    /// The lease token, while a worker holds the job.
    pub fn lease_token(&self) -> Option<&str> {
        self.lease.as_ref().map(|l| l.token.as_str())
    }
}

/// Options for [`JobStore::create`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateOptions {
    /// Creations with the same key make one job; every caller gets that job.
    pub idempotency_key: Option<String>,
    /// Higher runs first; 0 by default.
    pub priority: i32,
    /// Do not run before this time; now (database clock) when absent.
    pub run_at: Option<DateTime<Utc>>,
}

impl CreateOptions {
    /// Options with an idempotency key.
    pub fn with_key(key: impl Into<String>) -> Self {
        Self {
            idempotency_key: Some(key.into()),
            ..Self::default()
        }
    }
}

/// The result of [`JobStore::create`].
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedJob {
    /// The job (the existing one when the idempotency key was seen before).
    pub job: StoredJob,
    /// Whether this call created the job (false when the key was already used).
    pub created: bool,
}

impl CreatedJob {
    /// The job's id.
    pub fn id(&self) -> &JobId {
        self.job.id()
    }
}

/// What [`JobStore::list`] returns, and how to page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct JobFilter {
    /// Only jobs of this product.
    pub product_id: Option<String>,
    /// Only jobs of this variant.
    pub variant_id: Option<String>,
    /// Only jobs in one of these statuses (all statuses when empty).
    pub statuses: Vec<JobStatus>,
    /// Only jobs created at or after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// Only jobs that finished (`completed_at`: completed, failed or cancelled) at or
    /// after this time; jobs that have not finished never match.
    pub completed_after: Option<DateTime<Utc>>,
    /// Include soft-deleted jobs.
    pub include_deleted: bool,
    /// Rows per page: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when absent.
    pub limit: Option<u32>,
    /// Continue after this cursor ([`JobPage::next_cursor`] of the previous page).
    pub cursor: Option<String>,
}

impl JobFilter {
    /// Every job (not deleted), newest first, in pages of [`DEFAULT_PAGE_SIZE`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Only jobs of `product_id`.
    pub fn with_product(mut self, product_id: impl Into<String>) -> Self {
        self.product_id = Some(product_id.into());
        self
    }

    /// Only jobs of `variant_id`.
    pub fn with_variant(mut self, variant_id: impl Into<String>) -> Self {
        self.variant_id = Some(variant_id.into());
        self
    }

    /// Only jobs in one of `statuses`.
    pub fn with_statuses(mut self, statuses: impl IntoIterator<Item = JobStatus>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Only jobs created at or after `after` and before `before` (each optional).
    pub fn with_created(
        mut self,
        after: Option<DateTime<Utc>>,
        before: Option<DateTime<Utc>>,
    ) -> Self {
        self.created_after = after;
        self.created_before = before;
        self
    }

    /// Only jobs that finished (completed, failed or cancelled) at or after `after`.
    pub fn with_completed_after(mut self, after: DateTime<Utc>) -> Self {
        self.completed_after = Some(after);
        self
    }

    /// Soft-deleted jobs too.
    pub fn with_deleted(mut self, include: bool) -> Self {
        self.include_deleted = include;
        self
    }

    /// Pages of `limit` jobs (1 to [`MAX_PAGE_SIZE`]).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The page after `cursor` ([`JobPage::next_cursor`] of the previous page).
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One page of [`JobStore::list`]: newest first (`created_at`, then `id`, descending).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPage {
    /// The jobs of this page.
    pub jobs: Vec<StoredJob>,
    /// Pass it as [`JobFilter::cursor`] for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// What a heartbeat tells the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The lease's new expiry (database clock).
    pub lease_expires_at: DateTime<Utc>,
    /// Whether a cancel was requested: the worker should stop and apply
    /// [`JobEvent::Cancel`].
    pub cancel_requested: bool,
}

/// A set of state changes to apply to one job with [`JobStore::apply_many`].
#[derive(Debug, Clone, Copy)]
pub struct JobUpdate<'a> {
    /// The job as the caller last read it (its version and lease token fence the write).
    pub current: &'a StoredJob,
    /// The events to apply, in order, in one write.
    pub events: &'a [JobEvent],
}

/// What happens to one job whose lease expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RescueAction {
    /// Back to `pending` for another attempt (after a backoff if an attempt was spent).
    Requeue,
    /// Attempts are spent: the job stays `failed`.
    Fail,
    /// A cancel was requested: the job becomes `cancelled`.
    Cancel,
}

/// The rescuer's reading of the expired leases, before it writes
/// ([`JobStore::plan_rescue`]).
#[derive(Debug, Clone)]
pub struct RescuePlan {
    pub(crate) items: Vec<(plan::Planned, RescueAction)>,
}

impl RescuePlan {
    /// The jobs the plan would rescue and what would happen to each.
    pub fn actions(&self) -> Vec<(JobId, RescueAction)> {
        self.items
            .iter()
            .map(|(p, a)| (p.next.id.clone(), *a))
            .collect()
    }

    /// Whether the plan has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// What one rescue pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescueReport {
    /// Jobs returned to `pending`.
    pub requeued: Vec<JobId>,
    /// Jobs left `failed` because their attempts were spent.
    pub failed: Vec<JobId>,
    /// Jobs `cancelled` because a cancel had been requested.
    pub cancelled: Vec<JobId>,
    /// Jobs skipped because they changed between the read and the write (finished,
    /// heartbeat, rescued by another rescuer).
    pub skipped: Vec<JobId>,
}

impl RescueReport {
    /// How many jobs were rescued (requeued, failed or cancelled).
    pub fn rescued(&self) -> usize {
        self.requeued.len() + self.failed.len() + self.cancelled.len()
    }
}

/// Storage of render jobs and the queue that workers share.
///
/// Object safe: the engine holds an `Arc<dyn JobStore>`. Every operation that changes a
/// job's status goes through [`crate::job::apply_event`].
#[async_trait::async_trait]
pub trait JobStore: Send + Sync + fmt::Debug {
    /// The backend's name: `"memory"`, `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Runs the embedded migrations that have not run yet (opening a store with
    /// [`MigrationMode::Run`], the default, already does).
    async fn migrate(&self) -> Result<()>;

    /// The versions of the embedded migrations this store has not run yet, oldest first;
    /// empty when its schema is current (always, for a store without migrations).
    async fn pending_migrations(&self) -> Result<Vec<u32>> {
        Ok(Vec::new())
    }

    /// The store's clock (the database's for SQL stores), which leases are measured by.
    async fn now(&self) -> Result<DateTime<Utc>>;

    /// Validates `new` and stores it as a `pending` job.
    ///
    /// With an idempotency key, concurrent and repeated creations make one job and every
    /// caller gets it (`created` is true for exactly one of them). A caller-chosen id that
    /// is already taken is `E_CONFLICT`; invalid input is `E_VALIDATION` listing every
    /// failing field.
    async fn create(&self, new: NewRenderJob, options: CreateOptions) -> Result<CreatedJob>;

    /// The job with this id; `E_NOT_FOUND` when it does not exist or is soft-deleted.
    async fn get(&self, id: &JobId) -> Result<StoredJob>;

    /// The job with this id even when soft-deleted; `E_NOT_FOUND` when it does not exist.
    async fn get_including_deleted(&self, id: &JobId) -> Result<StoredJob>;

    /// Soft-deletes a job: it is hidden from [`get`](Self::get) and lists, never claimed,
    /// and kept for audit until pruned. Refused with `E_CONFLICT` while a worker holds the
    /// job or it is in flight (cancel it first). Deleting a deleted job changes nothing.
    async fn delete(&self, id: &JobId) -> Result<StoredJob>;

    /// Undoes a soft delete. Restoring a job that is not deleted changes nothing.
    async fn restore(&self, id: &JobId) -> Result<StoredJob>;

    /// Lists jobs matching `filter`, newest first, one page at a time (keyset pagination:
    /// rows created while paging never shift a page).
    async fn list(&self, filter: &JobFilter) -> Result<JobPage>;

    /// Applies one state-machine event to a job, fenced by `current.version` and, while a
    /// worker holds the job, by its lease token.
    ///
    /// Errors: `E_CONFLICT` when the job changed since `current` was read,
    /// `E_LEASE_LOST` when the lease in `current` is no longer held,
    /// `E_INVALID_TRANSITION` / `E_VALIDATION` from the state machine.
    async fn apply(&self, current: &StoredJob, event: &JobEvent) -> Result<StoredJob> {
        let events = std::slice::from_ref(event);
        let mut results = self.apply_many(&[JobUpdate { current, events }]).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(Error::store("apply_many returned no result for one update")))
    }

    /// Applies a list of events to each of several jobs, one write per job and as few
    /// round trips as the backend allows. The outer error is a store failure; each inner
    /// result is that job's, as for [`apply`](Self::apply). A job's events are applied
    /// all or none.
    ///
    /// Entering a terminal status releases the lease; a `fail` event is added to the
    /// error history; a `retry` event sets `run_at` to now plus [`backoff_delay`].
    async fn apply_many(&self, updates: &[JobUpdate<'_>]) -> Result<Vec<Result<StoredJob>>>;

    /// Records the progress of a running job's attempt, as reported by `worker` (the lease
    /// owner). Written only while the job is `compositing` or `rendering` in attempt
    /// `progress.attempt` under `worker`'s lease; returns whether it was written. Not a
    /// state change: the job's `version` and `updated_at` stay as they were, and every
    /// state change that stops the job running clears the progress.
    async fn record_progress(
        &self,
        id: &JobId,
        worker: &str,
        progress: &JobProgress,
    ) -> Result<bool>;

    /// Leases up to `limit` (1 to [`MAX_CLAIM`]) claimable jobs to `worker` for
    /// `lease_for`: `pending`, not deleted, not leased, `run_at` come; highest priority
    /// first, then oldest `run_at`, then creation order. Each job is claimed by one worker
    /// only; the jobs stay `pending` until the worker applies `start_compositing`.
    async fn claim(&self, worker: &str, limit: u32, lease_for: Duration) -> Result<Vec<StoredJob>>;

    /// Extends the lease on job `id` to now plus `lease_for` and reports whether a cancel
    /// was requested. `E_LEASE_LOST` when `lease_token` no longer holds the job.
    async fn heartbeat(
        &self,
        id: &JobId,
        lease_token: &str,
        lease_for: Duration,
    ) -> Result<Heartbeat>;

    /// Gives a held job back before its lease expires: a job that was not started returns
    /// to the queue as it was; a job in flight is handled as the rescuer would (attempt
    /// counted, `reason` recorded). `E_LEASE_LOST` when the token no longer holds it.
    async fn release(&self, id: &JobId, lease_token: &str, reason: &str) -> Result<StoredJob>;

    /// Reads up to `limit` jobs whose lease expired and decides what to do with each
    /// (the first half of [`rescue`](Self::rescue)).
    async fn plan_rescue(&self, limit: u32) -> Result<RescuePlan>;

    /// Writes a rescue plan in one guarded statement: a job whose version, lease token or
    /// expiry changed since the plan was read (it finished, heartbeat, or was rescued
    /// already) is skipped, never overwritten.
    async fn apply_rescue(&self, plan: RescuePlan) -> Result<RescueReport>;

    /// Rescues up to `limit` jobs whose lease expired ([`plan_rescue`](Self::plan_rescue)
    /// then [`apply_rescue`](Self::apply_rescue)).
    async fn rescue(&self, limit: u32) -> Result<RescueReport> {
        let plan = self.plan_rescue(limit).await?;
        self.apply_rescue(plan).await
    }

    /// Retries a failed job: `failed -> pending` with one more attempt, claimable after
    /// [`backoff_delay`] of the failed attempt. Refused (`E_INVALID_TRANSITION`) when the
    /// job is not failed or its attempts are spent.
    async fn retry(&self, id: &JobId) -> Result<StoredJob> {
        let current = self.get(id).await?;
        self.apply(&current, &JobEvent::Retry).await
    }

    /// Cancels a job: a `pending` job (even one claimed but not started) is `cancelled`
    /// at once; a job in flight gets `cancel_requested_at`, which its worker sees at the
    /// next heartbeat (the rescuer cancels it if the worker is gone). Cancelling a
    /// cancelled job changes nothing; a completed or failed job is `E_INVALID_TRANSITION`.
    async fn cancel(&self, id: &JobId) -> Result<StoredJob>;

    /// Permanently deletes jobs finished (completed, failed, cancelled) or soft-deleted
    /// more than `older_than` ago, `batch_size` rows per statement so that no statement
    /// holds locks for long. Returns how many rows were deleted.
    async fn prune(&self, older_than: Duration, batch_size: u32) -> Result<u64>;
}

/// What opening a job store does about its schema ([`open_store_with`],
/// [`crate::EngineConfig::with_migrations`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationMode {
    /// Run the embedded migrations that have not run yet (the default): the first open
    /// creates the tables, an upgrade adds what it needs.
    #[default]
    Run,
    /// Change nothing: check that every embedded migration has run and fail with
    /// `E_STORE`, saying how to migrate, when one has not (a SQLite file that does not
    /// exist is not created). For processes that start often (every command of an
    /// application's CLI) while migrations run as a deployment step ([`migrate_store`],
    /// `render-engine migrate`).
    RequireCurrent,
}

/// What [`migrate_store`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// The migrations that were pending when it started, by version, oldest first (empty
    /// when the schema was already current). Another process migrating at the same
    /// time may have run some of them.
    pub applied: Vec<u32>,
    /// The schema version the store is at now: the newest embedded migration.
    pub version: u32,
}

/// The newest schema version of `backend`'s embedded migrations (0 for the memory store).
pub fn latest_schema_version(backend: &str) -> u32 {
    match backend {
        #[cfg(feature = "sqlite")]
        "sqlite" => sqlite::LATEST_VERSION,
        #[cfg(feature = "postgres")]
        "postgres" => postgres::LATEST_VERSION,
        _ => 0,
    }
}

/// Opens a job store from a URL and runs its migrations ([`open_store_with`] and
/// [`MigrationMode::Run`]).
///
/// - `memory:`: a fresh in-memory store.
/// - `sqlite://path.db`, `sqlite:///absolute/path.db`: a SQLite file, created if missing
///   (cargo feature `sqlite`, on by default).
/// - `postgres://user@host:5432/db` (or `postgresql://`): PostgreSQL (cargo feature
///   `postgres`); `?schema=name` keeps the tables in that schema, created if missing.
pub async fn open_store(url: &str) -> Result<Arc<dyn JobStore>> {
    open_store_with(url, MigrationMode::Run).await
}

/// Opens a job store from a URL (see [`open_store`] for the URLs), running its
/// migrations or only checking that its schema is current, as `mode` says.
///
/// Errors: `E_VALIDATION` on `store_url` for a URL that names no store; `E_STORE` when
/// the database cannot be reached, a migration fails, or (with
/// [`MigrationMode::RequireCurrent`]) the schema is behind or missing; the message then
/// says to run `render-engine migrate --database URL`, `RenderEngine.migrate(...)` (Node)
/// or [`migrate_store`].
pub async fn open_store_with(url: &str, mode: MigrationMode) -> Result<Arc<dyn JobStore>> {
    let store = open_unmigrated(url, mode).await?;
    match mode {
        MigrationMode::Run => store.migrate().await?,
        MigrationMode::RequireCurrent => {
            let pending = store.pending_migrations().await?;
            if !pending.is_empty() {
                return Err(schema_behind(url, store.backend(), &pending));
            }
        }
    }
    Ok(store)
}

/// Runs the embedded migrations of the store at `url` that have not run yet, creating
/// its tables (and a SQLite file or a PostgreSQL `?schema=`) when missing: the explicit
/// migration step of a deployment. Safe to run again and from several processes at once
/// (PostgreSQL takes an advisory lock, SQLite a write lock).
pub async fn migrate_store(url: &str) -> Result<MigrationReport> {
    let store = open_unmigrated(url, MigrationMode::Run).await?;
    let applied = store.pending_migrations().await?;
    store.migrate().await?;
    Ok(MigrationReport {
        applied,
        version: latest_schema_version(store.backend()),
    })
}

/// The `E_STORE` error of a store whose schema is behind, saying how to migrate it.
fn schema_behind(url: &str, backend: &str, pending: &[u32]) -> Error {
    let url = redact(url);
    let latest = latest_schema_version(backend);
    let have = pending.first().map_or(latest, |first| first - 1);
    let list: Vec<String> = pending.iter().map(u32::to_string).collect();
    let state = if have == 0 {
        "has no render-engine tables yet (schema version 0)".to_string()
    } else {
        format!("is at schema version {have}")
    };
    Error::store(format!(
        "the job store `{url}` {state}; this render-engine needs version {latest} \
         (migrations {} have not run) and was opened without running migrations. Migrate it \
         first: `render-engine migrate --database '{url}'`, or `RenderEngine.migrate({{ \
         database: '{url}' }})` from Node, or `render_engine::store::migrate_store` from \
         Rust; or open it with migrations on",
        list.join(", ")
    ))
}

/// Opens the store at `url` without touching its schema. With
/// [`MigrationMode::RequireCurrent`] a missing SQLite file is not created.
async fn open_unmigrated(url: &str, mode: MigrationMode) -> Result<Arc<dyn JobStore>> {
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        "memory" => Ok(Arc::new(MemoryStore::new())),
        "sqlite" => open_sqlite(url, mode).await,
        "postgres" | "postgresql" => open_postgres(url).await,
        _ => Err(Error::validation(
            "store_url",
            format!(
                "unknown job store URL `{}`; use memory:, sqlite://path.db or postgres://user@host/db",
                redact(url)
            ),
        )),
    }
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(url: &str, mode: MigrationMode) -> Result<Arc<dyn JobStore>> {
    Ok(Arc::new(SqliteStore::connect(url, mode).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn open_sqlite(_url: &str, _mode: MigrationMode) -> Result<Arc<dyn JobStore>> {
    Err(Error::validation(
        "store_url",
        "this build has no SQLite store; rebuild with the cargo feature `sqlite`",
    ))
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str) -> Result<Arc<dyn JobStore>> {
    Ok(Arc::new(PostgresStore::connect(url).await?))
}

#[cfg(not(feature = "postgres"))]
async fn open_postgres(_url: &str) -> Result<Arc<dyn JobStore>> {
    Err(Error::validation(
        "store_url",
        "this build has no PostgreSQL store; rebuild with the cargo feature `postgres`",
    ))
}

/// A URL with its password hidden, for messages.
pub(crate) fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_attempt_to_the_fourth_capped_at_an_hour() {
        assert_eq!(backoff_delay(1), Duration::from_secs(1));
        assert_eq!(backoff_delay(2), Duration::from_secs(16));
        assert_eq!(backoff_delay(3), Duration::from_secs(81));
        assert_eq!(backoff_delay(7), Duration::from_secs(2401));
        assert_eq!(backoff_delay(8), MAX_BACKOFF);
        assert_eq!(backoff_delay(100), MAX_BACKOFF);
        assert_eq!(backoff_delay(u32::MAX), MAX_BACKOFF);
        let mut last = Duration::ZERO;
        for attempt in 1..=100 {
            let d = backoff_delay(attempt);
            assert!(d >= last, "backoff must not shrink at attempt {attempt}");
            last = d;
        }
    }

    #[test]
    fn urls_are_checked() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let err = rt.block_on(open_store("mysql://x")).unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        assert!(err.to_string().contains("sqlite://"), "{err}");
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:****@h/db");
        let store = rt.block_on(open_store("memory:")).unwrap();
        assert_eq!(store.backend(), "memory");
    }
}
