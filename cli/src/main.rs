//! The `render-engine` command line.
//!
//! Each subcommand lives in its own module; errors print as `error[E_CODE]: message` on
//! stderr with a non-zero exit status.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod compose_cmd;
mod jobs_cmd;
mod mockup_cmd;
mod output;
mod render_cmd;
mod submit_cmd;
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
}

impl Global {
    /// The engine configuration the options name.
    fn config(&self) -> render_engine::EngineConfig {
        let config = render_engine::EngineConfig::new(&self.data);
        match &self.database {
            Some(url) => config.with_store_url(url.clone()),
            None => config,
        }
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compose(args) => compose_cmd::run(args),
        Command::Render(args) => render_cmd::run(args),
        Command::Mockup(args) => mockup_cmd::run(args),
        Command::Worker(args) => worker_cmd::run(&cli.global, args),
        Command::Submit(args) => submit_cmd::run(&cli.global, args),
        Command::Jobs(args) => jobs_cmd::run(&cli.global, args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error[{}]: {err}", err.code());
            ExitCode::FAILURE
        }
    }
}
