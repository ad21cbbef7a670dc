//! The `render-engine` command line.
//!
//! Each subcommand lives in its own module; errors print as `error[E_CODE]: message` on
//! stderr with a non-zero exit status.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod compose_cmd;
mod mockup_cmd;
mod output;
mod render_cmd;

/// Turns a t-shirt design into print files, garment textures and product renders.
#[derive(Debug, Parser)]
#[command(name = "render-engine", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compose(args) => compose_cmd::run(args),
        Command::Render(args) => render_cmd::run(args),
        Command::Mockup(args) => mockup_cmd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error[{}]: {err}", err.code());
            ExitCode::FAILURE
        }
    }
}
