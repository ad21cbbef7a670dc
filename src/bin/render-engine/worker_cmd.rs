//! `render-engine worker`: runs the engine's workers until SIGINT or SIGTERM.

use std::time::Duration;

use render_engine::{Engine, Result};

use crate::Global;

/// Arguments of `render-engine worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// How many jobs to work on at once.
    #[arg(long, default_value_t = render_engine::engine::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// How long running jobs may finish after a stop signal before they are released.
    #[arg(long, default_value_t = 30)]
    pub shutdown_secs: u64,
}

/// Runs the workers, then shuts down gracefully on SIGINT/SIGTERM.
pub fn run(global: &Global, args: WorkerArgs) -> Result<()> {
    crate::runtime()?.block_on(async {
        let config = global.config().with_concurrency(args.concurrency);
        let engine = Engine::open(config).await?;
        let workers = engine.start();
        eprintln!(
            "worker: {} jobs at once on {}; stop with Ctrl-C",
            args.concurrency,
            engine.store().backend()
        );
        wait_for_signal().await?;
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

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
