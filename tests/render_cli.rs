//! `render-engine render`: the main job, end to end through the binary.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_render-engine"));
    // The baked path needs nothing from the system: no Blender, no ffmpeg on PATH.
    cmd.env("PATH", "/nonexistent");
    cmd
}

fn design() -> String {
    format!(
        "{}/examples/designs/sunset-badge.png",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn render_writes_every_output() {
    let out = tempfile::tempdir().unwrap();
    let status = bin()
        .args(["render", &design(), "--preset", "chest-large"])
        .args(["--color", "#1f2937", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let listed = String::from_utf8(status.stdout).unwrap();
    for name in [
        "print.png",
        "atlas.png",
        "preflight.json",
        "front.png",
        "back.png",
        "three-quarter.png",
        "turntable.mp4",
        "turntable.webp",
    ] {
        let path = out.path().join(name);
        assert!(path.is_file(), "{name} missing");
        assert!(listed.contains(name), "{name} not listed: {listed}");
    }
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let img = |name: &str| image::open(out.path().join(name)).unwrap().to_rgba8();
    assert_eq!(img("atlas.png").dimensions(), (1800, 1640));
    let front = img("front.png");
    assert_eq!(front.dimensions(), (1024, 1024));
    assert_eq!(img("back.png").dimensions(), (1024, 1024));
    assert_eq!(img("three-quarter.png").dimensions(), (1024, 1024));
    // The front shows the dark garment in the middle of the lower body.
    let p = front.get_pixel(512, 800);
    assert!(p[0] < 90 && p[1] < 90 && p[2] < 110, "{p:?}");
    // The front and back stills differ (the design is on the front).
    assert_ne!(front, img("back.png"));

    let preflight: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("preflight.json")).unwrap()).unwrap();
    assert!(preflight.is_object());

    let mp4 = std::fs::read(out.path().join("turntable.mp4")).unwrap();
    assert_eq!(&mp4[4..8], b"ftyp");
    let ftyp_len = u32::from_be_bytes(mp4[..4].try_into().unwrap()) as usize;
    assert_eq!(&mp4[ftyp_len + 4..ftyp_len + 8], b"moov", "not fast-start");
    let webp = std::fs::read(out.path().join("turntable.webp")).unwrap();
    assert_eq!(&webp[..4], b"RIFF");
    assert_eq!(&webp[8..12], b"WEBP");
}

fn run_err(args: &[&str], out: &Path) -> String {
    let output = bin().args(args).arg("--out").arg(out).output().unwrap();
    assert!(!output.status.success());
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn render_reports_bad_input_with_codes() {
    let out = tempfile::tempdir().unwrap();
    let err = run_err(&["render", "/nonexistent/design.png"], out.path());
    assert!(err.contains("error[E_NOT_FOUND]"), "{err}");
    let err = run_err(&["render", &design(), "--color", "blue"], out.path());
    assert!(
        err.contains("error[E_VALIDATION]") && err.contains("#rrggbb"),
        "{err}"
    );
    let err = run_err(&["render", &design(), "--preset", "pocket"], out.path());
    assert!(err.contains("error[E_VALIDATION]"), "{err}");
    // Nothing is written on failure.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}
