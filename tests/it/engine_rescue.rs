//! A worker that dies mid-job: its lease expires, a running engine rescues the job and
//! finishes it; the job ends exactly once.

use std::io::Cursor;
use std::time::{Duration, Instant};

use render_engine::{
    DesignSource, Engine, EngineConfig, JobEvent, JobStatus, OutputSelection, Preset, Submission,
    View,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_job_is_rescued_and_completed_once() {
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbaImage::from_pixel(200, 200, image::Rgba([10, 200, 30, 255]));
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let config = EngineConfig::new(dir.path())
        .with_store_url(format!("sqlite://{}", dir.path().join("jobs.db").display()))
        .with_lease(Duration::from_secs(1), Duration::from_millis(200))
        .with_poll_every(Duration::from_millis(50))
        .with_outputs(
            OutputSelection::all()
                .with_print_file(false)
                .with_stills([View::Front])
                .with_turntable(false, false),
        );
    let engine = Engine::open(config).await.unwrap();
    let id = engine
        .submit(Submission::new(
            "prod_1",
            Preset::BackSmall,
            DesignSource::Bytes(png),
        ))
        .await
        .unwrap()
        .job
        .id()
        .clone();

    // The "dead" worker: claims with a short lease, starts, then never heartbeats.
    let store = engine.store().clone();
    let claimed = store
        .claim("dead", 1, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    store
        .apply(&claimed[0], &JobEvent::StartCompositing)
        .await
        .unwrap();

    let workers = engine.start();
    let started = Instant::now();
    let job = loop {
        let job = store.get(&id).await.unwrap();
        if job.job.status.is_terminal() {
            break job;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "stuck: {:?}",
            job.job.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let report = workers.shutdown(Duration::from_secs(5)).await.unwrap();
    assert_eq!(job.job.status, JobStatus::Completed);
    assert_eq!(job.job.attempt, 2, "the dead worker's attempt counts");
    assert_eq!(job.errors.len(), 1);
    assert_eq!(job.errors[0].code, "E_LEASE_LOST");
    assert_eq!(report.completed, vec![id]);
}
