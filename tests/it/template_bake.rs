//! `bake_pack` (what `render-engine template bake` runs): a real, tiny Blender bake is
//! checked and swapped in; a cancelled bake stops Blender and keeps the previous bake; a
//! bake that fails its checks is never swapped in; bad settings are refused up front.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use render_engine::render::{
    bake_pack, BakeOptions, BakedRenderer, RenderOutputs, RenderProgress, RenderRequest, Renderer,
    View,
};
use render_engine::template::TemplatePack;
use render_engine::{CancelToken, GarmentColor};

use crate::blender::{blender_available, processes_mentioning};

/// A pack folder holding classic-tee's pattern under another id, without a bake.
fn unbaked_pack() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("re-bake-pack-")
        .tempdir()
        .unwrap();
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/templates/classic-tee/template.json"
    ))
    .unwrap()
    .replace("\"classic-tee\"", "\"bake-test-tee\"");
    std::fs::write(dir.path().join("template.json"), manifest).unwrap();
    dir
}

/// The quickest bake Blender can do (1 sample, 64 px stills, 24 frames of 32 px).
fn tiny() -> BakeOptions {
    BakeOptions::default().with_sizes(64, 32).with_samples(1, 1)
}

/// Names in `dir` that start with `.bake-` (a bake's temporary folder).
fn staging_left(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".bake-"))
        .collect()
}

#[test]
fn a_tiny_bake_is_checked_swapped_in_and_renders() {
    if !blender_available() {
        return;
    }
    let pack_dir = unbaked_pack();
    let before = TemplatePack::load(pack_dir.path()).unwrap();
    assert_eq!(before.baked_views().unwrap_err().code(), "E_VALIDATION");

    let steps = Mutex::new(Vec::new());
    let on_progress = |p: RenderProgress| steps.lock().unwrap().push((p.done, p.total));
    let report = bake_pack(
        pack_dir.path(),
        &tiny(),
        Some(&on_progress),
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(report.template, "bake-test-tee");
    assert_eq!(report.dir, pack_dir.path().join("baked"));
    let names: Vec<&str> = report.files.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "views.json",
        "front.uv.png",
        "front.shade.png",
        "front.indirect.png",
        "turntable.shade.png",
        "turntable.indirect.png",
        "drape.bin",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    // Progress went view by view to the end: 3 stills and 24 frames.
    let steps = steps.into_inner().unwrap();
    assert_eq!(steps.last(), Some(&(27, 27)), "{steps:?}");
    assert!(steps.windows(2).all(|w| w[0].0 <= w[1].0), "{steps:?}");
    assert!(staging_left(pack_dir.path()).is_empty());

    // The pack now renders with its own bake.
    let pack = TemplatePack::load(pack_dir.path()).unwrap();
    let views = pack.baked_views().unwrap();
    assert_eq!(views.still_size(View::Front), Some((64, 64)));
    // The drape the views were drawn with is stored for live renders.
    assert!(views.drape().unwrap().is_some());
    let atlas = image::RgbaImage::from_pixel(1800, 1640, image::Rgba([200, 30, 40, 255]));
    let out = BakedRenderer::new(views)
        .render(
            &RenderRequest::new(&atlas, GarmentColor::WHITE)
                .with_template(&pack)
                .with_outputs(RenderOutputs {
                    stills: vec![View::Front],
                    turntable: false,
                }),
        )
        .unwrap();
    let red = out.stills[0]
        .image
        .pixels()
        .filter(|p| p[0] > 60 && p[1] < 60 && p[2] < 60)
        .count();
    assert!(
        red > 64 * 64 / 10,
        "the garment (red fabric) covers only {red} px"
    );
    // Every view carries the backdrop shadow, soft but there.
    for (name, darkest) in pack.baked_views().unwrap().shadow_by_view().unwrap() {
        let d = darkest.unwrap_or_else(|| panic!("the `{name}` view has no backdrop shadow"));
        assert!((0.5..0.97).contains(&d), "`{name}`: darkest backdrop {d}");
    }
}

#[test]
fn a_cancelled_bake_stops_blender_and_keeps_the_previous_bake() {
    if !blender_available() {
        return;
    }
    let pack_dir = unbaked_pack();
    bake_pack(pack_dir.path(), &tiny(), None, &CancelToken::new()).unwrap();
    let index = std::fs::read(pack_dir.path().join("baked/views.json")).unwrap();

    // A slower bake, cancelled once its first view is done.
    let cancel = CancelToken::new();
    let trigger = cancel.clone();
    let running = Mutex::new(0);
    let needle = pack_dir.path().to_string_lossy().into_owned();
    let on_progress = |p: RenderProgress| {
        if p.done >= 1 && !trigger.is_cancelled() {
            *running.lock().unwrap() = processes_mentioning(&needle).len();
            trigger.cancel();
        }
    };
    let slow = BakeOptions::default()
        .with_sizes(128, 64)
        .with_samples(16, 16);
    let err = bake_pack(pack_dir.path(), &slow, Some(&on_progress), &cancel).unwrap_err();
    assert_eq!(err.code(), "E_CANCELLED", "{err}");
    assert!(
        *running.lock().unwrap() >= 1,
        "Blender was not seen running"
    );
    let left = processes_mentioning(&needle);
    assert!(left.is_empty(), "Blender survived the cancel: {left:?}");
    assert!(staging_left(pack_dir.path()).is_empty());
    assert_eq!(
        std::fs::read(pack_dir.path().join("baked/views.json")).unwrap(),
        index,
        "the previous bake changed"
    );
    TemplatePack::load(pack_dir.path())
        .unwrap()
        .baked_views()
        .unwrap();
}

/// A stand-in for Blender that answers `--version` like 3.4.1 and otherwise writes a
/// bake into its `--out` folder with `body` (a sh snippet; `$out` is that folder).
fn fake_blender(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("blender");
    let script = format!(
        "#!/bin/sh\n\
         if [ \"$1\" = --version ]; then echo 'Blender 3.4.1'; exit 0; fi\n\
         while [ $# -gt 0 ]; do if [ \"$1\" = --out ]; then out=\"$2\"; fi; shift; done\n\
         mkdir -p \"$out\"\n\
         {body}\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn a_bake_that_fails_its_checks_is_not_swapped_in() {
    let pack_dir = unbaked_pack();
    std::fs::create_dir(pack_dir.path().join("baked")).unwrap();
    std::fs::write(pack_dir.path().join("baked/views.json"), "previous").unwrap();
    let bin = tempfile::tempdir().unwrap();
    let result = "echo 'RENDER_ENGINE {\"event\":\"result\"}'";
    // The classic-tee's bake for this pack's id, its shade PNGs made RGB.
    let shadowless = tempfile::tempdir().unwrap();
    let baked = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/templates/classic-tee/baked");
    for entry in std::fs::read_dir(&baked).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let to = shadowless.path().join(&name);
        if name.ends_with(".shade.png") {
            image::open(&path).unwrap().into_rgb8().save(&to).unwrap();
        } else if name == "views.json" {
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&to, text.replace("\"classic-tee\"", "\"bake-test-tee\"")).unwrap();
        } else {
            std::fs::copy(&path, &to).unwrap();
        }
    }
    // The same bake with its shadows but without the indirect share of its light (as
    // bakes before 2026-12-08 were).
    let no_indirect = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&baked).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let to = no_indirect.path().join(&name);
        if name == "views.json" {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut index: serde_json::Value =
                serde_json::from_str(&text.replace("\"classic-tee\"", "\"bake-test-tee\""))
                    .unwrap();
            for still in index["stills"].as_array_mut().unwrap() {
                still.as_object_mut().unwrap().remove("indirect").unwrap();
            }
            index["turntable"]
                .as_object_mut()
                .unwrap()
                .remove("indirect")
                .unwrap();
            std::fs::write(&to, index.to_string()).unwrap();
        } else if !name.ends_with(".indirect.png") {
            std::fs::copy(&path, &to).unwrap();
        }
    }
    let cases = [
        // Reports success but writes no index.
        result.to_string(),
        // An index for another garment.
        format!(
            "cat > \"$out/views.json\" <<'J'\n{}\nJ\n{result}",
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/templates/classic-tee/baked/views.json"
            ))
            .unwrap()
        ),
        // Its images are not PNGs.
        format!(
            "sed 's/classic-tee/bake-test-tee/' > \"$out/views.json\" <<'J'\n{}\nJ\n\
             for v in front back three-quarter turntable; do echo junk > \"$out/$v.uv.png\"; \
             echo junk > \"$out/$v.shade.png\"; done\n{result}",
            std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/templates/classic-tee/baked/views.json"
            ))
            .unwrap()
        ),
        // Blender crashes half-way.
        "echo partial > \"$out/front.uv.png\"; kill -SEGV $$".to_string(),
        // A complete bake for this pack, but without the backdrop shadow (RGB shade PNGs).
        format!(
            "cp \"{}\"/* \"$out/\"\n{result}",
            shadowless.path().display()
        ),
        // A complete bake with its shadows, but without the indirect share of its light.
        format!(
            "cp \"{}\"/* \"$out/\"\n{result}",
            no_indirect.path().display()
        ),
    ];
    for body in cases {
        let options = tiny().with_blender_path(fake_blender(bin.path(), &body));
        let err = bake_pack(pack_dir.path(), &options, None, &CancelToken::new()).unwrap_err();
        assert_eq!(err.code(), "E_RENDER_FAILED", "{body}: {err}");
        if body.contains(&shadowless.path().display().to_string()) {
            assert!(err.to_string().contains("no backdrop shadow"), "{err}");
        }
        if body.contains(&no_indirect.path().display().to_string()) {
            assert!(err.to_string().contains("no indirect share"), "{err}");
        }
        assert_eq!(
            std::fs::read_to_string(pack_dir.path().join("baked/views.json")).unwrap(),
            "previous",
            "{body}"
        );
        assert!(staging_left(pack_dir.path()).is_empty(), "{body}");
    }
}

#[test]
fn bad_settings_and_folders_are_refused_before_blender_runs() {
    let pack_dir = unbaked_pack();
    let bin = tempfile::tempdir().unwrap();
    // Would leave a marker if it ran.
    let marker = bin.path().join("ran");
    let blender = fake_blender(bin.path(), &format!("touch {}", marker.display()));
    let err = bake_pack(
        pack_dir.path(),
        &tiny().with_frames(10).with_blender_path(&blender),
        None,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert!(err.to_string().contains("frames"), "{err}");
    let not_a_pack = tempfile::tempdir().unwrap();
    let err = bake_pack(
        not_a_pack.path(),
        &tiny().with_blender_path(&blender),
        None,
        &CancelToken::new(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert!(err.to_string().contains("template.json"), "{err}");
    assert!(!marker.exists());
}
