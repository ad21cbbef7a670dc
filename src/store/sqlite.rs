//! The SQLite job store (`sqlite://path.db`): the embedded default.
//!
//! WAL mode and a busy timeout let several processes share one file; every write runs in
//! a `BEGIN IMMEDIATE` transaction, so a writer takes the write lock before it reads and
//! never fails half-way with "database is locked". Within one process writes also queue
//! on an async mutex, so they wait in the runtime rather than in SQLite's busy handler.
//! Times are stored as integer microseconds since the Unix epoch.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, Transaction};
use tokio::sync::{Mutex, MutexGuard};

use super::plan::{self, CancelPlan, Planned};
use super::{
    CreateOptions, CreatedJob, Heartbeat, JobFilter, JobPage, JobProgress, JobStore, JobUpdate,
    Lease, RescueAction, RescuePlan, RescueReport, StoredJob,
};
use crate::error::{Error, Result};
use crate::job::{JobId, JobStatus, NewRenderJob, Preset, RenderJob};

/// The embedded migrations, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "render_job",
        include_str!("../../migrations/sqlite/0001_render_job.sql"),
    ),
    (
        2,
        "progress",
        include_str!("../../migrations/sqlite/0002_progress.sql"),
    ),
    (
        3,
        "completed_at",
        include_str!("../../migrations/sqlite/0003_completed_at.sql"),
    ),
];

/// The newest schema version: the last embedded migration's.
pub(crate) const LATEST_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0 as u32;

/// The database clock in microseconds.
const NOW: &str = "CAST(unixepoch('subsec') * 1000000 AS INTEGER)";

const COLS: &str = "seq, id, product_id, variant_id, status, design_file_url, \
    composited_file_url, rendered_image_url, animation_url, preset, template_id, error_code, \
    error_message, attempt, max_attempts, started_at, completed_at, metadata, created_at, \
    updated_at, deleted_at, priority, run_at, version, lease_owner, lease_token, \
    lease_expires_at, heartbeat_at, cancel_requested_at, idempotency_key, errors, progress";

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// A job store in a SQLite file. See the module documentation of [`crate::store`].
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    write_lock: Mutex<()>,
    name: String,
}

impl SqliteStore {
    /// Opens (creating if missing) the SQLite database at `url` (`sqlite://path.db`) and
    /// runs the migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url, super::MigrationMode::Run).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without touching the schema. With [`super::MigrationMode::RequireCurrent`]
    /// a missing file is refused (`E_STORE`, saying how to migrate), not created.
    pub(crate) async fn connect(url: &str, mode: super::MigrationMode) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                Error::validation(
                    "store_url",
                    format!("`{url}` is not a SQLite URL ({e}); use sqlite://path.db"),
                )
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if mode == super::MigrationMode::RequireCurrent
            && !in_memory
            && !options.get_filename().exists()
        {
            let all: Vec<u32> = MIGRATIONS.iter().map(|m| m.0 as u32).collect();
            return Err(super::schema_behind(url, "sqlite", &all));
        }
        let options = options.create_if_missing(mode == super::MigrationMode::Run);
        let pool = SqlitePoolOptions::new()
            .max_connections(if in_memory { 1 } else { 4 })
            .min_connections(1)
            .acquire_timeout(BUSY_TIMEOUT)
            // A connection handed back inside a transaction nobody owns any more is closed
            // (which rolls it back), never pooled for the next caller. The ping first lets
            // the rollback a dropped `Transaction` queued run before the depth is read.
            .after_release(|conn, _| {
                Box::pin(async move {
                    sqlx::Connection::ping(&mut *conn).await?;
                    Ok(!sqlx::Connection::is_in_transaction(conn))
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| {
                Error::store(format!("cannot open SQLite database `{url}`: {e}")).caused_by(e)
            })?;
        Ok(SqliteStore {
            pool,
            write_lock: Mutex::new(()),
            name: url.to_string(),
        })
    }

    fn err(&self, e: sqlx::Error) -> Error {
        Error::store(format!("SQLite `{}`: {e}", self.name)).caused_by(e)
    }

    /// Starts a write transaction: the process's write turn, then `BEGIN IMMEDIATE`.
    async fn write_tx(&self) -> Result<(MutexGuard<'_, ()>, Transaction<'static, Sqlite>)> {
        let guard = self.write_lock.lock().await;
        // Begun in a task of its own: sqlx's `begin_with` dropped after its BEGIN ran but
        // before it returned leaves the connection inside a transaction that no
        // `Transaction` owns ("begin_with at non-zero transaction depth" for the next
        // caller). A caller dropped here only drops the finished transaction: rolled back.
        let pool = self.pool.clone();
        let tx = tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await })
            .await
            .map_err(|e| Error::Internal(format!("the SQLite begin task died: {e}")))?
            .map_err(|e| self.err(e))?;
        Ok((guard, tx))
    }

    async fn commit(&self, tx: Transaction<'static, Sqlite>) -> Result<()> {
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn find(
        &self,
        conn: &mut SqliteConnection,
        id: &JobId,
        include_deleted: bool,
    ) -> Result<StoredJob> {
        let sql = format!("SELECT {COLS} FROM render_job WHERE id = ?1");
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        match row.map(|r| decode(&r)).transpose()? {
            Some((_, s)) if include_deleted || s.job.deleted_at.is_none() => Ok(s),
            _ => Err(Error::NotFound {
                what: "render job",
                id: id.to_string(),
            }),
        }
    }

    async fn find_opt(&self, conn: &mut SqliteConnection, id: &JobId) -> Result<Option<StoredJob>> {
        match self.find(conn, id, true).await {
            Ok(s) => Ok(Some(s)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The guarded write; `None` when the row no longer matches the plan's reading.
    async fn write(&self, conn: &mut SqliteConnection, p: &Planned) -> Result<Option<StoredJob>> {
        let sql = format!(
            "UPDATE render_job SET status = ?1, composited_file_url = ?2, \
             rendered_image_url = ?3, animation_url = ?4, error_code = ?5, error_message = ?6, \
             attempt = ?7, started_at = ?8, completed_at = ?9, updated_at = ?10, \
             deleted_at = ?11, errors = ?12, metadata = ?19, version = version + 1, \
             progress = CASE WHEN ?1 IN ('compositing', 'rendering') THEN progress END, \
             lease_owner = CASE WHEN ?13 THEN NULL ELSE lease_owner END, \
             lease_token = CASE WHEN ?13 THEN NULL ELSE lease_token END, \
             lease_expires_at = CASE WHEN ?13 THEN NULL ELSE lease_expires_at END, \
             heartbeat_at = CASE WHEN ?13 THEN NULL ELSE heartbeat_at END, \
             run_at = CASE WHEN ?14 IS NULL THEN run_at ELSE {NOW} + ?14 END \
             WHERE id = ?15 AND version = ?16 AND lease_token IS ?17 \
             AND (?18 = 0 OR lease_expires_at <= {NOW}) \
             RETURNING {COLS}"
        );
        let j = &p.next;
        let row = sqlx::query(&sql)
            .bind(j.status.as_str())
            .bind(j.composited_file_url.as_deref())
            .bind(j.rendered_image_url.as_deref())
            .bind(j.animation_url.as_deref())
            .bind(j.error_code.as_deref())
            .bind(j.error_message.as_deref())
            .bind(i64::from(j.attempt))
            .bind(j.started_at.map(micros))
            .bind(j.completed_at.map(micros))
            .bind(micros(j.updated_at))
            .bind(j.deleted_at.map(micros))
            .bind(plan::errors_to_json(&p.errors))
            .bind(p.clear_lease)
            .bind(p.backoff.map(duration_micros))
            .bind(j.id.as_str())
            .bind(p.expected_version)
            .bind(p.expected_token.as_deref())
            .bind(p.require_expired)
            .bind(
                j.metadata
                    .as_ref()
                    .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "{}".into())),
            )
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| decode(&r)).transpose()?.map(|(_, s)| s))
    }

    /// A planned write on `current`, explained when it finds nothing to change.
    async fn write_or_explain(
        &self,
        conn: &mut SqliteConnection,
        current: &StoredJob,
        p: &Planned,
    ) -> Result<StoredJob> {
        match self.write(conn, p).await? {
            Some(s) => Ok(s),
            None => {
                let actual = self.find_opt(conn, current.id()).await?;
                Err(plan::diagnose(current, actual.as_ref()))
            }
        }
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn time(v: i64) -> Result<DateTime<Utc>> {
    Utc.timestamp_micros(v)
        .single()
        .ok_or_else(|| corrupt(format!("an impossible time ({v} µs)")))
}

fn opt_time(v: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    v.map(time).transpose()
}

/// Runs a script of one or more statements without parameters.
async fn run_script(
    conn: &mut SqliteConnection,
    sql: &str,
) -> std::result::Result<(), sqlx::Error> {
    use sqlx::Executor;
    conn.execute(sql).await.map(|_| ())
}

/// A row this version cannot read: permanent (`E_INTERNAL`, not the transient
/// `E_STORE`), so the engine does not retry work on it as if the database had a hiccup.
fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!(
        "render_job holds a row this version cannot read: {e}"
    ))
}

/// Reads a row of `COLS`: its `seq` and the job.
fn decode(row: &SqliteRow) -> Result<(i64, StoredJob)> {
    let get_str = |c: &str| row.try_get::<String, _>(c).map_err(corrupt);
    let get_opt = |c: &str| row.try_get::<Option<String>, _>(c).map_err(corrupt);
    let get_i64 = |c: &str| row.try_get::<i64, _>(c).map_err(corrupt);
    let get_opt_i64 = |c: &str| row.try_get::<Option<i64>, _>(c).map_err(corrupt);
    let metadata = match get_opt("metadata")? {
        Some(raw) => Some(serde_json::from_str(&raw).map_err(corrupt)?),
        None => None,
    };
    let job = RenderJob {
        id: JobId::parse(get_str("id")?).map_err(corrupt)?,
        product_id: get_str("product_id")?,
        variant_id: get_opt("variant_id")?,
        status: get_str("status")?.parse::<JobStatus>().map_err(corrupt)?,
        design_file_url: get_str("design_file_url")?,
        composited_file_url: get_opt("composited_file_url")?,
        rendered_image_url: get_opt("rendered_image_url")?,
        animation_url: get_opt("animation_url")?,
        preset: get_str("preset")?.parse::<Preset>().map_err(corrupt)?,
        template_id: get_opt("template_id")?,
        error_code: get_opt("error_code")?,
        error_message: get_opt("error_message")?,
        attempt: u32::try_from(get_i64("attempt")?).map_err(corrupt)?,
        max_attempts: u32::try_from(get_i64("max_attempts")?).map_err(corrupt)?,
        started_at: opt_time(get_opt_i64("started_at")?)?,
        completed_at: opt_time(get_opt_i64("completed_at")?)?,
        metadata,
        created_at: time(get_i64("created_at")?)?,
        updated_at: time(get_i64("updated_at")?)?,
        deleted_at: opt_time(get_opt_i64("deleted_at")?)?,
    };
    let lease = match (get_opt("lease_token")?, get_opt_i64("lease_expires_at")?) {
        (Some(token), Some(expires)) => Some(Lease {
            owner: get_opt("lease_owner")?.unwrap_or_default(),
            token,
            expires_at: time(expires)?,
            heartbeat_at: time(get_opt_i64("heartbeat_at")?.unwrap_or(expires))?,
        }),
        _ => None,
    };
    let progress = plan::progress_from_json(get_opt("progress")?.as_deref(), &job);
    let stored = StoredJob {
        job,
        priority: i32::try_from(get_i64("priority")?).map_err(corrupt)?,
        run_at: time(get_i64("run_at")?)?,
        version: get_i64("version")?,
        lease,
        cancel_requested_at: opt_time(get_opt_i64("cancel_requested_at")?)?,
        idempotency_key: get_opt("idempotency_key")?,
        errors: plan::errors_from_json(&get_str("errors")?)?,
        progress,
    };
    Ok((get_i64("seq")?, stored))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait::async_trait]
impl JobStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        let (_turn, mut tx) = self.write_tx().await?;
        run_script(
            &mut tx,
            "CREATE TABLE IF NOT EXISTS render_engine_migrations (\
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .await
        .map_err(|e| self.err(e))?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM render_engine_migrations")
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        for (version, name, sql) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            run_script(&mut tx, sql).await.map_err(|e| {
                Error::store(format!(
                    "SQLite `{}`: migration {version} ({name}) failed: {e}",
                    self.name
                ))
                .caused_by(e)
            })?;
            sqlx::query(&format!(
                "INSERT INTO render_engine_migrations (version, name, applied_at) \
                 VALUES (?1, ?2, {NOW})"
            ))
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        self.commit(tx).await
    }

    async fn pending_migrations(&self) -> Result<Vec<u32>> {
        let has_table: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
             AND name = 'render_engine_migrations'",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let applied: Vec<i64> = if has_table == 0 {
            Vec::new()
        } else {
            sqlx::query_scalar("SELECT version FROM render_engine_migrations")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?
        };
        Ok(MIGRATIONS
            .iter()
            .filter(|m| !applied.contains(&m.0))
            .map(|m| m.0 as u32)
            .collect())
    }

    async fn now(&self) -> Result<DateTime<Utc>> {
        let v: i64 = sqlx::query_scalar(&format!("SELECT {NOW}"))
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        time(v)
    }

    async fn create(&self, new: NewRenderJob, options: CreateOptions) -> Result<CreatedJob> {
        plan::check_idempotency_key(options.idempotency_key.as_deref())?;
        let job = new.into_job(Utc::now())?;
        let (_turn, mut tx) = self.write_tx().await?;
        if let Some(key) = &options.idempotency_key {
            let sql = format!("SELECT {COLS} FROM render_job WHERE idempotency_key = ?1");
            let existing = sqlx::query(&sql)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            if let Some(row) = existing {
                let (_, job) = decode(&row)?;
                self.commit(tx).await?;
                return Ok(CreatedJob {
                    job,
                    created: false,
                });
            }
        }
        let sql = format!(
            "INSERT INTO render_job (id, product_id, variant_id, status, design_file_url, \
             composited_file_url, rendered_image_url, animation_url, preset, template_id, \
             error_code, error_message, attempt, max_attempts, started_at, completed_at, \
             metadata, created_at, updated_at, deleted_at, priority, run_at, idempotency_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
             ?17, ?18, ?19, ?20, ?21, COALESCE(?22, {NOW}), ?23) RETURNING {COLS}"
        );
        let metadata = job
            .metadata
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "{}".into()));
        let row = sqlx::query(&sql)
            .bind(job.id.as_str())
            .bind(&job.product_id)
            .bind(job.variant_id.as_deref())
            .bind(job.status.as_str())
            .bind(&job.design_file_url)
            .bind(job.composited_file_url.as_deref())
            .bind(job.rendered_image_url.as_deref())
            .bind(job.animation_url.as_deref())
            .bind(job.preset.as_str())
            .bind(job.template_id.as_deref())
            .bind(job.error_code.as_deref())
            .bind(job.error_message.as_deref())
            .bind(i64::from(job.attempt))
            .bind(i64::from(job.max_attempts))
            .bind(job.started_at.map(micros))
            .bind(job.completed_at.map(micros))
            .bind(metadata)
            .bind(micros(job.created_at))
            .bind(micros(job.updated_at))
            .bind(job.deleted_at.map(micros))
            .bind(options.priority)
            .bind(options.run_at.map(micros))
            .bind(options.idempotency_key.as_deref())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::Conflict(format!(
                        "a render job with id `{}` already exists; choose another id or omit it",
                        job.id
                    ))
                } else {
                    self.err(e)
                }
            })?;
        let (_, stored) = decode(&row)?;
        self.commit(tx).await?;
        Ok(CreatedJob {
            job: stored,
            created: true,
        })
    }

    async fn get(&self, id: &JobId) -> Result<StoredJob> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        self.find(&mut conn, id, false).await
    }

    async fn get_including_deleted(&self, id: &JobId) -> Result<StoredJob> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        self.find(&mut conn, id, true).await
    }

    async fn delete(&self, id: &JobId) -> Result<StoredJob> {
        let (_turn, mut tx) = self.write_tx().await?;
        let current = self.find(&mut tx, id, true).await?;
        let result = match plan::plan_delete(&current, Utc::now())? {
            None => current,
            Some(p) => self.write_or_explain(&mut tx, &current, &p).await?,
        };
        self.commit(tx).await?;
        Ok(result)
    }

    async fn restore(&self, id: &JobId) -> Result<StoredJob> {
        let (_turn, mut tx) = self.write_tx().await?;
        let current = self.find(&mut tx, id, true).await?;
        let result = match plan::plan_restore(&current, Utc::now()) {
            None => current,
            Some(p) => self.write_or_explain(&mut tx, &current, &p).await?,
        };
        self.commit(tx).await?;
        Ok(result)
    }

    async fn list(&self, filter: &JobFilter) -> Result<JobPage> {
        let request = plan::check_filter(filter)?;
        let mut q =
            QueryBuilder::<Sqlite>::new(format!("SELECT {COLS} FROM render_job WHERE 1 = 1"));
        if !filter.include_deleted {
            q.push(" AND deleted_at IS NULL");
        }
        if let Some(p) = &filter.product_id {
            q.push(" AND product_id = ").push_bind(p.clone());
        }
        if let Some(v) = &filter.variant_id {
            q.push(" AND variant_id = ").push_bind(v.clone());
        }
        if !filter.statuses.is_empty() {
            q.push(" AND status IN (");
            let mut list = q.separated(", ");
            for s in &filter.statuses {
                list.push_bind(s.as_str());
            }
            q.push(")");
        }
        if let Some(t) = filter.created_after {
            q.push(" AND created_at >= ").push_bind(micros(t));
        }
        if let Some(t) = filter.created_before {
            q.push(" AND created_at < ").push_bind(micros(t));
        }
        if let Some(t) = filter.completed_after {
            q.push(" AND completed_at >= ").push_bind(micros(t));
        }
        if let Some((at, id)) = &request.after {
            q.push(" AND (created_at, id) < (")
                .push_bind(micros(*at))
                .push(", ")
                .push_bind(id.clone())
                .push(")");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(request.limit) + 1);
        let rows = q
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let jobs = rows
            .iter()
            .map(|r| decode(r).map(|(_, s)| s))
            .collect::<Result<Vec<_>>>()?;
        Ok(plan::page(jobs, request.limit))
    }

    async fn apply_many(&self, updates: &[JobUpdate<'_>]) -> Result<Vec<Result<StoredJob>>> {
        let now = Utc::now();
        let plans: Vec<Result<Planned>> = updates
            .iter()
            .map(|u| plan::plan_events(u.current, u.events, now))
            .collect();
        if plans.iter().all(Result::is_err) {
            return Ok(plans.into_iter().filter_map(Result::err).map(Err).collect());
        }
        let (_turn, mut tx) = self.write_tx().await?;
        let mut results = Vec::with_capacity(updates.len());
        for (u, p) in updates.iter().zip(plans) {
            let result = match p {
                Err(e) => Err(e),
                Ok(p) => match self.write_or_explain(&mut tx, u.current, &p).await {
                    Err(e @ (Error::Store { .. } | Error::Internal(_))) => return Err(e),
                    other => other,
                },
            };
            results.push(result);
        }
        self.commit(tx).await?;
        Ok(results)
    }

    async fn claim(&self, worker: &str, limit: u32, lease_for: Duration) -> Result<Vec<StoredJob>> {
        plan::check_claim(worker, limit, lease_for)?;
        let sql = format!(
            "UPDATE render_job SET lease_owner = ?1, lease_token = lower(hex(randomblob(16))), \
             lease_expires_at = {NOW} + ?2, heartbeat_at = {NOW}, version = version + 1 \
             WHERE seq IN (SELECT seq FROM render_job \
               WHERE status = 'pending' AND lease_token IS NULL AND deleted_at IS NULL \
               AND run_at <= {NOW} ORDER BY priority DESC, run_at, seq LIMIT ?3) \
             AND status = 'pending' AND lease_token IS NULL \
             RETURNING {COLS}"
        );
        let (_turn, mut tx) = self.write_tx().await?;
        let rows = sqlx::query(&sql)
            .bind(worker)
            .bind(duration_micros(lease_for))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        self.commit(tx).await?;
        let mut claimed = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
        claimed.sort_by(|(sa, a), (sb, b)| {
            b.priority
                .cmp(&a.priority)
                .then(a.run_at.cmp(&b.run_at))
                .then(sa.cmp(sb))
        });
        Ok(claimed.into_iter().map(|(_, s)| s).collect())
    }

    async fn record_progress(
        &self,
        id: &JobId,
        worker: &str,
        progress: &JobProgress,
    ) -> Result<bool> {
        let (_turn, mut tx) = self.write_tx().await?;
        let written = sqlx::query(
            "UPDATE render_job SET progress = ?1 WHERE id = ?2 AND lease_owner = ?3 \
             AND attempt = ?4 AND status IN ('compositing', 'rendering') AND deleted_at IS NULL",
        )
        .bind(plan::progress_to_json(progress))
        .bind(id.as_str())
        .bind(worker)
        .bind(i64::from(progress.attempt))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        self.commit(tx).await?;
        Ok(written == 1)
    }

    async fn heartbeat(
        &self,
        id: &JobId,
        lease_token: &str,
        lease_for: Duration,
    ) -> Result<Heartbeat> {
        plan::check_lease_for(lease_for)?;
        let sql = format!(
            "UPDATE render_job SET lease_expires_at = {NOW} + ?3, heartbeat_at = {NOW} \
             WHERE id = ?1 AND lease_token = ?2 \
             RETURNING lease_expires_at, cancel_requested_at"
        );
        let (_turn, mut tx) = self.write_tx().await?;
        let row = sqlx::query(&sql)
            .bind(id.as_str())
            .bind(lease_token)
            .bind(duration_micros(lease_for))
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let result = match row {
            Some(row) => Ok(Heartbeat {
                lease_expires_at: time(row.try_get("lease_expires_at").map_err(corrupt)?)?,
                cancel_requested: row
                    .try_get::<Option<i64>, _>("cancel_requested_at")
                    .map_err(corrupt)?
                    .is_some(),
            }),
            None => {
                let current = self.find(&mut tx, id, true).await?;
                Err(plan::lease_lost(id, &current.job.status))
            }
        };
        self.commit(tx).await?;
        result
    }

    async fn release(&self, id: &JobId, lease_token: &str, reason: &str) -> Result<StoredJob> {
        let (_turn, mut tx) = self.write_tx().await?;
        let current = self.find(&mut tx, id, true).await?;
        if current.lease_token() != Some(lease_token) {
            return Err(plan::lease_lost(id, &current.job.status));
        }
        let p = plan::plan_release(&current, reason, Utc::now())?;
        let result = self.write_or_explain(&mut tx, &current, &p).await?;
        self.commit(tx).await?;
        Ok(result)
    }

    async fn plan_rescue(&self, limit: u32) -> Result<RescuePlan> {
        plan::check_batch("limit", limit)?;
        let sql = format!(
            "SELECT {COLS} FROM render_job WHERE lease_token IS NOT NULL \
             AND lease_expires_at <= {NOW} ORDER BY lease_expires_at LIMIT ?1"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let now = Utc::now();
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let (_, s) = decode(row)?;
            if let Some(item) = plan::plan_rescue(&s, now)? {
                items.push(item);
            }
        }
        Ok(RescuePlan { items })
    }

    async fn apply_rescue(&self, plan: RescuePlan) -> Result<RescueReport> {
        let mut report = RescueReport::default();
        if plan.items.is_empty() {
            return Ok(report);
        }
        let (_turn, mut tx) = self.write_tx().await?;
        for (p, action) in &plan.items {
            let id = p.next.id.clone();
            match self.write(&mut tx, p).await? {
                None => report.skipped.push(id),
                Some(_) => match action {
                    RescueAction::Requeue => report.requeued.push(id),
                    RescueAction::Fail => report.failed.push(id),
                    RescueAction::Cancel => report.cancelled.push(id),
                },
            }
        }
        self.commit(tx).await?;
        Ok(report)
    }

    async fn cancel(&self, id: &JobId) -> Result<StoredJob> {
        let (_turn, mut tx) = self.write_tx().await?;
        let current = self.find(&mut tx, id, true).await?;
        let result = match plan::plan_cancel(&current, Utc::now())? {
            CancelPlan::Nothing => current,
            CancelPlan::Now(p) => self.write_or_explain(&mut tx, &current, &p).await?,
            CancelPlan::Flag => {
                let sql = format!(
                    "UPDATE render_job SET cancel_requested_at = \
                     COALESCE(cancel_requested_at, {NOW}) WHERE id = ?1 RETURNING {COLS}"
                );
                let row = sqlx::query(&sql)
                    .bind(id.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
                decode(&row)?.1
            }
        };
        self.commit(tx).await?;
        Ok(result)
    }

    async fn prune(&self, older_than: Duration, batch_size: u32) -> Result<u64> {
        plan::check_batch("batch_size", batch_size)?;
        let sql = format!(
            "DELETE FROM render_job WHERE seq IN (SELECT seq FROM render_job \
             WHERE lease_token IS NULL AND ((deleted_at IS NOT NULL AND deleted_at < {NOW} - ?1) \
             OR (status IN ('completed', 'failed', 'cancelled') AND completed_at < {NOW} - ?1)) \
             LIMIT ?2)"
        );
        let mut total = 0;
        loop {
            let (turn, mut tx) = self.write_tx().await?;
            let done = sqlx::query(&sql)
                .bind(duration_micros(older_than.min(plan::MAX_AGE)))
                .bind(i64::from(batch_size))
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?
                .rows_affected();
            self.commit(tx).await?;
            drop(turn);
            total += done;
            if done < u64::from(batch_size) {
                return Ok(total);
            }
        }
    }
}
