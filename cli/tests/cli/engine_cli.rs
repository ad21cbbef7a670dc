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

    // The typed outputs and preflight findings, in the JSON and in the text.
    let outputs = list[0]["outputs"].as_array().unwrap();
    let kinds: Vec<&str> = outputs
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    for kind in ["atlas", "print_file", "still_front", "turntable_mp4"] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let front = outputs.iter().find(|o| o["kind"] == "still_front").unwrap();
    assert_eq!(front["name"], "front.png");
    assert_eq!(front["content_type"], "image/png");
    assert_eq!(front["url"], list[0]["job"]["rendered_image_url"]);
    assert!(front["size"].as_u64().unwrap() > 0);
    let preflight = &list[0]["preflight"];
    assert!(preflight["effective_dpi"]["x"].as_f64().unwrap() > 0.0);
    assert!(preflight["warnings"].is_array());
    assert_eq!(
        job["outputs"], list[0]["outputs"],
        "submit --json carries them too"
    );

    let out = cli(dir.path())
        .args(["jobs", "show", &id])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status:     completed"));
    assert!(
        text.lines().any(|l| l.starts_with("output:")
            && l.contains("front.png")
            && l.contains("still_front")),
        "{text}"
    );
    assert!(text.contains("effective DPI"), "{text}");

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

#[test]
fn migrate_creates_and_upgrades_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop.db");
    let url = format!("sqlite://{}", db.display());
    let out = cli(dir.path())
        .args(["migrate", "--database", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("applied migrations 1, 2, 3"), "{text}");
    assert!(db.exists());
    let out = cli(dir.path())
        .args(["migrate", "--database", &url, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report, serde_json::json!({ "applied": [], "version": 3 }));
    // The default store: the SQLite file in the data folder, created with the folder.
    let data = dir.path().join("fresh-data");
    let out = cli(&data).args(["migrate"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.join("render-engine.db").exists());
    // A URL that names no store: a stable code, non-zero exit.
    let out = cli(dir.path())
        .args(["migrate", "--database", "mysql://x/y"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[E_VALIDATION]"));
}
