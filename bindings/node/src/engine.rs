//! The `RenderEngine` class: the full pipeline (job store, blob storage, workers,
//! progress events) behind a JS object.
//!
//! Every method returns a Promise resolved on the engine's tokio runtime; bad arguments
//! reject it with `E_VALIDATION`. Jobs come back as plain objects with the Rust JSON's
//! snake_case fields and ISO 8601 timestamp strings.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use render_engine::render::View;
use render_engine::{
    DesignSource, Engine, EngineConfig, Error, GarmentColor, HttpDesigns, IpRange, JobFilter,
    JobId, JobStatus, MigrationMode, OutputSelection, Preset, RendererKind, Result, StoredJob,
    Submission, TemplatePack, Workers,
};
use tokio::sync::broadcast::error::RecvError;

use crate::convert;
use crate::error::{invalid, to_js};
use crate::functions::template_info;
use crate::types::TemplateInfo;

/// Which outputs the engine's jobs produce (the atlas and the front still always are).
#[napi(object)]
pub struct EngineOutputs {
    /// Store the print file (default true).
    pub print_file: Option<bool>,
    /// Store the back and three-quarter stills too (default true).
    pub all_stills: Option<bool>,
    /// Render the turntable as MP4 and WebP (default true).
    pub turntable: Option<bool>,
}

/// How `http(s)://` designs are downloaded, for `httpDesigns` given as an object (which
/// turns downloads on). Every address a host resolves to is checked and the connection
/// goes only to checked addresses; redirects are checked again at every hop.
#[napi(object)]
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpDesignOptions {
    /// IP ranges in CIDR notation (`'127.0.0.1/32'`, `'10.0.0.0/8'`, `'::1/128'`; a bare
    /// address is one host) that designs may come from although they are refused by
    /// default: loopback, private (RFC 1918, CGNAT, IPv6 unique-local), link-local (the
    /// cloud metadata address), unspecified, multicast and reserved addresses. Default
    /// none: only public servers.
    pub allow_ranges: Option<Vec<String>>,
    /// The time limit of one download, redirects included, in milliseconds (default
    /// 20 000).
    pub timeout_ms: Option<f64>,
    /// How many redirects are followed (default 3; 0 follows none).
    pub max_redirects: Option<f64>,
}

/// How to open a `RenderEngine`.
#[napi(object)]
pub struct EngineOptions {
    /// The job store URL: `sqlite:///path/jobs.db`, `postgres://...` or `memory:`.
    pub database: String,
    /// The folder for designs and outputs (created if missing).
    pub data_dir: String,
    /// Where designs and outputs are kept: a folder, a `file://` URL or
    /// `s3://bucket/prefix?region=..&endpoint=..&path_style=true` (credentials from the
    /// AWS environment variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, ...).
    /// Default: `blobs/` in `dataDir`. An unreachable endpoint or a missing bucket is
    /// `E_STORAGE` at open; a malformed URL `E_VALIDATION` on `storage`.
    pub storage: Option<String>,
    /// The public base URL under which the storage's files are served (job URLs are
    /// `{publicBaseUrl}/{key}`); without it, `file://` URLs for a folder and presigned
    /// GET URLs for a bucket.
    pub public_base_url: Option<String>,
    /// How long presigned GET URLs of a bucket stay valid, in seconds (default and
    /// maximum 604800, 7 days).
    pub presign_expires_secs: Option<f64>,
    /// The renderer: `baked` (the embedded default, no Blender needed) or `blender` (a
    /// live Blender found on the PATH; `E_RENDERER_UNAVAILABLE` without one).
    pub renderer: Option<String>,
    /// How many jobs run at once (default 2).
    pub concurrency: Option<u32>,
    /// The time limit of one attempt, in milliseconds.
    pub job_timeout_ms: Option<f64>,
    /// Attempts a job gets before it fails for good (default 3).
    pub max_attempts: Option<u32>,
    /// How long a worker's claim on a job lasts without a heartbeat, in milliseconds.
    pub lease_ms: Option<f64>,
    /// How often a worker heartbeats, in milliseconds (shorter than `leaseMs`).
    pub heartbeat_ms: Option<f64>,
    /// How long an idle worker waits before looking for jobs again, in milliseconds.
    pub poll_ms: Option<f64>,
    /// The largest design accepted, in bytes (default 10 MiB).
    pub max_design_bytes: Option<f64>,
    /// The folder `file://` design URLs must be inside (none allowed without it).
    pub allowed_file_root: Option<String>,
    /// Whether `createJob` accepts `http://` and `https://` design URLs, which the engine
    /// downloads (default `false`: refused with `E_VALIDATION`). `true` downloads from
    /// public servers only, with a 20 s limit and up to 3 redirects; an object turns
    /// downloads on with its settings, e.g. `{ allowRanges: ['10.0.0.0/8'] }` for a
    /// store on the private network. A refused address is `E_VALIDATION` on `design`.
    #[napi(ts_type = "boolean | HttpDesignOptions")]
    pub http_designs: Option<serde_json::Value>,
    /// Extra template packs jobs may name in `template_id`: each the path of a pack
    /// folder (holding `template.json`) or a built-in id. The built-in garments
    /// (`classic-tee`, `long-sleeve-tee`, `hoodie`) are always available unless a pack
    /// here has the same id and replaces one. A folder that is not a valid pack is
    /// `E_VALIDATION` on `templates[i]`.
    #[napi(ts_type = "Array<string>")]
    pub templates: Option<serde_json::Value>,
    /// This process's worker name in leases (default: host and process id).
    pub worker_name: Option<String>,
    /// Which outputs jobs produce.
    pub outputs: Option<EngineOutputs>,
    /// Whether `open` runs the job store's migrations (default `true`). `false` only
    /// checks that the schema is current and rejects with `E_STORE`, saying how to
    /// migrate, when it is behind: for processes that start often (every command of an
    /// application's CLI) while migrations run once per deployment, with
    /// `RenderEngine.migrate({ database })` or `render-engine migrate --database URL`.
    pub migrate: Option<bool>,
}

/// Which job store `RenderEngine.migrate` migrates.
#[napi(object)]
pub struct MigrateOptions {
    /// The job store URL, as `EngineOptions.database` names it: `sqlite:///path/jobs.db`
    /// (the file is created if missing), `postgres://...` (`?schema=name` too) or
    /// `memory:`.
    pub database: String,
}

/// What `RenderEngine.migrate` did.
#[napi(object)]
pub struct MigrationReport {
    /// The migrations that were pending, by version, oldest first (empty when the schema
    /// was already current).
    pub applied: Vec<u32>,
    /// The schema version the store is at now.
    pub version: u32,
}

/// `listJobs`'s filter as JS gives it: every field optional, `undefined` and `null`
/// meaning "no condition" (its TypeScript type is `JobFilter` in the header).
#[derive(Default, serde::Deserialize)]
struct JobFilterInput {
    product_id: Option<String>,
    variant_id: Option<String>,
    statuses: Option<Vec<JobStatus>>,
    created_after: Option<chrono::DateTime<chrono::Utc>>,
    created_before: Option<chrono::DateTime<chrono::Utc>>,
    completed_after: Option<chrono::DateTime<chrono::Utc>>,
    include_deleted: Option<bool>,
    limit: Option<u32>,
    cursor: Option<String>,
}

impl From<JobFilterInput> for JobFilter {
    fn from(f: JobFilterInput) -> JobFilter {
        let mut filter = JobFilter::default();
        filter.product_id = f.product_id;
        filter.variant_id = f.variant_id;
        filter.statuses = f.statuses.unwrap_or_default();
        filter.created_after = f.created_after;
        filter.created_before = f.created_before;
        filter.completed_after = f.completed_after;
        filter.include_deleted = f.include_deleted.unwrap_or(false);
        filter.limit = f.limit;
        filter.cursor = f.cursor;
        filter
    }
}

/// A job to create. Fields are snake_case, like the job itself.
#[napi(object)]
pub struct CreateJobInput {
    /// The Medusa product the renders are for.
    #[napi(js_name = "product_id")]
    pub product_id: String,
    /// The Medusa variant, if any.
    #[napi(js_name = "variant_id")]
    pub variant_id: Option<String>,
    /// The placement preset: `chest-large`, `dead-center-medium` or `back-small`.
    pub preset: String,
    /// The template id (the built-in `classic-tee` when absent).
    #[napi(js_name = "template_id")]
    pub template_id: Option<String>,
    /// The garment colour as `#rrggbb` (white when absent).
    pub color: Option<String>,
    /// Free metadata kept on the job (an object).
    #[napi(ts_type = "Record<string, unknown>")]
    pub metadata: Option<serde_json::Value>,
    /// The design: its bytes, a `file://` URL inside `allowedFileRoot`, or an
    /// `http(s)://` URL when the engine was opened with `httpDesigns`.
    pub design: Either<Buffer, String>,
    /// Creating twice with the same key makes one job.
    #[napi(js_name = "idempotency_key")]
    pub idempotency_key: Option<String>,
    /// Higher runs first (default 0).
    pub priority: Option<i32>,
}

/// One progress step of one job. The final state comes from the job (`getJob`), not
/// from the last event: events can be missed by a slow listener.
#[napi(object)]
pub struct ProgressEvent {
    /// The job.
    #[napi(js_name = "job_id")]
    pub job_id: String,
    /// The attempt (1-based) the event belongs to.
    pub attempt: u32,
    /// The job's status when the event was sent.
    #[napi(ts_type = "JobStatus")]
    pub status: String,
    /// The pipeline step: `claimed`, `compositing`, `rendering`, `encoding`, `storing`,
    /// `completed`, `retrying`, `failed`, `cancelled` or `released`.
    pub stage: String,
    /// How far the attempt is, 0 to 100; never goes down within an attempt.
    pub percent: u32,
    /// A short human message ("rendering frame 12 of 24").
    pub message: String,
    /// The estimated time left in milliseconds, once some progress has been made.
    #[napi(js_name = "eta_ms")]
    pub eta_ms: Option<f64>,
}

/// What the workers did, as `stop()` reports it (job ids per outcome).
#[napi(object)]
pub struct ShutdownSummary {
    /// Jobs that completed.
    pub completed: Vec<String>,
    /// Jobs that failed for good.
    pub failed: Vec<String>,
    /// Jobs whose attempt failed and that were scheduled for a retry.
    pub retrying: Vec<String>,
    /// Jobs that were cancelled.
    pub cancelled: Vec<String>,
    /// Jobs given back to the queue at shutdown.
    pub released: Vec<String>,
    /// Jobs whose lease was lost.
    pub lost: Vec<String>,
}

type ProgressCallback = ThreadsafeFunction<ProgressEvent, (), ProgressEvent, Status, false, true>;

/// One `onProgress` registration: the callback (to find it again in `offProgress`) and
/// the task forwarding events to it.
struct Listener {
    id: u64,
    callback: FunctionRef<ProgressEvent, ()>,
    forward: tokio::task::JoinHandle<()>,
}

/// The progress listeners of one engine, shared with the unsubscribe functions
/// `onProgress` returns.
#[derive(Default)]
struct Listeners {
    next_id: u64,
    active: Vec<Listener>,
}

impl Listeners {
    /// Stops and forgets the listeners `remove` selects; returns how many.
    fn remove(&mut self, mut remove: impl FnMut(&Listener) -> bool) -> usize {
        let before = self.active.len();
        self.active.retain(|l| {
            let gone = remove(l);
            if gone {
                l.forward.abort();
            }
            !gone
        });
        before - self.active.len()
    }
}

type SharedListeners = Arc<Mutex<Listeners>>;

fn lock(listeners: &SharedListeners) -> napi::Result<std::sync::MutexGuard<'_, Listeners>> {
    listeners
        .lock()
        .map_err(|_| napi::Error::from_reason("progress listeners poisoned"))
}

/// The render pipeline: create jobs, run workers in this process, follow progress.
#[napi]
pub struct RenderEngine {
    engine: Engine,
    workers: Arc<tokio::sync::Mutex<Option<Workers>>>,
    listeners: SharedListeners,
}

/// Runs `work` on the engine's runtime and settles a Promise with `convert`ed output or
/// the engine error as a JS error.
fn promise<'env, T, V, F>(
    env: &'env Env,
    work: F,
    convert: impl FnOnce(T) -> Result<V> + 'static,
) -> napi::Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    env.spawn_future_with_callback(
        async move { Ok(crate::guard::guard_future(work).await) },
        move |env, out| crate::guard::guard(|| out.and_then(convert)).map_err(|e| to_js(env, e)),
    )
}

/// A stored job as JavaScript sees it: the `RenderJob` fields plus the running attempt's
/// `progress` (null when not running), every failed attempt's error (`errors`), the
/// typed `outputs` (empty until completed) and `preflight` findings (null until recorded).
fn job_json(job: StoredJob) -> Result<serde_json::Value> {
    let mut value = convert::to_json(&job.job)?;
    if let serde_json::Value::Object(fields) = &mut value {
        fields.insert("progress".into(), convert::to_json(&job.progress)?);
        fields.insert("errors".into(), convert::to_json(&job.errors)?);
        fields.insert("outputs".into(), convert::to_json(&job.outputs())?);
        fields.insert("preflight".into(), convert::to_json(&job.preflight())?);
    }
    Ok(value)
}

fn millis(value: Option<f64>, field: &str) -> Result<Option<Duration>> {
    let Some(ms) = value else {
        return Ok(None);
    };
    // `try_from`: a number too large for a Duration is refused, not a panic.
    match Duration::try_from_secs_f64(ms / 1000.0) {
        Ok(d) if ms > 0.0 => Ok(Some(d)),
        _ => Err(invalid(
            field,
            format!("must be a positive number of milliseconds (got {ms})"),
        )),
    }
}

impl TryFrom<HttpDesignOptions> for HttpDesigns {
    type Error = Error;

    fn try_from(o: HttpDesignOptions) -> Result<HttpDesigns> {
        const FIELD: &str = "httpDesigns";
        let mut http = HttpDesigns::enabled();
        for (i, text) in o.allow_ranges.iter().flatten().enumerate() {
            let range = text
                .parse::<IpRange>()
                .map_err(|e| e.on_field(&format!("{FIELD}.allowRanges[{i}]")))?;
            http = http.allow(range);
        }
        if let Some(t) = millis(o.timeout_ms, &format!("{FIELD}.timeoutMs"))? {
            http = http.with_timeout(t);
        }
        if let Some(n) = o.max_redirects {
            if n.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&n) {
                return Err(invalid(
                    &format!("{FIELD}.maxRedirects"),
                    format!("must be a whole number of redirects, 0 or more (got {n})"),
                ));
            }
            http = http.with_max_redirects(n as u32);
        }
        Ok(http)
    }
}

/// The `httpDesigns` option: absent, `null` or `false` (off), `true` (on, defaults) or a
/// [`HttpDesignOptions`] object (on, with its settings).
fn http_designs(value: Option<serde_json::Value>) -> Result<Option<HttpDesigns>> {
    const EXPECTED: &str = "must be true, false or { allowRanges?, timeoutMs?, maxRedirects? }";
    match value {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => Ok(None),
        Some(serde_json::Value::Bool(true)) => Ok(Some(HttpDesigns::enabled())),
        // The settings object, typed: a wrong field is reported on its own path.
        Some(object @ serde_json::Value::Object(_)) => {
            let settings: Option<HttpDesignOptions> =
                convert::from_json(Some(object), "httpDesigns", EXPECTED)?;
            settings.map(HttpDesigns::try_from).transpose()
        }
        Some(other) => Err(invalid("httpDesigns", format!("{EXPECTED} (got {other})"))),
    }
}

/// The core's names of engine options in validation errors, as `EngineOptions` spells them.
fn js_option_names(error: Error) -> Error {
    match error {
        Error::Validation(fields) => Error::Validation(
            fields
                .into_iter()
                .map(|f| {
                    let field = match f.field.as_str() {
                        "public_base_url" => "publicBaseUrl".to_string(),
                        "presign_expires" => "presignExpiresSecs".to_string(),
                        _ => f.field,
                    };
                    render_engine::FieldError::new(field, f.message)
                })
                .collect(),
        ),
        other => other,
    }
}

impl TryFrom<EngineOptions> for EngineConfig {
    type Error = Error;

    fn try_from(options: EngineOptions) -> Result<EngineConfig> {
        let mut config = EngineConfig::new(options.data_dir).with_store_url(options.database);
        if let Some(url) = options.storage {
            config = config.with_storage_url(url);
        }
        if let Some(url) = options.public_base_url {
            config = config.with_public_base_url(url);
        }
        if let Some(secs) = options.presign_expires_secs {
            if !(secs.is_finite() && (1.0..=604_800.0).contains(&secs)) {
                return Err(invalid(
                    "presignExpiresSecs",
                    "must be a number of seconds between 1 and 604800 (7 days)",
                ));
            }
            config = config.with_presign_expires(std::time::Duration::from_secs_f64(secs));
        }
        if let Some(kind) = &options.renderer {
            kind.parse::<RendererKind>()?;
        }
        if let Some(n) = options.concurrency {
            config = config.with_concurrency(n as usize);
        }
        if let Some(t) = millis(options.job_timeout_ms, "jobTimeoutMs")? {
            config = config.with_job_timeout(t);
        }
        if let Some(n) = options.max_attempts {
            config = config.with_max_attempts(n);
        }
        let lease = millis(options.lease_ms, "leaseMs")?;
        let heartbeat = millis(options.heartbeat_ms, "heartbeatMs")?;
        if lease.is_some() || heartbeat.is_some() {
            let lease = lease.unwrap_or(config.lease_for);
            let every = heartbeat.unwrap_or(config.heartbeat_every);
            config = config.with_lease(lease, every);
        }
        if let Some(p) = millis(options.poll_ms, "pollMs")? {
            config = config.with_poll_every(p);
        }
        if let Some(bytes) = options.max_design_bytes {
            if !(bytes.is_finite() && bytes >= 1.0) {
                return Err(invalid(
                    "maxDesignBytes",
                    "must be a positive number of bytes",
                ));
            }
            config = config.with_max_design_bytes(bytes as u64);
        }
        if let Some(root) = options.allowed_file_root {
            config = config.with_allowed_file_root(root);
        }
        if let Some(name) = options.worker_name {
            config = config.with_worker_name(name);
        }
        if let Some(http) = http_designs(options.http_designs)? {
            config = config.with_http_designs(http);
        }
        if options.migrate == Some(false) {
            config = config.with_migrations(MigrationMode::RequireCurrent);
        }
        if let Some(o) = options.outputs {
            let stills = if o.all_stills.unwrap_or(true) {
                View::ALL.to_vec()
            } else {
                vec![View::Front]
            };
            let turntable = o.turntable.unwrap_or(true);
            config = config.with_outputs(
                OutputSelection::all()
                    .with_print_file(o.print_file.unwrap_or(true))
                    .with_stills(stills)
                    .with_turntable(turntable, turntable),
            );
        }
        Ok(config)
    }
}

/// The `templates` option: an array of pack folders or ids (absent or `null`: none).
fn template_dirs(value: Option<serde_json::Value>) -> Result<Vec<String>> {
    let dirs: Option<Vec<String>> = convert::from_json(
        value,
        "templates",
        "must be an array of template pack folders",
    )?;
    Ok(dirs.unwrap_or_default())
}

/// Refuses a `file://` or `http(s)://` design this engine was not opened to accept, with a
/// message in terms of the JS options (the core's names the Rust builder methods).
fn check_design_url(design: &DesignSource, config: &EngineConfig) -> Result<()> {
    let DesignSource::Url(url) = design else {
        return Ok(());
    };
    // The same parser the engine uses, so both agree on the scheme.
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(()); // the engine says why it is not a URL
    };
    match parsed.scheme() {
        "http" | "https" if !config.http.enabled => Err(invalid(
            "design",
            "http(s) design URLs are refused: this engine was opened without downloads; open it \
             with `httpDesigns: true` (public servers only) or `httpDesigns: { allowRanges: \
             ['10.0.0.0/8'] }` for a server on a private network, or pass the design's bytes",
        )),
        "file" if config.allowed_file_root.is_none() => Err(invalid(
            "design",
            "file:// designs are refused: this engine was opened without `allowedFileRoot`; \
             open it with `allowedFileRoot: '/folder/of/designs'` or pass the design's bytes",
        )),
        _ => Ok(()),
    }
}

fn submission(input: CreateJobInput) -> Result<Submission> {
    let preset = Preset::parse_field(&input.preset, "preset")?;
    let design = match input.design {
        Either::A(bytes) => DesignSource::Bytes(bytes.to_vec()),
        Either::B(url) => DesignSource::Url(url),
    };
    let mut submission = Submission::new(input.product_id, preset, design);
    submission.variant_id = input.variant_id;
    submission.template_id = input.template_id;
    if let Some(color) = input.color {
        submission.color = Some(GarmentColor::parse_field(&color, "color")?);
    }
    submission.metadata = match input.metadata {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(map)) => Some(map),
        Some(_) => return Err(invalid("metadata", "must be an object")),
    };
    submission.idempotency_key = input.idempotency_key;
    submission.priority = input.priority.unwrap_or(0);
    Ok(submission)
}

fn job_id(value: Option<Unknown>) -> Result<JobId> {
    JobId::parse(convert::string(value, "id")?)
}

/// `readOutput` / `outputUrl`'s arguments: the job id and the output's name.
fn output_args(job_id: Option<Unknown>, name: Option<Unknown>) -> Result<(JobId, String)> {
    let id = JobId::parse(convert::string(job_id, "jobId")?)?;
    let name = convert::string(name, "name")?;
    Ok((id, name))
}

fn progress_event(event: render_engine::ProgressEvent) -> ProgressEvent {
    let stage = event.stage.as_str().to_string();
    ProgressEvent {
        job_id: event.job_id.into_string(),
        attempt: event.attempt,
        status: event.status.as_str().to_string(),
        stage,
        percent: u32::from(event.percent),
        message: event.message,
        eta_ms: event.eta.map(|d| d.as_secs_f64() * 1000.0),
    }
}

#[napi]
impl RenderEngine {
    /// Opens the job store (running its migrations, unless `migrate: false`), the blob
    /// storage and the renderer. Rejects with `E_VALIDATION` (bad options, named as in
    /// `EngineOptions`), `E_STORE` (an unreachable database; with `migrate: false`, a
    /// schema that is behind: the message says how to migrate), `E_STORAGE` (an
    /// unreachable storage endpoint or a missing bucket) or `E_IO`.
    #[napi(
        ts_args_type = "options: EngineOptions",
        ts_return_type = "Promise<RenderEngine>"
    )]
    pub fn open<'env>(
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, RenderEngine>> {
        let config = convert::object::<EngineOptions>(options, "options").and_then(|o| {
            let mut o =
                o.ok_or_else(|| invalid("options", "is required: { database, dataDir }"))?;
            let blender = o.renderer.as_deref() == Some("blender");
            let templates = template_dirs(o.templates.take())?;
            Ok((EngineConfig::try_from(o)?, blender, templates))
        });
        let open = async move {
            let (mut config, blender, templates) = config?;
            if !templates.is_empty() {
                // Reading the pack folders is file I/O: off the JS thread.
                let packs = tokio::task::spawn_blocking(move || TemplatePack::load_all(&templates))
                    .await
                    .map_err(|e| Error::Internal(format!("loading the template packs: {e}")))??;
                for pack in packs {
                    config = config.with_template(pack);
                }
            }
            if blender {
                // Locating Blender runs it once (`--version`): off the JS thread.
                let renderer = tokio::task::spawn_blocking(|| RendererKind::Blender.open(None))
                    .await
                    .map_err(|e| Error::Internal(format!("locating Blender: {e}")))??;
                config = config.with_renderer(Arc::from(renderer));
            }
            Engine::open(config).await.map_err(js_option_names)
        };
        promise(env, open, |engine| {
            Ok(RenderEngine {
                engine,
                workers: Arc::new(tokio::sync::Mutex::new(None)),
                listeners: Arc::new(Mutex::new(Listeners::default())),
            })
        })
    }

    /// Runs the job store's migrations (creating its tables, a SQLite file or a
    /// PostgreSQL `?schema=` when missing) and resolves to what it did: the deployment
    /// step for engines opened with `migrate: false`. Safe to run again and from several
    /// processes at once. Rejects with `E_VALIDATION` (a URL that names no store) or
    /// `E_STORE` (an unreachable database, a failed migration).
    #[napi(
        ts_args_type = "options: MigrateOptions",
        ts_return_type = "Promise<MigrationReport>"
    )]
    pub fn migrate<'env>(
        env: &'env Env,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, MigrationReport>> {
        let url = convert::object::<MigrateOptions>(options, "options").and_then(|o| {
            o.map(|o| o.database)
                .ok_or_else(|| invalid("options", "is required: { database }"))
        });
        promise(
            env,
            async move { render_engine::migrate_store(&url?).await },
            |report| {
                Ok(MigrationReport {
                    applied: report.applied,
                    version: report.version,
                })
            },
        )
    }

    /// The bytes of output `name` (`front.png`, `turntable.mp4`, ...: a `name` of the
    /// job's `outputs`) of a completed job, read from the engine's storage whatever it is
    /// (a folder, a bucket). Rejects with `E_NOT_FOUND` (an unknown or deleted job, a name
    /// that is not one of its outputs), `E_CONFLICT` (the job has not completed) or
    /// `E_STORAGE` (the file is gone from the storage).
    #[napi(
        ts_args_type = "jobId: string, name: string",
        ts_return_type = "Promise<Buffer>"
    )]
    pub fn read_output<'env>(
        &self,
        env: &'env Env,
        job_id: Option<Unknown>,
        name: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, Buffer>> {
        let args = output_args(job_id, name);
        let engine = self.engine.clone();
        promise(
            env,
            async move {
                let (id, name) = args?;
                engine.read_output(&id, &name).await
            },
            |bytes| Ok(Buffer::from(bytes)),
        )
    }

    /// A URL to fetch output `name` of a completed job now: a newly presigned one for a
    /// bucket without `publicBaseUrl` (the URLs recorded in the job expire), else the
    /// output's stable URL. Rejects as `readOutput` does (the file's presence is not
    /// checked).
    #[napi(
        ts_args_type = "jobId: string, name: string",
        ts_return_type = "Promise<string>"
    )]
    pub fn output_url<'env>(
        &self,
        env: &'env Env,
        job_id: Option<Unknown>,
        name: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let args = output_args(job_id, name);
        let engine = self.engine.clone();
        promise(
            env,
            async move {
                let (id, name) = args?;
                engine.output_url(&id, &name).await
            },
            Ok,
        )
    }

    /// Checks and stores the design (downloading an `http(s)://` one first), then creates
    /// the job `pending`; resolves to the job. Rejects with `E_VALIDATION` (bad fields, an
    /// unknown `template_id`, a URL this engine was not opened to accept, a refused or
    /// failed download), `E_UNSUPPORTED_FORMAT`, `E_IMAGE_TOO_LARGE`, `E_IMAGE_DECODE` (a
    /// design that does not decode completely: truncated or corrupt) or `E_NOT_FOUND` (a
    /// missing design file); nothing is written then.
    #[napi(
        ts_args_type = "input: CreateJobInput",
        ts_return_type = "Promise<RenderJob>"
    )]
    pub fn create_job<'env>(
        &self,
        env: &'env Env,
        input: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, serde_json::Value>> {
        let engine = self.engine.clone();
        let submission = convert::object::<CreateJobInput>(input, "input").and_then(|i| {
            let submission = i
                .ok_or_else(|| invalid("input", "is required: { product_id, preset, design }"))
                .and_then(submission)?;
            check_design_url(&submission.design, engine.config())?;
            Ok(submission)
        });
        promise(
            env,
            async move { engine.submit(submission?).await },
            |created| job_json(created.job),
        )
    }

    /// The template packs jobs of this engine can name in `template_id`: the built-in
    /// garments `classic-tee`, `long-sleeve-tee` and `hoodie` (each unless a pack of the
    /// `templates` option replaces it), then the packs of the `templates` option.
    #[napi]
    pub fn list_templates(&self) -> Vec<TemplateInfo> {
        self.engine
            .config()
            .available_templates()
            .iter()
            .map(template_info)
            .collect()
    }

    /// The job with this id. Rejects with `E_NOT_FOUND` (unknown or deleted).
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<RenderJob>")]
    pub fn get_job<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, serde_json::Value>> {
        let id = job_id(id);
        let engine = self.engine.clone();
        promise(env, async move { engine.job(&id?).await }, job_json)
    }

    /// One page of jobs, newest first: `{ jobs, next_cursor }`. The filter's fields are
    /// snake_case like the job's: `product_id`, `variant_id`, `statuses`,
    /// `created_after`, `created_before`, `completed_after` (ISO strings),
    /// `include_deleted`, `limit`, `cursor`.
    #[napi(
        ts_args_type = "filter?: JobFilter | undefined | null",
        ts_return_type = "Promise<JobPage>"
    )]
    pub fn list_jobs<'env>(
        &self,
        env: &'env Env,
        filter: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, serde_json::Value>> {
        let filter = match convert::is_absent(&filter) {
            Ok(true) => Ok(JobFilter::default()),
            _ => convert::json(env, filter, "filter").and_then(|v| {
                convert::from_json::<JobFilterInput>(Some(v), "filter", "must be a job filter")
                    .map(|f| JobFilter::from(f.unwrap_or_default()))
            }),
        };
        let engine = self.engine.clone();
        promise(env, async move { engine.jobs(&filter?).await }, |page| {
            let jobs = page
                .jobs
                .into_iter()
                .map(job_json)
                .collect::<Result<Vec<_>>>()?;
            Ok(serde_json::json!({ "jobs": jobs, "next_cursor": page.next_cursor }))
        })
    }

    /// Retries a failed job (its configuration intact). Rejects with `E_NOT_FOUND` or
    /// `E_INVALID_TRANSITION` (the job has not failed, or has no attempts left).
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<RenderJob>")]
    pub fn retry_job<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, serde_json::Value>> {
        let id = job_id(id);
        let engine = self.engine.clone();
        promise(env, async move { engine.retry(&id?).await }, job_json)
    }

    /// Cancels a job: at once when pending, at the worker's next heartbeat when running.
    /// Cancelling a cancelled job returns it unchanged. Rejects with `E_NOT_FOUND` or
    /// `E_INVALID_TRANSITION` (the job completed or failed).
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<RenderJob>")]
    pub fn cancel_job<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, serde_json::Value>> {
        let id = job_id(id);
        let engine = self.engine.clone();
        promise(env, async move { engine.cancel(&id?).await }, job_json)
    }

    /// Soft-deletes a job (kept for audit, hidden from `getJob` and `listJobs`); resolves
    /// to the deleted job. Rejects with `E_NOT_FOUND`.
    #[napi(ts_args_type = "id: string", ts_return_type = "Promise<RenderJob>")]
    pub fn delete_job<'env>(
        &self,
        env: &'env Env,
        id: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, serde_json::Value>> {
        let id = job_id(id);
        let engine = self.engine.clone();
        promise(env, async move { engine.delete(&id?).await }, job_json)
    }

    /// Starts workers in this process (up to `concurrency` jobs at once). Calling it
    /// again while they run does nothing.
    #[napi]
    pub fn start(&self, env: Env) -> napi::Result<()> {
        crate::guard::guard_js(&env, || self.start_workers(&env))
    }

    /// `start`'s work, under the panic guard.
    fn start_workers(&self, env: &Env) -> napi::Result<()> {
        let mut workers = self.workers.try_lock().map_err(|_| {
            to_js(
                env,
                Error::Conflict("the engine is stopping; await stop() first".into()),
            )
        })?;
        if workers.is_none() {
            let engine = self.engine.clone();
            *workers = Some(napi::bindgen_prelude::within_runtime_if_available(
                move || engine.start(),
            ));
        }
        Ok(())
    }

    /// Stops the workers: no new claims, running jobs get `deadlineMs` (default 30 000)
    /// to finish, the rest go back to the queue. Resolves to what the workers did.
    #[napi(
        ts_args_type = "deadlineMs?: number | undefined | null",
        ts_return_type = "Promise<ShutdownSummary>"
    )]
    pub fn stop<'env>(
        &self,
        env: &'env Env,
        deadline_ms: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ShutdownSummary>> {
        let deadline = match convert::is_absent(&deadline_ms) {
            Ok(true) => Ok(Duration::from_secs(30)),
            _ => deadline_ms
                .and_then(|v| match v.get_type() {
                    // SAFETY: checked to be a number.
                    Ok(ValueType::Number) => unsafe { v.cast::<f64>() }.ok(),
                    _ => None,
                })
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                .ok_or_else(|| invalid("deadlineMs", "must be a number of milliseconds")),
        };
        let workers = self.workers.clone();
        promise(
            env,
            async move {
                let deadline = deadline?;
                let running = workers.lock().await.take();
                match running {
                    Some(w) => w.shutdown(deadline).await,
                    None => Ok(Default::default()),
                }
            },
            |report| {
                let ids = |v: Vec<JobId>| v.into_iter().map(JobId::into_string).collect();
                Ok(ShutdownSummary {
                    completed: ids(report.completed),
                    failed: ids(report.failed),
                    retrying: ids(report.retrying),
                    cancelled: ids(report.cancelled),
                    released: ids(report.released),
                    lost: ids(report.lost),
                })
            },
        )
    }

    /// Calls `callback` with every progress event from now on (from any worker of this
    /// engine) and returns a function that removes this registration (calling it again
    /// does nothing). The callback runs on the JS thread; it does not keep the process
    /// alive.
    #[napi(
        ts_args_type = "callback: (event: ProgressEvent) => void",
        ts_return_type = "() => void"
    )]
    pub fn on_progress<'env>(
        &self,
        env: &'env Env,
        callback: Option<Unknown>,
    ) -> napi::Result<Function<'env, (), ()>> {
        crate::guard::guard_js(env, || self.add_listener(env, callback))
    }

    /// `onProgress`'s work, under the panic guard.
    fn add_listener<'env>(
        &self,
        env: &'env Env,
        callback: Option<Unknown>,
    ) -> napi::Result<Function<'env, (), ()>> {
        let callback = callback
            .filter(|c| matches!(c.get_type(), Ok(ValueType::Function)))
            .ok_or_else(|| to_js(env, invalid("callback", "must be a function")))?;
        // SAFETY: checked to be a function just above.
        let function = unsafe { callback.cast::<Function<ProgressEvent, ()>>() }?;
        let tsfn: ProgressCallback = function
            .build_threadsafe_function()
            .callee_handled::<false>()
            .weak::<true>()
            .build()?;
        let mut events = self.engine.subscribe();
        let forward = napi::bindgen_prelude::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => {
                        let status = tsfn.call(
                            progress_event(event),
                            ThreadsafeFunctionCallMode::NonBlocking,
                        );
                        if status == Status::Closing {
                            break;
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                }
            }
        });
        let id = {
            let mut listeners = lock(&self.listeners)?;
            let id = listeners.next_id;
            listeners.next_id += 1;
            listeners.active.push(Listener {
                id,
                callback: function.create_ref()?,
                forward,
            });
            id
        };
        let listeners = self.listeners.clone();
        env.create_function_from_closure("unsubscribe", move |_ctx| {
            lock(&listeners)?.remove(|l| l.id == id);
            Ok(())
        })
    }

    /// Removes `callback` (every registration of it; a function that was never
    /// registered changes nothing), or every progress callback when called without
    /// one. Rejects a `callback` that is not a function with `E_VALIDATION`.
    #[napi(ts_args_type = "callback?: ((event: ProgressEvent) => void) | undefined | null")]
    pub fn off_progress(&self, env: Env, callback: Option<Unknown>) -> napi::Result<()> {
        crate::guard::guard_js(&env, || self.remove_listeners(&env, callback))
    }

    /// `offProgress`'s work, under the panic guard.
    fn remove_listeners(&self, env: &Env, callback: Option<Unknown>) -> napi::Result<()> {
        if convert::is_absent(&callback)? {
            lock(&self.listeners)?.remove(|_| true);
            return Ok(());
        }
        let callback = callback
            .filter(|c| matches!(c.get_type(), Ok(ValueType::Function)))
            .ok_or_else(|| to_js(env, invalid("callback", "must be a function")))?;
        let mut listeners = lock(&self.listeners)?;
        // Compared with JS `===`; a reference that cannot be read matches nothing.
        let mut matches = Vec::new();
        for l in &listeners.active {
            let same = l
                .callback
                .borrow_back(env)
                .and_then(|f| env.strict_equals(f, callback))
                .unwrap_or(false);
            if same {
                matches.push(l.id);
            }
        }
        listeners.remove(|l| matches.contains(&l.id));
        Ok(())
    }
}
