//! What the engine tests share.

use render_engine::{OutputSelection, View};

/// Only the atlas and the front still: the cheapest jobs, fast enough for behaviour tests.
pub fn small_outputs() -> OutputSelection {
    OutputSelection::all()
        .with_print_file(false)
        .with_stills([View::Front])
        .with_turntable(false, false)
}
