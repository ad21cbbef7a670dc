//! The engine's command line: submit --wait, jobs list/show/cancel, refused input.

use std::process::Command;

fn cli(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_render-engine"));
    cmd.env_remove("RENDER_ENGINE_DATABASE_URL")
        .env("RENDER_ENGINE_DATA", data);
    cmd
}

#[test]
fn submit_wait_then_list_and_show() {
    let dir = tempfile::tempdir().unwrap();
    let design = concat!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/.."),
        "/examples/designs/sunset-badge.png"
    );
    let out = cli(dir.path())
        .args([
            "submit",
            design,
            "--product",
            "prod_1",
            "--color",
            "#1f2937",
            "--wait",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["job"]["status"], "completed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("100%"));
    let id = job["job"]["id"].as_str().unwrap().to_string();

    let out = cli(dir.path())
        .args(["jobs", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["job"]["id"], id.as_str());
    // Not running: no progress; no failed attempt.
    assert_eq!(list[0]["progress"], serde_json::Value::Null);
    assert_eq!(list[0]["errors"], serde_json::json!([]));

    let out = cli(dir.path())
        .args(["jobs", "show", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("status:     completed"));

    // A finished job cannot be cancelled: a stable code on stderr, non-zero exit.
    let out = cli(dir.path())
        .args(["jobs", "cancel", &id])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[E_INVALID_TRANSITION]"));
}

#[test]
fn a_text_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("design.png");
    std::fs::write(&fake, "not an image").unwrap();
    let out = cli(&dir.path().join("data"))
        .args(["submit", fake.to_str().unwrap(), "--product", "prod_1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[E_UNSUPPORTED_FORMAT]"));
}

#[test]
fn a_design_url_on_a_private_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path())
        .args([
            "submit",
            "http://169.254.169.254/latest/meta-data/",
            "--product",
            "prod_1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error[E_VALIDATION]"), "{stderr}");
    assert!(stderr.contains("link-local"), "{stderr}");
}
