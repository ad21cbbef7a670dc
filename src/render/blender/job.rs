//! The JSON contract between the library and `scripts/blender/render_job.py`.
//!
//! The library writes one job file per render; the script validates it, renders and
//! reports on its output (see `log.rs`). The contract is versioned: a script refuses a
//! job whose `contract` it does not read, so a stale script fails loudly instead of
//! rendering the wrong thing.

use std::path::PathBuf;

use serde::Serialize;

/// The contract version this library writes and the bundled script reads.
pub(super) const JOB_CONTRACT: u32 = 1;

/// One render job for the script, serialised as its JSON job file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct RenderJobSpec {
    /// Always [`JOB_CONTRACT`].
    pub contract: u32,
    /// The template's `template.json` (pattern polygons the garment is built from).
    pub template: PathBuf,
    /// The texture atlas PNG (straight alpha), or `None` for a plain garment.
    pub atlas: Option<PathBuf>,
    /// The drape the pack's bake stored (`baked/drape.bin`), or `None`: Blender drapes.
    pub drape: Option<PathBuf>,
    /// The fabric colour where the atlas is transparent, `#rrggbb`.
    pub color: String,
    /// The flat studio background behind the garment, `#rrggbb`.
    pub background: String,
    /// Cycles samples per pixel.
    pub samples: u32,
    /// Exposure and highlight shoulder for the garment's film before it is composited
    /// over the background, as the baked renderer finishes its pixels.
    pub tone: ToneSpec,
    /// The still cameras and their image size.
    pub stills: StillsSpec,
    /// The turntable, if wanted.
    pub turntable: Option<TurntableSpec>,
    /// An existing, empty directory the script writes its PNGs into.
    pub output_dir: PathBuf,
}

/// The colour finish of a job (see `render::calibration`): every film channel `x` (straight
/// alpha, linear) is exposed and black-pointed, `e = max(0, (x * exposure - black) /
/// (1 - black))`, then stays `e` up to `knee` and becomes
/// `knee + width * (1 - exp(-(e - knee) / width))` above it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct ToneSpec {
    /// The factor the film is multiplied by.
    pub exposure: f64,
    /// The black point, 0 to 0.5: exposed light at or below it becomes black.
    pub black: f64,
    /// Where the highlight shoulder starts.
    pub knee: f64,
    /// How far above the knee the shoulder rises at most.
    pub width: f64,
}

/// The stills of a job: one image per camera, all of one size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct StillsSpec {
    /// Image width, pixels.
    pub width: u32,
    /// Image height, pixels.
    pub height: u32,
    /// The cameras, in output order.
    pub cameras: Vec<CameraSpec>,
}

/// One still camera. A built-in still name (`front`, `back`, `three-quarter`) takes the
/// bake's angles unless they are given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct CameraSpec {
    /// The camera's name, also its output file stem (`front` -> `front.png`).
    pub name: String,
    /// The garment's turn about the vertical axis, degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_deg: Option<f64>,
    /// The camera's elevation above the horizon, degrees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elevation_deg: Option<f64>,
}

/// The turntable of a job: frame `i` shows the garment turned `360 * i / frames` degrees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(super) struct TurntableSpec {
    /// Frame width, pixels.
    pub width: u32,
    /// Frame height, pixels.
    pub height: u32,
    /// Number of frames.
    pub frames: usize,
    /// The camera's elevation, degrees.
    pub elevation_deg: f64,
}

/// The file the script writes for the still named `name`.
pub(super) fn still_file_name(name: &str) -> String {
    format!("{name}.png")
}

/// The file the script writes for turntable frame `index`.
pub(super) fn frame_file_name(index: usize) -> String {
    format!("turntable_{index:04}.png")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_script_reads_it() {
        let job = RenderJobSpec {
            contract: JOB_CONTRACT,
            template: "/t/template.json".into(),
            atlas: None,
            drape: Some("/t/drape.bin".into()),
            color: "#1f2937".into(),
            background: "#f6f6f6".into(),
            samples: 4,
            tone: ToneSpec {
                exposure: 1.1,
                black: 0.002,
                knee: 0.9,
                width: 0.11,
            },
            stills: StillsSpec {
                width: 200,
                height: 100,
                cameras: vec![CameraSpec {
                    name: "front".into(),
                    rotation_deg: None,
                    elevation_deg: None,
                }],
            },
            turntable: Some(TurntableSpec {
                width: 128,
                height: 128,
                frames: 4,
                elevation_deg: 2.0,
            }),
            output_dir: "/o".into(),
        };
        let value = serde_json::to_value(&job).unwrap();
        assert_eq!(value["contract"], 1);
        assert_eq!(value["atlas"], serde_json::Value::Null);
        assert_eq!(value["drape"], "/t/drape.bin");
        assert_eq!(
            value["stills"]["cameras"][0],
            serde_json::json!({"name": "front"})
        );
        assert_eq!(value["turntable"]["frames"], 4);
        assert_eq!(value["tone"]["knee"], 0.9);
        assert_eq!(value["tone"]["black"], 0.002);
        assert_eq!(still_file_name("front"), "front.png");
        assert_eq!(frame_file_name(3), "turntable_0003.png");
    }
}
