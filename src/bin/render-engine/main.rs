//! The `render-engine` command line.
//!
//! Each subcommand lives in its own module; errors print as `error[E_CODE]: message` on
//! stderr with a non-zero exit status.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod compose_cmd;
mod output;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Compose(args) => compose_cmd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error[{}]: {err}", err.code());
            ExitCode::FAILURE
        }
    }
}
