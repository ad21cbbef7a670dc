//! The PostgreSQL job store (`postgres://...`): one queue shared by many worker processes
//! on many machines.
//!
//! The claim is one statement (`UPDATE ... FROM (SELECT ... FOR UPDATE SKIP LOCKED)`), so
//! concurrent workers never wait on each other's rows nor claim the same one. Batched
//! writes are one `UPDATE ... FROM UNNEST(...)` statement, each row fenced by its version
//! and lease token. Lease times use the server's clock (`now()`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::plan::{self, CancelPlan, Planned};
use super::{
    redact, CreateOptions, CreatedJob, Heartbeat, JobFilter, JobPage, JobProgress, JobStore,
    JobUpdate, Lease, RescueAction, RescuePlan, RescueReport, StoredJob,
};
use crate::error::{Error, Result};
use crate::job::{JobId, JobStatus, NewRenderJob, Preset, RenderJob};

/// The newest schema version: the last embedded migration's.
pub(crate) const LATEST_VERSION: u32 = MIGRATIONS[MIGRATIONS.len() - 1].0 as u32;

/// The embedded migrations, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "render_job",
        include_str!("../../migrations/postgres/0001_render_job.sql"),
    ),
    (
        2,
        "progress",
        include_str!("../../migrations/postgres/0002_progress.sql"),
    ),
    (
        3,
        "completed_at",
        include_str!("../../migrations/postgres/0003_completed_at.sql"),
    ),
];

/// The connections a store keeps open at most.
const MAX_CONNECTIONS: u32 = 16;

/// How many times a user operation (cancel, delete, restore) re-reads after losing a
/// race with a worker before reporting `E_CONFLICT`.
const USER_RETRIES: usize = 3;

/// The columns of a job row, read through the table alias `t`.
fn cols(t: &str) -> String {
    format!(
        "{t}.seq, {t}.id, {t}.product_id, {t}.variant_id, {t}.status, {t}.design_file_url, \
         {t}.composited_file_url, {t}.rendered_image_url, {t}.animation_url, {t}.preset, \
         {t}.template_id, {t}.error_code, {t}.error_message, {t}.attempt, {t}.max_attempts, \
         {t}.started_at, {t}.completed_at, {t}.metadata::text AS metadata, {t}.created_at, \
         {t}.updated_at, {t}.deleted_at, {t}.priority, {t}.run_at, {t}.version, \
         {t}.lease_owner, {t}.lease_token, {t}.lease_expires_at, {t}.heartbeat_at, \
         {t}.cancel_requested_at, {t}.idempotency_key, {t}.errors::text AS errors, \
         {t}.progress::text AS progress"
    )
}

/// A job store in a PostgreSQL database. See the module documentation of
/// [`crate::store`].
#[derive(Debug)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<String>,
    name: String,
    sql: Statements,
}

/// The statements the hot paths run, built once.
#[derive(Debug)]
struct Statements {
    find: String,
    find_by_key: String,
    write_many: String,
    claim: String,
    plan_rescue: String,
    insert: String,
    flag_cancel: String,
    prune: String,
}

impl Statements {
    fn new() -> Self {
        let j = cols("j");
        Statements {
            find: format!("SELECT {} FROM render_job j WHERE j.id = $1", j),
            find_by_key: format!(
                "SELECT {} FROM render_job j WHERE j.idempotency_key = $1",
                j
            ),
            write_many: format!(
                "UPDATE render_job AS j SET status = u.status, \
                 composited_file_url = u.composited_file_url, \
                 rendered_image_url = u.rendered_image_url, animation_url = u.animation_url, \
                 error_code = u.error_code, error_message = u.error_message, \
                 attempt = u.attempt, started_at = u.started_at, \
                 completed_at = u.completed_at, updated_at = u.updated_at, \
                 deleted_at = u.deleted_at, errors = u.errors::jsonb, \
                 metadata = u.metadata::jsonb, version = j.version + 1, \
                 progress = CASE WHEN u.status IN ('compositing', 'rendering') \
                   THEN j.progress END, \
                 lease_owner = CASE WHEN u.clear_lease THEN NULL ELSE j.lease_owner END, \
                 lease_token = CASE WHEN u.clear_lease THEN NULL ELSE j.lease_token END, \
                 lease_expires_at = CASE WHEN u.clear_lease THEN NULL ELSE j.lease_expires_at END, \
                 heartbeat_at = CASE WHEN u.clear_lease THEN NULL ELSE j.heartbeat_at END, \
                 run_at = CASE WHEN u.backoff_us IS NULL THEN j.run_at \
                   ELSE now() + u.backoff_us * interval '1 microsecond' END \
                 FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bool[], $5::text[], \
                   $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], \
                   $12::timestamptz[], $13::timestamptz[], $14::timestamptz[], \
                   $15::timestamptz[], $16::text[], $17::bool[], $18::bigint[], $19::text[]) \
                 AS u(id, expected_version, expected_token, require_expired, status, \
                   composited_file_url, rendered_image_url, animation_url, error_code, \
                   error_message, attempt, started_at, completed_at, updated_at, deleted_at, \
                   errors, clear_lease, backoff_us, metadata) \
                 WHERE j.id = u.id AND j.version = u.expected_version \
                 AND j.lease_token IS NOT DISTINCT FROM u.expected_token \
                 AND (NOT u.require_expired OR j.lease_expires_at <= now()) \
                 RETURNING {}",
                j
            ),
            claim: format!(
                "UPDATE render_job AS j SET lease_owner = $1, \
                 lease_token = gen_random_uuid()::text, \
                 lease_expires_at = now() + $2 * interval '1 microsecond', \
                 heartbeat_at = now(), version = j.version + 1 \
                 FROM (SELECT seq FROM render_job \
                   WHERE status = 'pending' AND lease_token IS NULL AND deleted_at IS NULL \
                   AND run_at <= now() \
                   ORDER BY priority DESC, run_at, seq LIMIT $3 \
                   FOR UPDATE SKIP LOCKED) AS c \
                 WHERE j.seq = c.seq RETURNING {}",
                j
            ),
            plan_rescue: format!(
                "SELECT {} FROM render_job j WHERE j.lease_token IS NOT NULL \
                 AND j.lease_expires_at <= now() ORDER BY j.lease_expires_at LIMIT $1",
                j
            ),
            insert: format!(
                "INSERT INTO render_job AS j (id, product_id, variant_id, status, \
                 design_file_url, composited_file_url, rendered_image_url, animation_url, \
                 preset, template_id, error_code, error_message, attempt, max_attempts, \
                 started_at, completed_at, metadata, created_at, updated_at, deleted_at, \
                 priority, run_at, idempotency_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17::jsonb, $18, $19, $20, $21, COALESCE($22, now()), $23) \
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING {}",
                j
            ),
            flag_cancel: format!(
                "UPDATE render_job AS j SET cancel_requested_at = \
                 COALESCE(j.cancel_requested_at, now()) \
                 WHERE j.id = $1 AND j.status IN ('compositing', 'rendering') RETURNING {}",
                j
            ),
            prune: "DELETE FROM render_job WHERE seq IN (SELECT seq FROM render_job \
                 WHERE lease_token IS NULL AND ((deleted_at IS NOT NULL \
                 AND deleted_at < now() - $1 * interval '1 microsecond') \
                 OR (status IN ('completed', 'failed', 'cancelled') \
                 AND completed_at < now() - $1 * interval '1 microsecond')) \
                 LIMIT $2 FOR UPDATE SKIP LOCKED)"
                .to_string(),
        }
    }
}

fn duration_micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Runs a script of one or more statements without parameters.
async fn run_script(conn: &mut PgConnection, sql: &str) -> std::result::Result<(), sqlx::Error> {
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

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Reads a row of [`cols`]: its `seq` and the job.
fn decode(row: &PgRow) -> Result<(i64, StoredJob)> {
    let get_str = |c: &str| row.try_get::<String, _>(c).map_err(corrupt);
    let get_opt = |c: &str| row.try_get::<Option<String>, _>(c).map_err(corrupt);
    let get_time = |c: &str| row.try_get::<DateTime<Utc>, _>(c).map_err(corrupt);
    let get_opt_time = |c: &str| row.try_get::<Option<DateTime<Utc>>, _>(c).map_err(corrupt);
    let get_i32 = |c: &str| row.try_get::<i32, _>(c).map_err(corrupt);
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
        attempt: u32::try_from(get_i32("attempt")?).map_err(corrupt)?,
        max_attempts: u32::try_from(get_i32("max_attempts")?).map_err(corrupt)?,
        started_at: get_opt_time("started_at")?,
        completed_at: get_opt_time("completed_at")?,
        metadata,
        created_at: get_time("created_at")?,
        updated_at: get_time("updated_at")?,
        deleted_at: get_opt_time("deleted_at")?,
    };
    let lease = match (get_opt("lease_token")?, get_opt_time("lease_expires_at")?) {
        (Some(token), Some(expires_at)) => Some(Lease {
            owner: get_opt("lease_owner")?.unwrap_or_default(),
            token,
            expires_at,
            heartbeat_at: get_opt_time("heartbeat_at")?.unwrap_or(expires_at),
        }),
        _ => None,
    };
    let progress = plan::progress_from_json(get_opt("progress")?.as_deref(), &job);
    let stored = StoredJob {
        job,
        priority: get_i32("priority")?,
        run_at: get_time("run_at")?,
        version: row.try_get::<i64, _>("version").map_err(corrupt)?,
        lease,
        cancel_requested_at: get_opt_time("cancel_requested_at")?,
        idempotency_key: get_opt("idempotency_key")?,
        errors: plan::errors_from_json(&get_str("errors")?)?,
        progress,
    };
    Ok((row.try_get::<i64, _>("seq").map_err(corrupt)?, stored))
}

/// Splits `?schema=name` off a PostgreSQL URL.
fn split_schema(url: &str) -> Result<(String, Option<String>)> {
    let bad = |why: String| Error::validation("store_url", why);
    let mut parsed = url::Url::parse(url).map_err(|e| {
        bad(format!(
            "`{}` is not a PostgreSQL URL ({e}); use postgres://user@host:5432/database",
            redact(url)
        ))
    })?;
    let mut schema = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| {
            if k == "schema" {
                schema = Some(v.into_owned());
                None
            } else {
                Some((k.into_owned(), v.into_owned()))
            }
        })
        .collect();
    if let Some(s) = &schema {
        let valid = !s.is_empty()
            && s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(bad(format!(
                "schema `{s}` must be 1 to 63 characters of a-z, 0-9 and _, not starting \
                 with a digit"
            )));
        }
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((parsed.to_string(), schema))
}

impl PostgresStore {
    /// Connects to the PostgreSQL database at `url` and runs the migrations. With
    /// `?schema=name` the tables live in that schema (created if missing).
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects without touching the schema.
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let (base, schema) = split_schema(url)?;
        let mut options: PgConnectOptions = base.parse().map_err(|e| {
            Error::validation(
                "store_url",
                format!(
                    "`{}` is not a PostgreSQL URL ({e}); use postgres://user@host:5432/database",
                    redact(url)
                ),
            )
        })?;
        if let Some(s) = &schema {
            options = options.options([("search_path", s.as_str())]);
        }
        let name = redact(url);
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            // A connection handed back inside a transaction nobody owns any more is closed
            // (which rolls it back), never pooled for the next caller.
            .after_release(|conn, _| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            .connect_with(options)
            .await
            .map_err(|e| {
                Error::store(format!(
                    "cannot connect to PostgreSQL at `{name}`: {e}; check that the server is \
                     running and the URL (user, host, port, database) is right"
                ))
                .caused_by(e)
            })?;
        Ok(PostgresStore {
            pool,
            schema,
            name,
            sql: Statements::new(),
        })
    }

    fn err(&self, e: sqlx::Error) -> Error {
        Error::store(format!("PostgreSQL `{}`: {e}", self.name)).caused_by(e)
    }

    async fn find_opt(&self, conn: &mut PgConnection, id: &JobId) -> Result<Option<StoredJob>> {
        let row = sqlx::query(&self.sql.find)
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| decode(&r)).transpose()?.map(|(_, s)| s))
    }

    async fn find(&self, id: &JobId, include_deleted: bool) -> Result<StoredJob> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        match self.find_opt(&mut conn, id).await? {
            Some(s) if include_deleted || s.job.deleted_at.is_none() => Ok(s),
            _ => Err(Error::NotFound {
                what: "render job",
                id: id.to_string(),
            }),
        }
    }

    /// The guarded batch write: one statement; the jobs it changed, by id.
    async fn write_many(&self, plans: &[&Planned]) -> Result<Vec<StoredJob>> {
        if plans.is_empty() {
            return Ok(Vec::new());
        }
        let n = plans.len();
        let mut ids = Vec::with_capacity(n);
        let mut versions = Vec::with_capacity(n);
        let mut tokens = Vec::with_capacity(n);
        let mut require_expired = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut composited = Vec::with_capacity(n);
        let mut rendered = Vec::with_capacity(n);
        let mut animation = Vec::with_capacity(n);
        let mut codes = Vec::with_capacity(n);
        let mut messages = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut started = Vec::with_capacity(n);
        let mut completed = Vec::with_capacity(n);
        let mut updated = Vec::with_capacity(n);
        let mut deleted = Vec::with_capacity(n);
        let mut errors = Vec::with_capacity(n);
        let mut clear = Vec::with_capacity(n);
        let mut backoff = Vec::with_capacity(n);
        let mut metadata: Vec<Option<String>> = Vec::with_capacity(n);
        for p in plans {
            let j = &p.next;
            ids.push(j.id.to_string());
            versions.push(p.expected_version);
            tokens.push(p.expected_token.clone());
            require_expired.push(p.require_expired);
            statuses.push(j.status.as_str().to_string());
            composited.push(j.composited_file_url.clone());
            rendered.push(j.rendered_image_url.clone());
            animation.push(j.animation_url.clone());
            codes.push(j.error_code.clone());
            messages.push(j.error_message.clone());
            attempts.push(i32::try_from(j.attempt).unwrap_or(i32::MAX));
            started.push(j.started_at);
            completed.push(j.completed_at);
            updated.push(j.updated_at);
            deleted.push(j.deleted_at);
            errors.push(plan::errors_to_json(&p.errors));
            clear.push(p.clear_lease);
            backoff.push(p.backoff.map(duration_micros));
            metadata.push(
                j.metadata
                    .as_ref()
                    .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "{}".into())),
            );
        }
        let rows = sqlx::query(&self.sql.write_many)
            .bind(ids)
            .bind(versions)
            .bind(tokens)
            .bind(require_expired)
            .bind(statuses)
            .bind(composited)
            .bind(rendered)
            .bind(animation)
            .bind(codes)
            .bind(messages)
            .bind(attempts)
            .bind(started)
            .bind(completed)
            .bind(updated)
            .bind(deleted)
            .bind(errors)
            .bind(clear)
            .bind(backoff)
            .bind(metadata)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| decode(r).map(|(_, s)| s)).collect()
    }

    /// One guarded write on `current`, explained when it finds nothing to change.
    async fn write_one(&self, current: &StoredJob, p: &Planned) -> Result<StoredJob> {
        match self.write_many(&[p]).await?.pop() {
            Some(s) => Ok(s),
            None => {
                let actual = self.find(current.id(), true).await.ok();
                Err(plan::diagnose(current, actual.as_ref()))
            }
        }
    }
}

#[async_trait::async_trait]
impl JobStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        // One migrator at a time per database (and schema).
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('render_engine_migrations:' || $1))")
            .bind(self.schema.as_deref().unwrap_or("public"))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        if let Some(schema) = &self.schema {
            run_script(
                &mut tx,
                &format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
            )
            .await
            .map_err(|e| self.err(e))?;
        }
        run_script(
            &mut tx,
            "CREATE TABLE IF NOT EXISTS render_engine_migrations (\
             version bigint PRIMARY KEY, name text NOT NULL, \
             applied_at timestamptz NOT NULL DEFAULT now())",
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
                    "PostgreSQL `{}`: migration {version} ({name}) failed: {e}",
                    self.name
                ))
                .caused_by(e)
            })?;
            sqlx::query("INSERT INTO render_engine_migrations (version, name) VALUES ($1, $2)")
                .bind(version)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn pending_migrations(&self) -> Result<Vec<u32>> {
        // `to_regclass` follows the search path (the `?schema=`), and is NULL rather
        // than an error when the table or the schema does not exist.
        let has_table: bool =
            sqlx::query_scalar("SELECT to_regclass('render_engine_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        let applied: Vec<i64> = if has_table {
            sqlx::query_scalar("SELECT version FROM render_engine_migrations")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?
        } else {
            Vec::new()
        };
        Ok(MIGRATIONS
            .iter()
            .filter(|m| !applied.contains(&m.0))
            .map(|m| m.0 as u32)
            .collect())
    }

    async fn now(&self) -> Result<DateTime<Utc>> {
        sqlx::query_scalar("SELECT now()")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }

    async fn create(&self, new: NewRenderJob, options: CreateOptions) -> Result<CreatedJob> {
        plan::check_idempotency_key(options.idempotency_key.as_deref())?;
        let job = new.into_job(Utc::now())?;
        let metadata = job
            .metadata
            .as_ref()
            .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "{}".into()));
        for _ in 0..USER_RETRIES {
            let row = sqlx::query(&self.sql.insert)
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
                .bind(i32::try_from(job.attempt).unwrap_or(i32::MAX))
                .bind(i32::try_from(job.max_attempts).unwrap_or(i32::MAX))
                .bind(job.started_at)
                .bind(job.completed_at)
                .bind(metadata.as_deref())
                .bind(job.created_at)
                .bind(job.updated_at)
                .bind(job.deleted_at)
                .bind(options.priority)
                .bind(options.run_at)
                .bind(options.idempotency_key.as_deref())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        Error::Conflict(format!(
                            "a render job with id `{}` already exists; choose another id or \
                             omit it",
                            job.id
                        ))
                    } else {
                        self.err(e)
                    }
                })?;
            if let Some(row) = row {
                return Ok(CreatedJob {
                    job: decode(&row)?.1,
                    created: true,
                });
            }
            // The idempotency key is taken: return that job.
            let existing = sqlx::query(&self.sql.find_by_key)
                .bind(options.idempotency_key.as_deref())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
            if let Some(row) = existing {
                return Ok(CreatedJob {
                    job: decode(&row)?.1,
                    created: false,
                });
            }
            // The job with that key was pruned between the two statements: try again.
        }
        Err(Error::Conflict(format!(
            "the idempotency key {:?} is being created and pruned concurrently; try again",
            options.idempotency_key
        )))
    }

    async fn get(&self, id: &JobId) -> Result<StoredJob> {
        self.find(id, false).await
    }

    async fn get_including_deleted(&self, id: &JobId) -> Result<StoredJob> {
        self.find(id, true).await
    }

    async fn delete(&self, id: &JobId) -> Result<StoredJob> {
        let mut last = None;
        for _ in 0..USER_RETRIES {
            let current = self.find(id, true).await?;
            let Some(p) = plan::plan_delete(&current, Utc::now())? else {
                return Ok(current);
            };
            match self.write_one(&current, &p).await {
                Err(e @ Error::Conflict(_)) => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("at least one try"))
    }

    async fn restore(&self, id: &JobId) -> Result<StoredJob> {
        let mut last = None;
        for _ in 0..USER_RETRIES {
            let current = self.find(id, true).await?;
            let Some(p) = plan::plan_restore(&current, Utc::now()) else {
                return Ok(current);
            };
            match self.write_one(&current, &p).await {
                Err(e @ Error::Conflict(_)) => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("at least one try"))
    }

    async fn list(&self, filter: &JobFilter) -> Result<JobPage> {
        let request = plan::check_filter(filter)?;
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {} FROM render_job j WHERE TRUE",
            cols("j")
        ));
        if !filter.include_deleted {
            q.push(" AND j.deleted_at IS NULL");
        }
        if let Some(p) = &filter.product_id {
            q.push(" AND j.product_id = ").push_bind(p.clone());
        }
        if let Some(v) = &filter.variant_id {
            q.push(" AND j.variant_id = ").push_bind(v.clone());
        }
        if !filter.statuses.is_empty() {
            let statuses: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| s.as_str().to_string())
                .collect();
            q.push(" AND j.status = ANY(").push_bind(statuses).push(")");
        }
        if let Some(t) = filter.created_after {
            q.push(" AND j.created_at >= ").push_bind(t);
        }
        if let Some(t) = filter.created_before {
            q.push(" AND j.created_at < ").push_bind(t);
        }
        if let Some(t) = filter.completed_after {
            q.push(" AND j.completed_at >= ").push_bind(t);
        }
        if let Some((at, id)) = &request.after {
            q.push(" AND (j.created_at, j.id) < (")
                .push_bind(*at)
                .push(", ")
                .push_bind(id.clone())
                .push(")");
        }
        q.push(" ORDER BY j.created_at DESC, j.id DESC LIMIT ")
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
        let to_write: Vec<&Planned> = plans.iter().filter_map(|p| p.as_ref().ok()).collect();
        let written = self.write_many(&to_write).await?;
        let mut by_id: std::collections::HashMap<String, StoredJob> = written
            .into_iter()
            .map(|s| (s.job.id.to_string(), s))
            .collect();
        let mut results = Vec::with_capacity(updates.len());
        for (u, p) in updates.iter().zip(plans) {
            let result = match p {
                Err(e) => Err(e),
                Ok(_) => match by_id.remove(u.current.id().as_str()) {
                    Some(s) => Ok(s),
                    None => {
                        let actual = match self.find(u.current.id(), true).await {
                            Ok(s) => Some(s),
                            Err(Error::NotFound { .. }) => None,
                            Err(e) => return Err(e),
                        };
                        Err(plan::diagnose(u.current, actual.as_ref()))
                    }
                },
            };
            results.push(result);
        }
        Ok(results)
    }

    async fn claim(&self, worker: &str, limit: u32, lease_for: Duration) -> Result<Vec<StoredJob>> {
        plan::check_claim(worker, limit, lease_for)?;
        let rows = sqlx::query(&self.sql.claim)
            .bind(worker)
            .bind(duration_micros(lease_for))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
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
        let written = sqlx::query(
            "UPDATE render_job SET progress = $1::jsonb WHERE id = $2 AND lease_owner = $3 \
             AND attempt = $4 AND status IN ('compositing', 'rendering') AND deleted_at IS NULL",
        )
        .bind(plan::progress_to_json(progress))
        .bind(id.as_str())
        .bind(worker)
        .bind(i32::try_from(progress.attempt).unwrap_or(i32::MAX))
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .rows_affected();
        Ok(written == 1)
    }

    async fn heartbeat(
        &self,
        id: &JobId,
        lease_token: &str,
        lease_for: Duration,
    ) -> Result<Heartbeat> {
        plan::check_lease_for(lease_for)?;
        let row = sqlx::query(
            "UPDATE render_job SET lease_expires_at = now() + $3 * interval '1 microsecond', \
             heartbeat_at = now() WHERE id = $1 AND lease_token = $2 \
             RETURNING lease_expires_at, cancel_requested_at",
        )
        .bind(id.as_str())
        .bind(lease_token)
        .bind(duration_micros(lease_for))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        match row {
            Some(row) => Ok(Heartbeat {
                lease_expires_at: row.try_get("lease_expires_at").map_err(corrupt)?,
                cancel_requested: row
                    .try_get::<Option<DateTime<Utc>>, _>("cancel_requested_at")
                    .map_err(corrupt)?
                    .is_some(),
            }),
            None => {
                let current = self.find(id, true).await?;
                Err(plan::lease_lost(id, &current.job.status))
            }
        }
    }

    async fn release(&self, id: &JobId, lease_token: &str, reason: &str) -> Result<StoredJob> {
        let current = self.find(id, true).await?;
        if current.lease_token() != Some(lease_token) {
            return Err(plan::lease_lost(id, &current.job.status));
        }
        let p = plan::plan_release(&current, reason, Utc::now())?;
        self.write_one(&current, &p).await
    }

    async fn plan_rescue(&self, limit: u32) -> Result<RescuePlan> {
        plan::check_batch("limit", limit)?;
        let rows = sqlx::query(&self.sql.plan_rescue)
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
        let plans: Vec<&Planned> = plan.items.iter().map(|(p, _)| p).collect();
        let written: std::collections::HashSet<JobId> = self
            .write_many(&plans)
            .await?
            .into_iter()
            .map(|s| s.job.id)
            .collect();
        let mut report = RescueReport::default();
        for (p, action) in &plan.items {
            let id = p.next.id.clone();
            if !written.contains(&id) {
                report.skipped.push(id);
                continue;
            }
            match action {
                RescueAction::Requeue => report.requeued.push(id),
                RescueAction::Fail => report.failed.push(id),
                RescueAction::Cancel => report.cancelled.push(id),
            }
        }
        Ok(report)
    }

    async fn cancel(&self, id: &JobId) -> Result<StoredJob> {
        let mut last = None;
        for _ in 0..USER_RETRIES {
            let current = self.find(id, true).await?;
            match plan::plan_cancel(&current, Utc::now())? {
                CancelPlan::Nothing => return Ok(current),
                CancelPlan::Now(p) => match self.write_one(&current, &p).await {
                    Err(e @ (Error::Conflict(_) | Error::LeaseLost(_))) => last = Some(e),
                    other => return other,
                },
                CancelPlan::Flag => {
                    let row = sqlx::query(&self.sql.flag_cancel)
                        .bind(id.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(|e| self.err(e))?;
                    match row {
                        Some(row) => return Ok(decode(&row)?.1),
                        None => {
                            last = Some(Error::Conflict(format!(
                                "render job `{id}` kept changing while it was being cancelled; \
                                 try again"
                            )))
                        }
                    }
                }
            }
        }
        Err(last.expect("at least one try"))
    }

    async fn prune(&self, older_than: Duration, batch_size: u32) -> Result<u64> {
        plan::check_batch("batch_size", batch_size)?;
        let mut total = 0;
        loop {
            let done = sqlx::query(&self.sql.prune)
                .bind(duration_micros(older_than.min(plan::MAX_AGE)))
                .bind(i64::from(batch_size))
                .execute(&self.pool)
                .await
                .map_err(|e| self.err(e))?
                .rows_affected();
            total += done;
            if done < u64::from(batch_size) {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_split_off_and_checked() {
        let (base, schema) =
            split_schema("postgres://postgres@127.0.0.1:5432/test?schema=abc_1").unwrap();
        assert_eq!(base, "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(schema.as_deref(), Some("abc_1"));
        let (base, schema) = split_schema("postgres://u@h/db?sslmode=disable&schema=s").unwrap();
        assert_eq!(base, "postgres://u@h/db?sslmode=disable");
        assert_eq!(schema.as_deref(), Some("s"));
        for bad in ["x;drop", "1abc", "", "A"] {
            let err = split_schema(&format!("postgres://h/db?schema={bad}")).unwrap_err();
            assert_eq!(err.code(), "E_VALIDATION");
        }
    }
}
