//! Template packs are loaded the same way from Rust and Node: two packs with one id are
//! refused (never one silently replacing the other), and a job names its pack by id. A
//! pack owns its garment: the baked renderer draws a pack folder with the pack's own
//! bake (`baked/`), and a pack without one composes but is refused for rendering.

use std::path::{Path, PathBuf};
use std::time::Duration;

use render_engine::render::{BakedRenderer, RenderOutputs, RenderRequest, Renderer};
use render_engine::{
    compose, ComposeOptions, DesignSource, Engine, EngineConfig, GarmentColor, JobStatus,
    OutputSelection, Preset, Submission, TemplatePack, View,
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

/// Gives the pack in `dir` (whose id is `id`) a bake: a copy of the built-in one, its
/// index rewritten for `id` and changed by `edit`.
fn bake_pack(dir: &Path, id: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/templates/classic-tee/baked");
    let baked = dir.join("baked");
    std::fs::create_dir_all(&baked).unwrap();
    for entry in std::fs::read_dir(&builtin).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), baked.join(entry.file_name())).unwrap();
    }
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(baked.join("views.json")).unwrap()).unwrap();
    index["template"] = serde_json::Value::String(id.into());
    edit(&mut index);
    std::fs::write(baked.join("views.json"), index.to_string()).unwrap();
}

fn sunset_badge() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/designs/sunset-badge.png"))
        .unwrap()
}

/// Renders the front still of `design` composed on `pack`.
fn front_on(pack: &TemplatePack, design: &[u8]) -> render_engine::Result<image::RgbaImage> {
    let color = GarmentColor::parse("#1f2937").unwrap();
    let composition = compose(
        design,
        &ComposeOptions::new(Preset::ChestLarge)
            .with_template(pack.clone())
            .with_color(color),
    )?;
    let request = RenderRequest::new(&composition.atlas, color)
        .with_outputs(RenderOutputs {
            stills: vec![View::Front],
            turntable: false,
        })
        .with_template(pack);
    let mut out = BakedRenderer::builtin()?.render(&request)?;
    Ok(out.stills.remove(0).image)
}

#[test]
fn a_pack_folder_is_drawn_with_its_own_bake() {
    let root = tempfile::tempdir().unwrap();
    let dir = make_pack(root.path(), "own", "own-tee");
    // Its own bake differs from the built-in one in its background, which shows in the
    // corner of every still.
    bake_pack(&dir, "own-tee", |index| {
        index["background"] = "#102030".into()
    });
    let pack = TemplatePack::load(&dir).unwrap();
    let design = sunset_badge();
    let own = front_on(&pack, &design).unwrap();
    assert_eq!(own.get_pixel(0, 0).0, [0x10, 0x20, 0x30, 255]);
    let builtin = front_on(&TemplatePack::builtin(), &design).unwrap();
    assert_eq!(builtin.get_pixel(0, 0).0, [0xf6, 0xf6, 0xf6, 255]);
    // Apart from the background, the same garment (the bake is a copy).
    let garment = |img: &image::RgbaImage| img.get_pixel(512, 600).0;
    assert_eq!(garment(&own), garment(&builtin));
}

#[test]
fn a_pack_without_a_bake_composes_but_is_refused_for_rendering() {
    let root = tempfile::tempdir().unwrap();
    let dir = make_pack(root.path(), "raw", "raw-tee");
    let pack = TemplatePack::load(&dir).unwrap();
    let design = sunset_badge();
    // The print file and the atlas are made.
    compose(
        &design,
        &ComposeOptions::new(Preset::ChestLarge).with_template(pack.clone()),
    )
    .unwrap();
    let err = front_on(&pack, &design).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert_eq!(err.fields()[0].field, "template", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("raw-tee") && text.contains("has no bake"),
        "{text}"
    );
    assert!(
        text.contains(&format!("render-engine template bake {}", dir.display())),
        "{text}"
    );
    assert_eq!(
        BakedRenderer::builtin()
            .unwrap()
            .check_template(&pack)
            .unwrap_err()
            .code(),
        "E_VALIDATION"
    );
}

#[test]
fn a_bake_of_another_garment_or_naming_files_outside_the_pack_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let design = sunset_badge();
    // Baked for another pack id.
    let dir = make_pack(root.path(), "other", "other-tee");
    bake_pack(&dir, "other-tee", |index| {
        index["template"] = "classic-tee".into()
    });
    let err = front_on(&TemplatePack::load(&dir).unwrap(), &design).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert!(err.to_string().contains("re-bake"), "{err}");
    // Baked for another atlas size.
    let dir = make_pack(root.path(), "size", "size-tee");
    bake_pack(&dir, "size-tee", |index| {
        index["atlas"]["width_px"] = 1000.into()
    });
    let err = front_on(&TemplatePack::load(&dir).unwrap(), &design).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert!(err.to_string().contains("1000x"), "{err}");
    // An index naming a file outside the pack.
    let secret = root.path().join("secret.png");
    std::fs::write(&secret, b"not for the renderer").unwrap();
    let dir = make_pack(root.path(), "escape", "escape-tee");
    bake_pack(&dir, "escape-tee", |index| {
        index["stills"][0]["uv"] = "../../secret.png".into()
    });
    let err = front_on(&TemplatePack::load(&dir).unwrap(), &design).unwrap_err();
    assert!(err.to_string().contains("leaves the pack"), "{err}");
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
    // Distinct ids load, in order, after the built-in garments.
    let c = make_pack(root.path(), "c", "other-tee");
    let packs =
        TemplatePack::load_all(&[a.display().to_string(), c.display().to_string()]).unwrap();
    let offered: Vec<_> = TemplatePack::with_builtin(&packs)
        .iter()
        .map(|p| p.id().to_string())
        .collect();
    assert_eq!(
        offered,
        [
            "classic-tee",
            "long-sleeve-tee",
            "hoodie",
            "dup-tee",
            "other-tee"
        ]
    );
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
    let flat = make_pack(root.path(), "flat", "flat-tee");
    bake_pack(&flat, "flat-tee", |_| {});
    let pack = TemplatePack::load(&flat).unwrap();
    let raw = TemplatePack::load(&make_pack(root.path(), "raw", "raw-tee")).unwrap();
    let engine = Engine::open(
        EngineConfig::new(root.path().join("data"))
            .with_store_url("memory:")
            .with_poll_every(Duration::from_millis(20))
            .with_outputs(
                OutputSelection::none()
                    .with_stills([View::Front])
                    .with_turntable(false, false),
            )
            .with_template(pack)
            .with_template(raw),
    )
    .await
    .unwrap();
    let design = sunset_badge();
    // A pack without a bake is refused before any job exists.
    let err = engine
        .submit(
            Submission::new(
                "prod_1",
                Preset::ChestLarge,
                DesignSource::Bytes(design.clone()),
            )
            .with_template("raw-tee"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert!(err.to_string().contains("has no bake"), "{err}");
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

/// Every built-in garment loads with its embedded bake, whose views fit its atlas, and
/// renders a front still where its print lands on the garment.
#[test]
fn every_built_in_garment_has_its_bake_and_renders() {
    let ids: Vec<String> = TemplatePack::builtins()
        .iter()
        .map(|p| p.id().to_string())
        .collect();
    assert_eq!(ids, ["classic-tee", "long-sleeve-tee", "hoodie"]);
    let design = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/designs/sunset-badge.png"
    ))
    .unwrap();
    for pack in TemplatePack::builtins() {
        assert_eq!(TemplatePack::named(pack.id()).unwrap().id(), pack.id());
        let views = pack.baked_views().unwrap();
        assert_eq!(views.template(), pack.id());
        assert_eq!(views.atlas_size(), pack.atlas_size_px());
        let color = GarmentColor::parse("#1f2937").unwrap();
        let options = ComposeOptions::new(Preset::ChestLarge)
            .with_color(color)
            .with_template(pack.clone());
        let atlas = compose(&design, &options).unwrap().atlas;
        let out = BakedRenderer::new(views)
            .render(
                &RenderRequest::new(&atlas, color)
                    .with_template(&pack)
                    .with_outputs(RenderOutputs {
                        stills: vec![View::Front],
                        turntable: false,
                    }),
            )
            .unwrap();
        // The badge's orange shows on the front.
        let orange = out.stills[0]
            .image
            .pixels()
            .filter(|p| p[0] > 150 && p[1] > 60 && p[1] < 170 && p[2] < 90)
            .count();
        assert!(orange > 2000, "{}: only {orange} orange pixels", pack.id());
    }
}

/// The hoodie's front presets sit above its kangaroo pocket, as print shops place them.
#[test]
fn the_hoodie_prints_above_its_pocket() {
    let hoodie = TemplatePack::named("hoodie").unwrap();
    let pocket_top = hoodie.manifest().garment.as_ref().unwrap()["pocket"]["top_in"]
        .as_f64()
        .unwrap();
    let collar_y = hoodie.panel("front").unwrap().collar_point[1];
    for preset in [Preset::ChestLarge, Preset::DeadCenterMedium] {
        let area = hoodie.preset_area(preset);
        assert_eq!(area.panel, "front");
        let bottom_below_collar = area.y_in + area.height_in - collar_y;
        assert!(
            bottom_below_collar <= pocket_top,
            "{preset} ends {bottom_below_collar} in below the collar, the pocket starts at {pocket_top}"
        );
    }
}

/// A rib collar's top edge is one smooth oval: over each shoulder seam, where the front's
/// and back's necklines meet at an angle, it does not rise into a point. Measured on the
/// silhouette's top edge in a bare black front still: no column stands more than 10 px
/// above the mean of the columns 8 px either side. The bakes before the rounded collar
/// had 14 px "horns" there; the rounded collar meets the shoulder's slope in a plain
/// corner of about 7.5 px.
#[test]
fn a_rib_collar_has_no_horns_over_the_shoulders() {
    for pack in TemplatePack::builtins() {
        let collar = pack
            .manifest()
            .garment
            .as_ref()
            .and_then(|g| g.get("collar"))
            .and_then(|c| c.as_str())
            .unwrap_or("rib");
        if collar != "rib" {
            continue;
        }
        let front = bare_front(&pack, "#111111");
        let (width, height) = front.dimensions();
        // The topmost garment (dark) pixel of each column; None where the column has none.
        let top: Vec<Option<u32>> = (0..width)
            .map(|x| (0..height).find(|&y| front.get_pixel(x, y).0[..3].iter().all(|&c| c < 80)))
            .collect();
        let mut worst = (0.0f64, 0u32);
        for x in 8..width - 8 {
            if let (Some(l), Some(m), Some(r)) =
                (top[x as usize - 8], top[x as usize], top[x as usize + 8])
            {
                let spike = (l + r) as f64 / 2.0 - m as f64;
                if spike > worst.0 {
                    worst = (spike, x);
                }
            }
        }
        assert!(
            worst.0 <= 10.0,
            "{}: the collar's top edge rises {} px above its neighbours at x = {}",
            pack.id(),
            worst.0,
            worst.1
        );
    }
}

/// The front still of `pack` with no print, in the garment colour `hex`.
fn bare_front(pack: &TemplatePack, hex: &str) -> image::RgbaImage {
    let (w, h) = pack.atlas_size_px();
    let atlas = image::RgbaImage::new(w, h);
    let color = GarmentColor::parse(hex).unwrap();
    let mut out = BakedRenderer::new(pack.baked_views().unwrap())
        .render(
            &RenderRequest::new(&atlas, color)
                .with_template(pack)
                .with_outputs(RenderOutputs {
                    stills: vec![View::Front],
                    turntable: false,
                }),
        )
        .unwrap();
    out.stills.remove(0).image
}

/// Luminance (0-255) of an sRGB pixel, unweighted mean.
fn grey(p: &image::Rgba<u8>) -> f64 {
    (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0
}

/// `profile` minus its mean over `half` samples either side: what stands out of it at a
/// small scale (a stitch line, a cord) with the slow shading taken away.
fn high_pass(profile: &[f64], half: usize) -> Vec<f64> {
    (0..profile.len())
        .map(|i| {
            let lo = i.saturating_sub(half);
            let hi = (i + half + 1).min(profile.len());
            profile[i] - profile[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
        })
        .collect()
}

/// Root mean square of `values`.
fn rms(values: &[f64]) -> f64 {
    (values.iter().map(|v| v * v).sum::<f64>() / values.len() as f64).sqrt()
}

/// A tee's turned hem shows its twin-needle stitching: in a bare navy front still, the
/// brightness profile up from the hem edge (each column aligned at its own hem edge,
/// averaged over the middle half of the hem) has lines between 0.55 and 1.2 in above the
/// edge that stand out more than 4 times as much as the knit and drape do 2 to 5 in
/// above it (with the stitching: about 17 times; the bakes before it: 2.5 times).
#[test]
fn a_turned_hem_shows_its_twin_needle_stitching() {
    for id in ["classic-tee", "long-sleeve-tee"] {
        let pack = TemplatePack::named(id).unwrap();
        let front = bare_front(&pack, "#1f2937");
        let (width, height) = front.dimensions();
        let ppi = still_pixels_per_inch(&pack);
        let is_fabric = |x: u32, y: u32| grey(front.get_pixel(x, y)) < 120.0;
        // The garment stands in the middle of the frame: the middle 8 in of its hem, each
        // column from its own lowest fabric pixel (the hem edge) up.
        let middle =
            (width as f64 / 2.0 - 4.0 * ppi) as u32..(width as f64 / 2.0 + 4.0 * ppi) as u32;
        let edge: Vec<u32> = middle
            .clone()
            .map(|x| (0..height).rev().find(|&y| is_fabric(x, y)).unwrap())
            .collect();
        let reach = (5.5 * ppi) as u32;
        let profile: Vec<f64> = (0..reach)
            .map(|up| {
                middle
                    .clone()
                    .zip(&edge)
                    .map(|(x, &y)| grey(front.get_pixel(x, y - up)))
                    .sum::<f64>()
                    / edge.len() as f64
            })
            .collect();
        let lines = high_pass(&profile, 4);
        let at = |inch: f64| (inch * ppi) as usize;
        let stitch = lines[at(0.55)..at(1.2)]
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let plain = rms(&lines[at(2.0)..at(5.0)]);
        assert!(
            stitch > 4.0 * plain,
            "{id}: the hem stitching stands out {stitch:.2} against {plain:.2} of plain fabric"
        );
    }
}

/// The hoodie's drawcords hang down its chest: in a bare navy front still, the
/// brightness across the chest (rows 28-48% of the garment's height down from its top,
/// averaged) has two narrow features 1.2 to 2.2 in either side of the centre that stand
/// out more than 3.5 times as much as the fabric 3 to 6 in from the centre does (the
/// cords: 5.6 and 5.1 times; the bake before them: 2.4 times).
#[test]
fn the_hoodie_has_drawcords() {
    let pack = TemplatePack::named("hoodie").unwrap();
    let front = bare_front(&pack, "#1f2937");
    let (width, height) = front.dimensions();
    let ppi = still_pixels_per_inch(&pack);
    let is_fabric = |x: u32, y: u32| grey(front.get_pixel(x, y)) < 120.0;
    let rows: Vec<u32> = (0..height)
        .filter(|&y| (0..width).any(|x| is_fabric(x, y)))
        .collect();
    let (top, bottom) = (rows[0] as f64, rows[rows.len() - 1] as f64);
    let band = (top + 0.28 * (bottom - top)) as u32..(top + 0.48 * (bottom - top)) as u32;
    let mid_row = band.end;
    let sides: Vec<u32> = (0..width).filter(|&x| is_fabric(x, mid_row)).collect();
    let centre = (sides[0] + sides[sides.len() - 1]) as f64 / 2.0;
    let profile: Vec<f64> = (0..width)
        .map(|x| {
            band.clone()
                .map(|y| grey(front.get_pixel(x, y)))
                .sum::<f64>()
                / band.len() as f64
        })
        .collect();
    let lines = high_pass(&profile, 5);
    let span = |from: f64, to: f64, side: f64| {
        let a = (centre + side * from * ppi) as usize;
        let b = (centre + side * to * ppi) as usize;
        lines[a.min(b)..a.max(b)].to_vec()
    };
    let peak = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let plain = rms(&[span(3.0, 6.0, -1.0), span(3.0, 6.0, 1.0)].concat());
    for (side, name) in [(-1.0, "right"), (1.0, "left")] {
        let cord = peak(&span(1.2, 2.2, side));
        assert!(
            cord > 3.5 * plain,
            "the wearer's {name} cord stands out {cord:.2} against {plain:.2} of plain fabric"
        );
    }
}

/// Pixels per inch of garment in a pack's 1024 px front still: the camera frames the
/// same studio for every pack, and the front still is 1024 px across about 39 in.
fn still_pixels_per_inch(pack: &TemplatePack) -> f64 {
    let (width, _) = pack.baked_views().unwrap().still_size(View::Front).unwrap();
    width as f64 / 39.0
}
