//! Template packs are loaded the same way from Rust and Node: two packs with one id are
//! refused (never one silently replacing the other), and a job names its pack by id.

use std::path::{Path, PathBuf};
use std::time::Duration;

use render_engine::{
    DesignSource, Engine, EngineConfig, JobStatus, OutputSelection, Preset, Submission,
    TemplatePack, View,
};

/// A copy of the built-in pack's manifest under `id`, in its own folder under `root`.
fn make_pack(root: &Path, folder: &str, id: &str) -> PathBuf {
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/templates/classic-tee/template.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(manifest).unwrap()).unwrap();
    json["id"] = serde_json::Value::String(id.into());
    json["name"] = serde_json::Value::String(format!("{id} from {folder}"));
    let dir = root.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("template.json"), json.to_string()).unwrap();
    dir
}

#[test]
fn load_all_refuses_two_packs_with_one_id() {
    let root = tempfile::tempdir().unwrap();
    let a = make_pack(root.path(), "a", "dup-tee");
    let b = make_pack(root.path(), "b", "dup-tee");
    let entries = [a.display().to_string(), b.display().to_string()];
    let err = TemplatePack::load_all(&entries).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert_eq!(err.fields()[0].field, "templates[1]", "{err}");
    assert!(
        err.to_string().contains("the id `dup-tee` of templates[0]"),
        "{err}"
    );
    // A broken entry is reported on its own index too.
    let missing = root.path().join("missing").display().to_string();
    let err = TemplatePack::load_all(&[entries[0].clone(), missing]).unwrap_err();
    assert_eq!(err.fields()[0].field, "templates[1]", "{err}");
    // Distinct ids load, in order, after the built-in pack.
    let c = make_pack(root.path(), "c", "other-tee");
    let packs =
        TemplatePack::load_all(&[a.display().to_string(), c.display().to_string()]).unwrap();
    let offered: Vec<_> = TemplatePack::with_builtin(&packs)
        .iter()
        .map(|p| p.id().to_string())
        .collect();
    assert_eq!(offered, ["classic-tee", "dup-tee", "other-tee"]);
}

#[tokio::test]
async fn the_engine_refuses_two_configured_packs_with_one_id() {
    let root = tempfile::tempdir().unwrap();
    let a = TemplatePack::load(&make_pack(root.path(), "a", "dup-tee")).unwrap();
    let b = TemplatePack::load(&make_pack(root.path(), "b", "dup-tee")).unwrap();
    let config = EngineConfig::new(root.path().join("data"))
        .with_store_url("memory:")
        .with_templates([a, b]);
    let err = Engine::open(config).await.unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert_eq!(err.fields()[0].field, "templates[1]", "{err}");
}

#[tokio::test]
async fn a_job_names_a_configured_pack_and_completes_with_it() {
    let root = tempfile::tempdir().unwrap();
    let pack = TemplatePack::load(&make_pack(root.path(), "flat", "flat-tee")).unwrap();
    let engine = Engine::open(
        EngineConfig::new(root.path().join("data"))
            .with_store_url("memory:")
            .with_poll_every(Duration::from_millis(20))
            .with_outputs(
                OutputSelection::none()
                    .with_stills([View::Front])
                    .with_turntable(false, false),
            )
            .with_template(pack),
    )
    .await
    .unwrap();
    let design = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/designs/sunset-badge.png"),
    )
    .unwrap();
    let created = engine
        .submit(
            Submission::new("prod_1", Preset::ChestLarge, DesignSource::Bytes(design))
                .with_template("flat-tee"),
        )
        .await
        .unwrap();
    let workers = engine.start();
    let job = engine
        .wait(created.id(), Duration::from_secs(60))
        .await
        .unwrap();
    workers.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        job.job.status,
        JobStatus::Completed,
        "{:?}",
        job.job.error_message
    );
    assert_eq!(job.job.template_id.as_deref(), Some("flat-tee"));
    // Only what was selected was produced: the atlas and the front still.
    let outputs = job.job.metadata.as_ref().unwrap()["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    assert_eq!(outputs, ["atlas.png", "front.png"]);
}
