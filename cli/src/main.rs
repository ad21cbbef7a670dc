//! The `render-engine` command line.
//!
//! Each subcommand lives in its own module; errors print as `error[E_CODE]: message` on
//! stderr with a non-zero exit status.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod compose_cmd;
mod jobs_cmd;
mod migrate_cmd;
mod mockup_cmd;
mod output;
mod render_cmd;
mod signals;
mod submit_cmd;
mod templates_cmd;
mod worker_cmd;

/// Turns a t-shirt design into print files, garment textures and product renders.
#[derive(Debug, Parser)]
#[command(name = "render-engine", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options of every subcommand that uses the job store and blob storage.
#[derive(Debug, clap::Args)]
struct Global {
    /// The job store URL (default: the SQLite file in the data directory).
    #[arg(long, global = true, env = "RENDER_ENGINE_DATABASE_URL")]
    database: Option<String>,
    /// The data directory (SQLite file and blobs).
    #[arg(
        long,
        global = true,
        env = "RENDER_ENGINE_DATA",
        default_value = "render-engine-data"
    )]
    data: std::path::PathBuf,
    /// The blob storage: a folder, a file:// URL or
    /// s3://bucket/prefix?region=..&endpoint=..&path_style=true (credentials from
    /// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). Default: `blobs/` in the data directory.
    #[arg(long, global = true, env = "RENDER_ENGINE_STORAGE")]
    storage: Option<String>,
    /// The URL the storage's root is served under: output URLs become {URL}/{key}
    /// instead of presigned (S3) or file:// (folder) URLs.
    #[arg(long, global = true, env = "RENDER_ENGINE_PUBLIC_BASE_URL")]
    public_base_url: Option<String>,
    /// How long presigned S3 output URLs stay valid, in seconds (at most 604800, 7 days).
    #[arg(long, global = true, default_value_t = 604_800)]
    presign_expires_secs: u64,
    /// A template pack folder jobs may name by its id, besides the built-in garments
    /// (repeatable). Workers need the packs of the jobs they take.
    #[arg(long = "template-pack", global = true, value_name = "PACK-DIR")]
    template_packs: Vec<String>,
}

impl Global {
    /// The store and storage configuration the options name, without the template packs
    /// (what `jobs` and `migrate` need).
    fn store_config(&self) -> render_engine::EngineConfig {
        let mut config = render_engine::EngineConfig::new(&self.data)
            .with_presign_expires(std::time::Duration::from_secs(self.presign_expires_secs));
        if let Some(url) = &self.database {
            config = config.with_store_url(url.clone());
        }
        if let Some(url) = &self.storage {
            config = config.with_storage_url(url.clone());
        }
        if let Some(url) = &self.public_base_url {
            config = config.with_public_base_url(url.clone());
        }
        config
    }

    /// The engine configuration the options name, with the `--template-pack` folders
    /// loaded (what the engine's workers and submissions need).
    fn config(&self) -> render_engine::Result<render_engine::EngineConfig> {
        let packs = render_engine::TemplatePack::load_all(&self.template_packs)?;
        Ok(self.store_config().with_templates(packs))
    }
}

/// A multi-threaded tokio runtime for the engine subcommands.
fn runtime() -> render_engine::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compose a design: print file, texture atlas, pattern preview and preflight report.
    Compose(compose_cmd::ComposeArgs),
    /// Compose and render: print file, atlas, preflight, front/back/three-quarter stills
    /// and the turntable (MP4 and WebP), from the views baked into the library.
    Render(render_cmd::RenderArgs),
    /// Put a design on a merchant's own garment photos (one image per view and colour).
    Mockup(mockup_cmd::MockupArgs),
    /// Run workers that carry submitted jobs to completion, until SIGINT/SIGTERM.
    Worker(worker_cmd::WorkerArgs),
    /// Submit a design as a job (with --wait, work on it here and show progress).
    Submit(submit_cmd::SubmitArgs),
    /// List, show, retry, cancel or delete jobs.
    Jobs(jobs_cmd::JobsArgs),
    /// List the garments (template packs) with their placement presets.
    Templates(templates_cmd::TemplatesArgs),
    /// Work on template packs: `template bake <PACK-DIR>` bakes one with Blender.
    Template(templates_cmd::TemplateArgs),
    /// Run the job store's migrations (create or upgrade its tables) and exit: the
    /// deployment step for processes that open the store without migrating.
    Migrate(migrate_cmd::MigrateArgs),
    /// Test hook: panics (only with RENDER_ENGINE_TEST_PANICS=1), to check that a panic
    /// ends as `error[E_INTERNAL]`.
    #[command(name = "__panic", hide = true)]
    TestPanic,
}

std::thread_local! {
    /// The last panic on this thread, as the hook saw it: its message (with where it
    /// happened) and, when `RUST_BACKTRACE` asks for one, a backtrace.
    static LAST_PANIC: std::cell::RefCell<Option<(String, Option<String>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Records panics instead of printing them: the library catches some on purpose (a
/// decoder panic on a broken image is `E_IMAGE_DECODE`), and those must print nothing.
/// A panic that does reach `main` is reported there.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let backtrace = std::env::var_os("RUST_BACKTRACE")
            .is_some_and(|v| v != "0")
            .then(|| std::backtrace::Backtrace::force_capture().to_string());
        LAST_PANIC.with(|p| *p.borrow_mut() = Some((format!("{message}{location}"), backtrace)));
    }));
}

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    match std::panic::catch_unwind(move || run(cli)) {
        Ok(code) => code,
        // A panic is a bug in render-engine: it prints like every other error, with a
        // backtrace only when RUST_BACKTRACE asks for one, and the exit status is 1.
        Err(_) => {
            let (message, backtrace) = LAST_PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| ("a panic without a message".into(), None));
            eprintln!(
                "error[E_INTERNAL]: a panic inside render-engine: {message} (a bug, please report it)"
            );
            if let Some(backtrace) = backtrace {
                eprintln!("{backtrace}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Compose(args) => compose_cmd::run(args),
        Command::Render(args) => render_cmd::run(args),
        Command::Mockup(args) => mockup_cmd::run(args),
        Command::Worker(args) => worker_cmd::run(&cli.global, args),
        Command::Submit(args) => submit_cmd::run(&cli.global, args),
        Command::Jobs(args) => jobs_cmd::run(&cli.global, args),
        Command::Templates(args) => templates_cmd::run(args),
        Command::Template(args) => templates_cmd::run_template(args),
        Command::Migrate(args) => migrate_cmd::run(&cli.global, args),
        Command::TestPanic => {
            if std::env::var("RENDER_ENGINE_TEST_PANICS").as_deref() == Ok("1") {
                panic!("the command line's test panic");
            }
            Err(render_engine::Error::validation(
                "RENDER_ENGINE_TEST_PANICS",
                "is a test hook: set RENDER_ENGINE_TEST_PANICS=1 to use it",
            ))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error[{}]: {err}", err.code());
            ExitCode::FAILURE
        }
    }
}
