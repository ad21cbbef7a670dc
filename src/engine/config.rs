//! [`EngineConfig`]: everything the engine needs, with defaults that work out of the box.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::fetch::HttpDesigns;
use crate::blobs::BlobStorage;
use crate::error::{Error, Result};
use crate::pipeline::OutputSelection;
use crate::render::{Renderer, View};
use crate::store::MigrationMode;
use crate::template::TemplatePack;

/// The default number of jobs one engine works on at once.
pub(crate) const DEFAULT_CONCURRENCY: usize = 2;
/// The default time limit of one attempt of a job: 5 minutes.
pub(crate) const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(300);
/// The default lease a worker takes on a job: 30 seconds, renewed by heartbeats.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// The default time between heartbeats: 5 seconds.
pub(crate) const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
/// The default time an idle worker waits before looking for jobs again.
pub(crate) const DEFAULT_POLL: Duration = Duration::from_millis(500);
/// The default largest design accepted: 10 MiB.
pub(crate) const DEFAULT_MAX_DESIGN_BYTES: u64 = 10 * 1024 * 1024;

/// The engine's configuration: build it with [`EngineConfig::new`] and the `with_*`
/// methods, then [`crate::engine::Engine::open`] it.
#[derive(Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The data directory: the default home of the SQLite file and the blob directory.
    pub data_dir: PathBuf,
    /// The job store URL (default `sqlite://{data_dir}/render-engine.db`).
    pub store_url: Option<String>,
    /// Whether opening the engine runs the store's migrations (the default) or only
    /// checks that its schema is current ([`MigrationMode::RequireCurrent`]).
    pub migrations: MigrationMode,
    /// The blob storage (default: a [`crate::LocalStorage`] in `{data_dir}/blobs`).
    pub storage: Option<Arc<dyn BlobStorage>>,
    /// The storage URL, used when `storage` is not set: a folder, a `file://` URL or
    /// `s3://bucket/prefix?...` (see [`crate::blobs::open_storage_url`]).
    pub storage_url: Option<String>,
    /// The public base URL of a storage opened from `storage_url` or the default local
    /// folder (e.g. `http://localhost:9000/static`, or a CDN in front of a bucket):
    /// blob URLs are `{public_base_url}/{key}`. Without it: `file://` URLs for a folder,
    /// presigned GET URLs for a bucket.
    pub public_base_url: Option<String>,
    /// How long presigned GET URLs of a bucket stay valid (default 7 days, the maximum).
    pub presign_expires: Duration,
    /// The renderer (default: the baked renderer with the built-in views).
    pub renderer: Option<Arc<dyn Renderer>>,
    /// How many jobs one engine works on at once (default 2).
    pub concurrency: usize,
    /// The time limit of one attempt (default 5 minutes).
    pub job_timeout: Duration,
    /// The attempts a new job gets (default 3).
    pub max_attempts: u32,
    /// The lease taken on a claimed job (default 30 s).
    pub lease_for: Duration,
    /// The time between heartbeats (default 5 s); must be shorter than the lease.
    pub heartbeat_every: Duration,
    /// How long an idle worker waits before claiming again (default 500 ms).
    pub poll_every: Duration,
    /// The largest design accepted, in bytes (default 10 MiB).
    pub max_design_bytes: u64,
    /// Which outputs to produce.
    pub outputs: OutputSelection,
    /// The directory `file://` designs must lie inside; `file://` URLs are refused when
    /// absent.
    pub allowed_file_root: Option<PathBuf>,
    /// Whether and how `http(s)://` designs are downloaded (default: refused).
    pub http: HttpDesigns,
    /// The template packs jobs may name in `template_id`, besides the built-in
    /// `classic-tee` (which a pack with the same id replaces).
    pub templates: Vec<TemplatePack>,
    /// The name this engine's workers claim jobs under (default `{hostname-ish}-{pid}`).
    pub worker_name: String,
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("data_dir", &self.data_dir)
            .field(
                "store_url",
                &self.store_url.as_deref().map(crate::store::redact),
            )
            .field("migrations", &self.migrations)
            .field("storage", &self.storage)
            .field(
                "storage_url",
                &self
                    .storage_url
                    .as_deref()
                    .map(crate::blobs::redact_storage_url),
            )
            .field("public_base_url", &self.public_base_url)
            .field("presign_expires", &self.presign_expires)
            .field("renderer", &self.renderer.as_ref().map(|r| r.name()))
            .field("concurrency", &self.concurrency)
            .field("job_timeout", &self.job_timeout)
            .field("max_attempts", &self.max_attempts)
            .field("lease_for", &self.lease_for)
            .field("heartbeat_every", &self.heartbeat_every)
            .field("max_design_bytes", &self.max_design_bytes)
            .field("outputs", &self.outputs)
            .field("allowed_file_root", &self.allowed_file_root)
            .field("http", &self.http)
            .field(
                "templates",
                &self.templates.iter().map(|t| t.id()).collect::<Vec<_>>(),
            )
            .field("worker_name", &self.worker_name)
            .finish()
    }
}

impl EngineConfig {
    /// The default number of jobs one engine works on at once (2).
    pub const DEFAULT_CONCURRENCY: usize = DEFAULT_CONCURRENCY;
    /// The default time limit of one attempt of a job (5 minutes).
    pub const DEFAULT_JOB_TIMEOUT: Duration = DEFAULT_JOB_TIMEOUT;
    /// The default lease a worker takes on a job (30 seconds, renewed by heartbeats).
    pub const DEFAULT_LEASE: Duration = DEFAULT_LEASE;
    /// The default time between heartbeats (5 seconds).
    pub const DEFAULT_HEARTBEAT: Duration = DEFAULT_HEARTBEAT;
    /// The default time an idle worker waits before looking for jobs again (0.5 s).
    pub const DEFAULT_POLL: Duration = DEFAULT_POLL;
    /// The default largest design accepted (10 MiB).
    pub const DEFAULT_MAX_DESIGN_BYTES: u64 = DEFAULT_MAX_DESIGN_BYTES;

    /// A configuration with every default, keeping its files in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            store_url: None,
            migrations: MigrationMode::Run,
            storage: None,
            storage_url: None,
            public_base_url: None,
            presign_expires: crate::blobs::DEFAULT_PRESIGN_EXPIRES,
            renderer: None,
            concurrency: DEFAULT_CONCURRENCY,
            job_timeout: DEFAULT_JOB_TIMEOUT,
            max_attempts: crate::job::DEFAULT_MAX_ATTEMPTS,
            lease_for: DEFAULT_LEASE,
            heartbeat_every: DEFAULT_HEARTBEAT,
            poll_every: DEFAULT_POLL,
            max_design_bytes: DEFAULT_MAX_DESIGN_BYTES,
            outputs: OutputSelection::default(),
            allowed_file_root: None,
            http: HttpDesigns::default(),
            templates: Vec::new(),
            worker_name: format!("worker-{}", std::process::id()),
        }
    }

    /// Uses this job store URL (`memory:`, `sqlite://...`, `postgres://...`).
    pub fn with_store_url(mut self, url: impl Into<String>) -> Self {
        self.store_url = Some(url.into());
        self
    }

    /// Runs the store's migrations at open ([`MigrationMode::Run`], the default) or only
    /// checks that its schema is current ([`MigrationMode::RequireCurrent`]: the open
    /// fails with `E_STORE`, saying how to migrate, when it is behind). Migrate
    /// explicitly with [`crate::store::migrate_store`] or `render-engine migrate`.
    pub fn with_migrations(mut self, mode: MigrationMode) -> Self {
        self.migrations = mode;
        self
    }

    /// Uses this blob storage instead of the local directory.
    pub fn with_storage(mut self, storage: Arc<dyn BlobStorage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Uses the storage a storage URL names instead of the local directory: a folder, a
    /// `file://` URL or `s3://bucket/prefix?region=..&endpoint=..&path_style=true` (cargo
    /// feature `s3`; credentials from the AWS environment variables). A storage given
    /// with [`EngineConfig::with_storage`] wins. Checked when the engine opens.
    pub fn with_storage_url(mut self, url: impl Into<String>) -> Self {
        self.storage_url = Some(url.into());
        self
    }

    /// Gives the storage opened from the storage URL (or the default local folder) a
    /// public base URL: blob URLs become `{url}/{key}`.
    pub fn with_public_base_url(mut self, url: impl Into<String>) -> Self {
        self.public_base_url = Some(url.into());
        self
    }

    /// Makes a bucket's presigned GET URLs valid for `expires` (1 s to 7 days).
    pub fn with_presign_expires(mut self, expires: Duration) -> Self {
        self.presign_expires = expires;
        self
    }

    /// The options a storage opened from the storage URL gets.
    pub fn storage_options(&self) -> crate::blobs::StorageOptions {
        let mut options =
            crate::blobs::StorageOptions::default().with_presign_expires(self.presign_expires);
        if let Some(base) = &self.public_base_url {
            options = options.with_public_base_url(base.clone());
        }
        options
    }

    /// Uses this renderer instead of the baked one.
    pub fn with_renderer(mut self, renderer: Arc<dyn Renderer>) -> Self {
        self.renderer = Some(renderer);
        self
    }

    /// Works on up to `n` jobs at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Limits each attempt to `timeout`.
    pub fn with_job_timeout(mut self, timeout: Duration) -> Self {
        self.job_timeout = timeout;
        self
    }

    /// Gives new jobs `n` attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Takes leases of `lease_for` and heartbeats every `every`.
    pub fn with_lease(mut self, lease_for: Duration, every: Duration) -> Self {
        self.lease_for = lease_for;
        self.heartbeat_every = every;
        self
    }

    /// Waits `every` between claims while idle.
    pub fn with_poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// Refuses designs larger than `bytes`.
    pub fn with_max_design_bytes(mut self, bytes: u64) -> Self {
        self.max_design_bytes = bytes;
        self
    }

    /// Produces these outputs. The atlas always is; the selection must include the front
    /// still, which becomes every job's `rendered_image_url`.
    pub fn with_outputs(mut self, outputs: OutputSelection) -> Self {
        self.outputs = outputs;
        self
    }

    /// Accepts `file://` designs inside `root`.
    pub fn with_allowed_file_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.allowed_file_root = Some(root.into());
        self
    }

    /// Downloads `http(s)://` designs under `http` (see [`HttpDesigns`]).
    pub fn with_http_designs(mut self, http: HttpDesigns) -> Self {
        self.http = http;
        self
    }

    /// Makes `pack` available to jobs whose `template_id` is its id. A pack with the id
    /// `classic-tee` replaces the built-in one; two configured packs with one id are
    /// refused when the engine opens (`E_VALIDATION` on `templates[i]`).
    pub fn with_template(mut self, pack: TemplatePack) -> Self {
        self.templates.push(pack);
        self
    }

    /// Offers every pack of `packs` too (see [`EngineConfig::with_template`]).
    pub fn with_templates(mut self, packs: impl IntoIterator<Item = TemplatePack>) -> Self {
        self.templates.extend(packs);
        self
    }

    /// The packs jobs can name in `template_id`: the built-in `classic-tee` (unless a
    /// configured pack has its id and replaces it), then the configured ones.
    pub fn available_templates(&self) -> Vec<TemplatePack> {
        TemplatePack::with_builtin(&self.templates)
    }

    /// The template pack with id `id` (`None`: the built-in `classic-tee`), or
    /// `E_VALIDATION` on field `template_id` naming the packs there are.
    pub fn template(&self, id: Option<&str>) -> Result<TemplatePack> {
        let id = id.unwrap_or(crate::template::BUILTIN_ID);
        let offered = self.available_templates();
        if let Some(pack) = offered.iter().find(|t| t.id() == id) {
            return Ok(pack.clone());
        }
        let known: Vec<&str> = offered.iter().map(|t| t.id()).collect();
        Err(Error::validation(
            "template_id",
            format!(
                "`{id}` is not a configured template pack; use one of: {}",
                known.join(", ")
            ),
        ))
    }

    /// Claims jobs under this worker name.
    pub fn with_worker_name(mut self, name: impl Into<String>) -> Self {
        self.worker_name = name.into();
        self
    }

    /// The store URL in effect: the configured one or the SQLite file in the data dir.
    pub fn effective_store_url(&self) -> String {
        self.store_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join("render-engine.db").display()
            )
        })
    }

    /// The directory of the default local storage.
    pub fn blob_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    /// Checks the numbers, listing every field that is out of range (`E_VALIDATION`).
    pub fn validate(&self) -> Result<()> {
        let mut fields = Vec::new();
        let mut bad = |field: &str, message: &str| {
            fields.push(crate::error::FieldError::new(field, message));
        };
        if self.concurrency == 0 || self.concurrency > 256 {
            bad("concurrency", "must be between 1 and 256");
        }
        if self.job_timeout.is_zero() {
            bad("job_timeout", "must be longer than zero");
        }
        if self.max_attempts == 0 || self.max_attempts > crate::job::MAX_MAX_ATTEMPTS {
            bad("max_attempts", "must be between 1 and 100");
        }
        if self.heartbeat_every.is_zero() || self.heartbeat_every >= self.lease_for {
            bad(
                "heartbeat_every",
                "must be longer than zero and shorter than the lease",
            );
        }
        if self.max_design_bytes == 0 {
            bad("max_design_bytes", "must be at least one byte");
        }
        if self.http.enabled && self.http.timeout.is_zero() {
            bad("http.timeout", "must be longer than zero");
        }
        if self.presign_expires.is_zero()
            || self.presign_expires > crate::blobs::DEFAULT_PRESIGN_EXPIRES
        {
            bad(
                "presign_expires",
                "must be between 1 second and 7 days (604800 s)",
            );
        }
        if self.worker_name.trim().is_empty() {
            bad("worker_name", "must not be empty");
        }
        for (i, pack) in self.templates.iter().enumerate() {
            if let Err(e) = crate::template::check_unique(&self.templates[..i], pack, i) {
                for f in e.fields() {
                    bad(&f.field, &f.message);
                }
            }
        }
        if !self.outputs.stills.contains(&View::Front) {
            bad(
                "outputs",
                "must include the front still: it is every job's rendered_image_url",
            );
        }
        if fields.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(fields))
        }
    }
}

/// Whether `path` lies inside `root` once both are resolved (symlinks and `..`).
pub(crate) fn inside_root(root: &Path, path: &Path) -> Result<PathBuf> {
    let root = root.canonicalize().map_err(|e| {
        Error::validation(
            "allowed_file_root",
            format!("cannot resolve `{}`: {e}", root.display()),
        )
    })?;
    let resolved = path.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            what: "design file",
            id: path.display().to_string(),
        },
        _ => Error::Io(e),
    })?;
    if resolved.starts_with(&root) {
        Ok(resolved)
    } else {
        Err(Error::validation(
            "design",
            format!(
                "`{}` is outside the allowed directory `{}`",
                path.display(),
                root.display()
            ),
        ))
    }
}
