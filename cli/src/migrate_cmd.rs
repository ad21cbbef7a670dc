//! `render-engine migrate`: run the job store's migrations as a step of its own.

use render_engine::{Error, Result};

use crate::Global;

/// Arguments of `render-engine migrate` (the store is `--database`, or the SQLite file in
/// `--data`).
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Print JSON (`{ "applied": [..], "version": n }`) instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

/// Migrates the store named by the global options and says what it did.
pub fn run(global: &Global, args: MigrateArgs) -> Result<()> {
    let config = global.store_config();
    let url = config.effective_store_url();
    if url.starts_with("sqlite") {
        // The default SQLite file lives in the data directory: create it like `open` does.
        std::fs::create_dir_all(&config.data_dir)?;
    }
    let report = crate::runtime()?.block_on(render_engine::migrate_store(&url))?;
    if args.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::Internal(format!("cannot print the report as JSON: {e}")))?;
        println!("{text}");
    } else if report.applied.is_empty() {
        println!(
            "the job store is current (schema version {}); nothing to do",
            report.version
        );
    } else {
        let list: Vec<String> = report.applied.iter().map(u32::to_string).collect();
        println!(
            "applied migrations {}; the job store is at schema version {}",
            list.join(", "),
            report.version
        );
    }
    Ok(())
}
