//! `render-engine mockup` end to end: files written per view and colour, errors with codes.

use std::process::Command;

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_render-engine"))
}

#[test]
fn writes_one_image_per_view_and_colour() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = tempfile::tempdir().unwrap();
    let status = cli()
        .args([
            "mockup",
            &format!("{root}/examples/designs/sunset-badge.png"),
        ])
        .args(["--photo", &format!("{root}/examples/photo-pack")])
        .args([
            "--color", "#1f2937", "--color", "#FFFFFF", "--format", "png",
        ])
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut names: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["front-1f2937.png", "front-ffffff.png"]);
    let img = image::open(out.path().join("front-1f2937.png")).unwrap();
    assert_eq!((img.width(), img.height()), (1200, 1400));
}

#[test]
fn bad_input_exits_non_zero_with_the_code() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let output = cli()
            .args([
                "mockup",
                &format!("{root}/examples/designs/sunset-badge.png"),
            ])
            .args(["--photo", &format!("{root}/examples/photo-pack")])
            .arg("--out")
            .arg(out.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    assert!(run(&["--color", "red"]).starts_with("error[E_VALIDATION]"));
    assert!(run(&["--format", "gif"]).starts_with("error[E_VALIDATION]"));
    assert!(run(&["--quality", "0"]).starts_with("error[E_VALIDATION]"));
}
