//! A job's outputs and preflight findings, typed: what a front end (the Node package, a
//! Medusa plugin, the command line) shows or serves without reading `metadata` itself.
//!
//! The engine records them in the job's `metadata` when the job completes
//! (`metadata.outputs`, `metadata.preflight`, kept as they are for compatibility); the
//! accessors here read them back into [`JobOutput`]s and a [`JobPreflight`].

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compose::{Axes, PreflightWarning};
use crate::job::{JobStatus, RenderJob};
use crate::pipeline::OutputKind;
use crate::store::StoredJob;

/// One stored output file of a completed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOutput {
    /// The file name, unique within the job: `atlas.png`, `print.png`, `front.png`,
    /// `back.png`, `three-quarter.png`, `turntable.mp4`, `turntable.webp`. It names the
    /// output in [`crate::Engine::read_output`] and [`crate::Engine::output_url`].
    pub name: String,
    /// What it is; as text its stable snake_case name ([`OutputKind::as_str`]).
    pub kind: OutputKind,
    /// Where it is stored: the URL recorded at completion (a presigned bucket URL may
    /// have expired; [`crate::Engine::output_url`] gives a fresh one).
    pub url: String,
    /// Its content type: `image/png`, `video/mp4` or `image/webp`.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The preflight findings of a job's composition, as recorded when it completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPreflight {
    /// Design pixels per printed inch on each axis (150 and up is good for DTG printing;
    /// for an SVG design, the print DPI).
    pub effective_dpi: Axes,
    /// The print file's resolution.
    pub print_dpi: u32,
    /// The findings, most severe first (empty when there is nothing to say). Each has a
    /// stable code (`W_LOW_RESOLUTION`, ...), a severity (`info`, `warning`, `severe`)
    /// and a message saying what to do.
    pub warnings: Vec<PreflightWarning>,
}

impl RenderJob {
    /// The job's stored outputs, in the order they were produced; empty until the job
    /// has completed. Read from `metadata.outputs`, which the engine writes with the
    /// completion; entries this version does not recognise are left out.
    pub fn outputs(&self) -> Vec<JobOutput> {
        if self.status != JobStatus::Completed {
            return Vec::new();
        }
        let Some(list) = self
            .metadata
            .as_ref()
            .and_then(|m| m.get("outputs"))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        list.iter().filter_map(output_from_json).collect()
    }

    /// The output named `name` (`front.png`, ...), if the job completed with it.
    pub fn output(&self, name: &str) -> Option<JobOutput> {
        self.outputs().into_iter().find(|o| o.name == name)
    }

    /// The preflight findings of the job's composition; `None` until the engine has
    /// recorded them (at completion), or when the record is not one this version reads.
    pub fn preflight(&self) -> Option<JobPreflight> {
        let report = self.metadata.as_ref()?.get("preflight")?;
        serde_json::from_value(report.clone()).ok()
    }
}

impl StoredJob {
    /// The job's stored outputs ([`RenderJob::outputs`]).
    pub fn outputs(&self) -> Vec<JobOutput> {
        self.job.outputs()
    }

    /// The job's preflight findings ([`RenderJob::preflight`]).
    pub fn preflight(&self) -> Option<JobPreflight> {
        self.job.preflight()
    }
}

/// One `metadata.outputs` entry (`{ name, url, size, content_type }`) read back.
fn output_from_json(value: &Value) -> Option<JobOutput> {
    let name = value.get("name")?.as_str()?;
    let kind = OutputKind::from_file_name(name)?;
    Some(JobOutput {
        name: name.to_string(),
        kind,
        url: value.get("url")?.as_str()?.to_string(),
        content_type: value
            .get("content_type")
            .and_then(Value::as_str)
            .unwrap_or(kind.content_type())
            .to_string(),
        size: value.get("size").and_then(Value::as_u64).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{apply_event, JobEvent, NewRenderJob, Preset};
    use serde_json::json;

    fn completed(metadata: Value) -> RenderJob {
        let now = chrono::Utc::now();
        let mut job = NewRenderJob::new("prod", "file:///d.png", Preset::ChestLarge)
            .into_job(now)
            .unwrap();
        for event in [
            JobEvent::StartCompositing,
            JobEvent::StartRendering,
            JobEvent::Annotate {
                metadata: metadata.as_object().unwrap().clone(),
            },
        ] {
            job = apply_event(&job, &event, now).unwrap();
        }
        job
    }

    #[test]
    fn outputs_and_preflight_are_read_from_the_metadata() {
        let metadata = json!({
            "outputs": [
                { "name": "atlas.png", "url": "file:///a", "size": 10, "content_type": "image/png" },
                { "name": "turntable.mp4", "url": "file:///t", "size": 20, "content_type": "video/mp4" },
                { "name": "future.bin", "url": "file:///f", "size": 1, "content_type": "x/y" },
            ],
            "preflight": {
                "effective_dpi": { "x": 120.5, "y": 121.0 },
                "print_dpi": 300,
                "warnings": [{ "code": "W_LOW_RESOLUTION", "severity": "warning", "message": "m" }],
                "other": "fields are ignored",
            },
        });
        let running = completed(metadata);
        // Not completed yet: no outputs, whatever the metadata says.
        assert!(running.outputs().is_empty());
        let done = apply_event(
            &running,
            &JobEvent::Completed {
                rendered_image_url: "file:///f.png".into(),
                animation_url: None,
            },
            chrono::Utc::now(),
        )
        .unwrap();
        let outputs = done.outputs();
        assert_eq!(outputs.len(), 2, "the unknown entry is left out");
        assert_eq!(outputs[0].kind, OutputKind::Atlas);
        assert_eq!(outputs[1].kind.as_str(), "turntable_mp4");
        assert_eq!(outputs[1].size, 20);
        assert_eq!(
            serde_json::to_value(&outputs[1]).unwrap(),
            json!({ "name": "turntable.mp4", "kind": "turntable_mp4", "url": "file:///t",
                    "content_type": "video/mp4", "size": 20 })
        );
        assert_eq!(done.output("atlas.png").unwrap().url, "file:///a");
        assert!(done.output("front.png").is_none());
        let preflight = done.preflight().unwrap();
        assert_eq!(preflight.effective_dpi.x, 120.5);
        assert_eq!(preflight.print_dpi, 300);
        assert_eq!(preflight.warnings[0].code.as_str(), "W_LOW_RESOLUTION");
    }

    #[test]
    fn every_kind_has_a_unique_stable_name() {
        let names: Vec<_> = OutputKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "atlas",
                "print_file",
                "still_front",
                "still_back",
                "still_three_quarter",
                "turntable_mp4",
                "turntable_webp"
            ]
        );
        for kind in OutputKind::ALL {
            assert_eq!(OutputKind::from_name(kind.as_str()), Some(kind));
        }
    }
}
