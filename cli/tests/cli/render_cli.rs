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
        concat!(env!("CARGO_MANIFEST_DIR"), "/..")
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

#[test]
fn render_with_blender_missing_is_unavailable_and_writes_nothing() {
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("out");
    for blender_path in [None, Some("/nonexistent/blender")] {
        let mut cmd = bin();
        // PATH is /nonexistent (see `bin`), so no Blender is found there.
        match blender_path {
            Some(path) => cmd.env("BLENDER_PATH", path),
            None => cmd.env_remove("BLENDER_PATH"),
        };
        let output = cmd
            .args(["render", &design(), "--renderer", "blender", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let err = String::from_utf8(output.stderr).unwrap();
        assert!(err.contains("error[E_RENDERER_UNAVAILABLE]"), "{err}");
        assert!(err.contains("apt-get install"), "{err}");
        assert!(!out.exists(), "the output directory was created");
    }
    let err = run_err(&["render", &design(), "--samples", "8"], &out);
    assert!(
        err.contains("error[E_VALIDATION]") && err.contains("--renderer blender"),
        "{err}"
    );
}

#[test]
fn render_with_blender_runs_the_given_blender() {
    // A stand-in Blender (shell builtins only: PATH is empty) proves the command routes to
    // the live backend with the samples asked for, and reports its failure with the end
    // of its log.
    use std::os::unix::fs::PermissionsExt;
    let bin_dir = tempfile::tempdir().unwrap();
    let fake = bin_dir.path().join("blender");
    std::fs::write(
        &fake,
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'Blender 3.4.1'; exit 0; fi\n\
         for a in \"$@\"; do job=\"$a\"; done\n\
         while read -r line; do case \"$line\" in *samples*) echo \"job $line\";; esac; done < \"$job\"\n\
         echo 'Error: stand-in Blender gives up'; exit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = bin()
        .args([
            "render",
            &design(),
            "--renderer",
            "blender",
            "--samples",
            "3",
        ])
        .arg("--blender")
        .arg(&fake)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.contains("error[E_RENDER_FAILED]"), "{err}");
    assert!(err.contains("Blender exited with status 1"), "{err}");
    assert!(err.contains("job \"samples\": 3,"), "{err}");
    assert!(err.contains("stand-in Blender gives up"), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn a_panic_is_reported_as_e_internal_with_exit_status_1() {
    let run = |backtrace: &str| {
        Command::new(env!("CARGO_BIN_EXE_render-engine"))
            .arg("__panic")
            .env("RENDER_ENGINE_TEST_PANICS", "1")
            .env("RUST_BACKTRACE", backtrace)
            .output()
            .unwrap()
    };
    let out = run("0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error[E_INTERNAL]: a panic inside render-engine: the command line's test panic"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("panicked at"),
        "no raw panic message: {stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line without RUST_BACKTRACE: {stderr}"
    );
    // With RUST_BACKTRACE the backtrace follows the error line.
    let out = run("1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.lines().count() > 3, "a backtrace: {stderr}");
    // Without the test switch the hook is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_render-engine"))
        .arg("__panic")
        .env_remove("RENDER_ENGINE_TEST_PANICS")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error[E_VALIDATION]"));
}

// Issue 15, point 9: the main job prints nothing alarming.

/// `render-engine render` prints its progress and summary, nothing from the codecs.
#[test]
fn render_prints_no_codec_warnings() {
    let out = tempfile::tempdir().unwrap();
    let design = format!(
        "{}/examples/designs/sunset-badge.png",
        concat!(env!("CARGO_MANIFEST_DIR"), "/..")
    );
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_render-engine"))
        .env("PATH", "/nonexistent")
        .args(["render", &design, "--preset", "chest-large", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(out.path().join("turntable.mp4").is_file());
    for alarming in ["OpenH264", "Warning", "warning", "WARN"] {
        assert!(
            !stderr.contains(alarming),
            "stderr mentions {alarming:?}:\n{stderr}"
        );
    }
}
