//! Builds a render job and walks it through its lifecycle, printing its JSON at each step.
//!
//! `cargo run --example lifecycle`

use chrono::{TimeDelta, Utc};
use render_engine::{apply_event, JobEvent, NewRenderJob, Preset, RenderJob};

fn print(step: &str, job: &RenderJob) {
    println!("# {step}");
    println!(
        "{}",
        serde_json::to_string_pretty(job).expect("a job serialises")
    );
}

fn main() -> Result<(), render_engine::Error> {
    let mut now = Utc::now();
    let mut request = NewRenderJob::new(
        "prod_01HZX3",
        "file:///srv/designs/sunset.png",
        Preset::ChestLarge,
    );
    request.variant_id = Some("variant_01HZX4".into());
    request.metadata = Some(serde_json::json!({ "color": "#1f2937" }));
    let mut job = request.into_job(now)?;
    print("created", &job);

    let steps = [
        JobEvent::StartCompositing,
        JobEvent::Fail {
            code: "E_STORAGE".into(),
            message: "the disk was full while writing atlas.png".into(),
        },
        JobEvent::Retry,
        JobEvent::StartCompositing,
        JobEvent::Composited {
            composited_file_url: "file:///srv/out/atlas.png".into(),
        },
        JobEvent::StartRendering,
        JobEvent::Completed {
            rendered_image_url: "file:///srv/out/front.png".into(),
            animation_url: Some("file:///srv/out/turntable.mp4".into()),
        },
    ];
    for event in steps {
        now += TimeDelta::milliseconds(1500);
        job = apply_event(&job, &event, now)?;
        print(event.name(), &job);
    }

    // A completed job is final: retrying it is refused with a stable code.
    let refused = apply_event(&job, &JobEvent::Retry, now).unwrap_err();
    println!("# retry after completion is refused");
    println!("error[{}]: {}", refused.code(), refused);
    Ok(())
}
