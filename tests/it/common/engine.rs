//! What the engine tests share.

use std::path::Path;
use std::time::Duration;

use render_engine::{EngineConfig, OutputSelection, View};

/// Only the atlas and the front still: the cheapest jobs, fast enough for behaviour tests.
pub fn small_outputs() -> OutputSelection {
    OutputSelection::all()
        .with_print_file(false)
        .with_stills([View::Front])
        .with_turntable(false, false)
}

/// An engine on a SQLite file in `dir` with a short lease, fast polling and
/// [`small_outputs`].
pub fn sqlite_small_config(dir: &Path) -> EngineConfig {
    EngineConfig::new(dir)
        .with_store_url(format!("sqlite://{}", dir.join("jobs.db").display()))
        .with_lease(Duration::from_secs(5), Duration::from_millis(100))
        .with_poll_every(Duration::from_millis(50))
        .with_outputs(small_outputs())
}
