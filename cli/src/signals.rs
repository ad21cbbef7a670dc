//! The stop signals every long-running command obeys.

use render_engine::Result;

/// Resolves at the first SIGINT (Ctrl-C) or SIGTERM (what `kill` and service managers
/// send).
pub async fn stop_requested() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
