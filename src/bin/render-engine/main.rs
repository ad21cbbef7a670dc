//! The `render-engine` command line.

fn main() {
    eprintln!("render-engine: no subcommands yet");
    std::process::exit(2);
}
