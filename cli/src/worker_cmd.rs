//! `render-engine worker`: runs the engine's workers until SIGINT or SIGTERM.

use std::time::Duration;

use render_engine::render::View;
use render_engine::{Engine, OutputSelection, Result};

use crate::Global;

/// Arguments of `render-engine worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// How many jobs to work on at once.
    #[arg(long, default_value_t = render_engine::EngineConfig::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// How long running jobs may finish after a stop signal before they are released.
    #[arg(long, default_value_t = 30)]
    pub shutdown_secs: u64,
    /// The lease taken on a claimed job, in seconds: a worker that dies loses its jobs to
    /// the other workers this long after its last heartbeat.
    #[arg(long, default_value_t = render_engine::EngineConfig::DEFAULT_LEASE.as_secs_f64())]
    pub lease_secs: f64,
    /// The time between heartbeats, in seconds (shorter than the lease).
    #[arg(long, default_value_t = render_engine::EngineConfig::DEFAULT_HEARTBEAT.as_secs_f64())]
    pub heartbeat_secs: f64,
    /// How long an idle worker waits before looking for jobs again, in milliseconds.
    #[arg(long, default_value_t = render_engine::EngineConfig::DEFAULT_POLL.as_millis() as u64)]
    pub poll_ms: u64,
    /// The outputs to produce besides the atlas and the front still, comma-separated:
    /// `print` (the print file), `stills` (back and three-quarter), `turntable` (MP4 and
    /// WebP), or single ones (`back`, `three-quarter`, `mp4`, `webp`); `none` for only
    /// the atlas and the front still.
    #[arg(long, default_value = "print,stills,turntable")]
    pub outputs: String,
}

/// The output selection a `--outputs` list names, with the front still always in it
/// (it is every job's `rendered_image_url`).
fn outputs(list: &str) -> Result<OutputSelection> {
    let named: OutputSelection = list.parse()?;
    let stills: Vec<View> = std::iter::once(View::Front)
        .chain(named.stills.iter().copied())
        .collect();
    Ok(named.with_stills(stills))
}

fn seconds(value: f64, field: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        render_engine::Error::validation(field, "must be a positive number of seconds")
    })
}

/// Runs the workers, then shuts down gracefully on SIGINT/SIGTERM.
pub fn run(global: &Global, args: WorkerArgs) -> Result<()> {
    crate::runtime()?.block_on(async {
        let config = global
            .config()?
            .with_concurrency(args.concurrency)
            .with_lease(
                seconds(args.lease_secs, "lease_secs")?,
                seconds(args.heartbeat_secs, "heartbeat_secs")?,
            )
            .with_poll_every(Duration::from_millis(args.poll_ms))
            .with_outputs(outputs(&args.outputs)?);
        let engine = Engine::open(config).await?;
        let workers = engine.start();
        eprintln!(
            "worker: {} jobs at once on {}; stop with Ctrl-C",
            args.concurrency,
            engine.store_backend()
        );
        crate::signals::stop_requested().await?;
        eprintln!(
            "worker: stopping (running jobs get {} s)",
            args.shutdown_secs
        );
        let report = workers
            .shutdown(Duration::from_secs(args.shutdown_secs))
            .await?;
        eprintln!(
            "worker: {} completed, {} failed, {} retrying, {} cancelled, {} released",
            report.completed.len(),
            report.failed.len(),
            report.retrying.len(),
            report.cancelled.len(),
            report.released.len()
        );
        Ok(())
    })
}
