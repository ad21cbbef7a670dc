//! The `render-engine compose` command: outputs, summary line, and errors as
//! `error[E_CODE]: message` with a non-zero exit status.

use std::path::Path;
use std::process::Command;

use render_engine::{png_dpi, PreflightReport};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_render-engine"))
}

fn sample(name: &str) -> String {
    format!(
        "{}/examples/designs/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/..")
    )
}

#[test]
fn compose_writes_the_four_outputs_and_a_summary() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("job-1");
    let run = bin()
        .args([
            "compose",
            &sample("wave-logo.svg"),
            "--preset",
            "back-small",
        ])
        .args(["--color", "#1f2937", "--dpi", "150", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("back-small on classic-tee") && stdout.contains("DPI"),
        "{stdout}"
    );
    for name in ["print.png", "atlas.png", "preview.png", "preflight.json"] {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    let print = std::fs::read(dir.join("print.png")).unwrap();
    assert_eq!(png_dpi(&print), Some(150));
    let img = image::load_from_memory(&print).unwrap();
    assert_eq!((img.width(), img.height()), (600, 600));
    let report: PreflightReport =
        serde_json::from_slice(&std::fs::read(dir.join("preflight.json")).unwrap()).unwrap();
    assert!(report.vector);
    assert_eq!(report.placement, "back-small");
    // no temporary files left behind
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn custom_placements_in_inches() {
    let out = tempfile::tempdir().unwrap();
    let run = bin()
        .args(["compose", &sample("sunset-badge.png"), "--panel", "front"])
        .args([
            "--x", "-2", "--y", "2", "--width", "4", "--height", "4", "--align", "center",
        ])
        .args(["--dpi", "72", "--fit", "cover", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: PreflightReport =
        serde_json::from_slice(&std::fs::read(out.path().join("preflight.json")).unwrap()).unwrap();
    assert_eq!(report.placement, "custom");
    assert_eq!((report.area.x_in, report.area.y_in), (9.0, 6.5));
}

fn fails(args: &[&str], code: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let run = bin()
        .args(args)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).to_string();
    assert!(!run.status.success(), "{args:?} succeeded");
    assert!(
        stderr.starts_with(&format!("error[{code}]: ")),
        "{args:?}: {stderr}"
    );
    // nothing half-written
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "{args:?}"
    );
    stderr
}

#[test]
fn bad_input_fails_with_the_code_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("design.png");
    std::fs::write(&text, "not an image").unwrap();
    let text = text.to_str().unwrap();
    fails(&["compose", text], "E_UNSUPPORTED_FORMAT");
    let empty = dir.path().join("empty.png");
    std::fs::write(&empty, "").unwrap();
    fails(&["compose", empty.to_str().unwrap()], "E_IMAGE_DECODE");
    let badge = sample("sunset-badge.png");
    let msg = fails(&["compose", &badge, "--preset", "huge"], "E_VALIDATION");
    assert!(msg.contains("chest-large"), "{msg}");
    let msg = fails(&["compose", &badge, "--color", "red"], "E_VALIDATION");
    assert!(msg.contains("#rrggbb"), "{msg}");
    fails(&["compose", &badge, "--fit", "fill"], "E_VALIDATION");
    fails(&["compose", &badge, "--dpi", "5000"], "E_VALIDATION");
    fails(
        &["compose", &badge, "--template", "no-such-pack"],
        "E_VALIDATION",
    );
    fails(
        &["compose", &badge, "--max-bytes", "1000"],
        "E_IMAGE_TOO_LARGE",
    );
    let msg = fails(
        &[
            "compose", &badge, "--panel", "front", "--x", "-20", "--y", "0", "--width", "4",
            "--height", "4",
        ],
        "E_VALIDATION",
    );
    assert!(msg.contains("leaves the `front` panel"), "{msg}");
    let missing = Path::new(text).with_file_name("missing.png");
    fails(&["compose", missing.to_str().unwrap()], "E_NOT_FOUND");
}

/// Reading the design file is one core function: a missing file is `E_NOT_FOUND` and a
/// folder `E_VALIDATION` in every subcommand that reads one.
#[test]
fn every_subcommand_reads_a_design_file_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let missing = missing.to_str().unwrap();
    let folder = dir.path().to_str().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let photo = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/photo-pack");
    for (design, code) in [(missing, "E_NOT_FOUND"), (folder, "E_VALIDATION")] {
        for args in [
            vec!["compose", design, "--out", data],
            vec!["render", design, "--out", data],
            vec!["mockup", design, "--photo", photo, "--out", data],
            vec!["--data", data, "submit", design, "--product", "p1"],
        ] {
            let run = bin().args(&args).output().unwrap();
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert!(
                stderr.starts_with(&format!("error[{code}]: ")),
                "{args:?}: {stderr}"
            );
        }
    }
}
