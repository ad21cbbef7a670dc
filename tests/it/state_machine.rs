//! The render job state machine: every edge of the transition table, the payload rules,
//! and property tests over random event sequences.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use render_engine::{
    apply_event, can_transition, JobEvent, JobStatus, NewRenderJob, Preset, RenderJob,
};

fn t0() -> DateTime<Utc> {
    "2026-11-28T10:00:00Z".parse().unwrap()
}

fn new_job() -> RenderJob {
    let mut request = NewRenderJob::new("prod_1", "file:///designs/a.png", Preset::BackSmall);
    request.variant_id = Some("variant_1".into());
    request.template_id = Some("classic-tee".into());
    request.metadata = Some(serde_json::json!({"shop": "demo"}));
    request.into_job(t0()).unwrap()
}

fn completed_event() -> JobEvent {
    JobEvent::Completed {
        rendered_image_url: "file:///out/front.png".into(),
        animation_url: Some("file:///out/turntable.mp4".into()),
    }
}

fn fail_event() -> JobEvent {
    JobEvent::Fail {
        code: "E_RENDER_FAILED".into(),
        message: "the renderer crashed".into(),
    }
}

/// One representative event per target status, for the table tests.
fn event_to(status: JobStatus) -> JobEvent {
    match status {
        JobStatus::Pending => JobEvent::Retry,
        JobStatus::Compositing => JobEvent::StartCompositing,
        JobStatus::Rendering => JobEvent::StartRendering,
        JobStatus::Completed => completed_event(),
        JobStatus::Failed => fail_event(),
        JobStatus::Cancelled => JobEvent::Cancel,
    }
}

/// A job in `status`, reached through the real transitions.
fn job_in(status: JobStatus) -> RenderJob {
    let mut at = t0();
    let mut step = |job: &RenderJob, event: JobEvent| {
        at += TimeDelta::seconds(1);
        apply_event(job, &event, at).unwrap()
    };
    let pending = new_job();
    match status {
        JobStatus::Pending => pending,
        JobStatus::Compositing => step(&pending, JobEvent::StartCompositing),
        JobStatus::Rendering => {
            let c = step(&pending, JobEvent::StartCompositing);
            step(&c, JobEvent::StartRendering)
        }
        JobStatus::Completed => {
            let c = step(&pending, JobEvent::StartCompositing);
            let r = step(&c, JobEvent::StartRendering);
            step(&r, completed_event())
        }
        JobStatus::Failed => {
            let c = step(&pending, JobEvent::StartCompositing);
            step(&c, fail_event())
        }
        JobStatus::Cancelled => step(&pending, JobEvent::Cancel),
    }
}

const ALLOWED: &[(JobStatus, JobStatus)] = &[
    (JobStatus::Pending, JobStatus::Compositing),
    (JobStatus::Pending, JobStatus::Failed),
    (JobStatus::Pending, JobStatus::Cancelled),
    (JobStatus::Compositing, JobStatus::Rendering),
    (JobStatus::Compositing, JobStatus::Failed),
    (JobStatus::Compositing, JobStatus::Cancelled),
    (JobStatus::Rendering, JobStatus::Completed),
    (JobStatus::Rendering, JobStatus::Failed),
    (JobStatus::Rendering, JobStatus::Cancelled),
    (JobStatus::Failed, JobStatus::Pending),
];

#[test]
fn every_pair_of_statuses_follows_the_table() {
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            let expected = ALLOWED.contains(&(from, to));
            assert_eq!(can_transition(from, to), expected, "{from} -> {to}");
            let job = job_in(from);
            let result = apply_event(&job, &event_to(to), t0() + TimeDelta::hours(1));
            match result {
                Ok(next) => {
                    assert!(expected, "{from} -> {to} was applied but is not allowed");
                    assert_eq!(next.status, to);
                    next.check_invariants().unwrap();
                }
                Err(err) => {
                    assert!(!expected, "{from} -> {to} was refused: {err}");
                    assert_eq!(err.code(), "E_INVALID_TRANSITION");
                    let text = err.to_string();
                    assert!(
                        text.contains(from.as_str()) && text.contains(to.as_str()),
                        "the error names both states: {text}"
                    );
                }
            }
        }
    }
}

#[test]
fn composited_records_the_atlas_only_while_compositing() {
    let event = JobEvent::Composited {
        composited_file_url: "file:///out/atlas.png".into(),
    };
    let compositing = job_in(JobStatus::Compositing);
    let next = apply_event(&compositing, &event, t0() + TimeDelta::hours(1)).unwrap();
    assert_eq!(next.status, JobStatus::Compositing);
    assert_eq!(
        next.composited_file_url.as_deref(),
        Some("file:///out/atlas.png")
    );
    for status in JobStatus::ALL {
        if status != JobStatus::Compositing {
            let err = apply_event(&job_in(status), &event, t0()).unwrap_err();
            assert_eq!(err.code(), "E_INVALID_TRANSITION", "{status}");
        }
    }
}

#[test]
fn timestamps_follow_the_lifecycle() {
    let job = new_job();
    assert_eq!(job.started_at, None);
    let t1 = t0() + TimeDelta::seconds(10);
    let compositing = apply_event(&job, &JobEvent::StartCompositing, t1).unwrap();
    assert_eq!(compositing.started_at, Some(t1));
    assert_eq!(compositing.updated_at, t1);
    let t2 = t1 + TimeDelta::seconds(10);
    let rendering = apply_event(&compositing, &JobEvent::StartRendering, t2).unwrap();
    assert_eq!(rendering.started_at, Some(t1), "started_at is kept");
    assert_eq!(rendering.updated_at, t2);
    let t3 = t2 + TimeDelta::seconds(10);
    let done = apply_event(&rendering, &completed_event(), t3).unwrap();
    assert_eq!(done.completed_at, Some(t3));
    assert_eq!(
        done.rendered_image_url.as_deref(),
        Some("file:///out/front.png")
    );
    assert_eq!(
        done.animation_url.as_deref(),
        Some("file:///out/turntable.mp4")
    );
}

#[test]
fn time_never_runs_backwards() {
    let compositing = job_in(JobStatus::Compositing);
    let earlier = compositing.updated_at - TimeDelta::hours(5);
    let next = apply_event(&compositing, &JobEvent::StartRendering, earlier).unwrap();
    assert_eq!(next.updated_at, compositing.updated_at);
}

#[test]
fn failing_needs_a_message_and_completing_needs_an_image() {
    let rendering = job_in(JobStatus::Rendering);
    for (code, message) in [("E_IO", ""), ("E_IO", "   "), ("", "broken")] {
        let event = JobEvent::Fail {
            code: code.into(),
            message: message.into(),
        };
        let err = apply_event(&rendering, &event, t0()).unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
    }
    let event = JobEvent::Completed {
        rendered_image_url: String::new(),
        animation_url: None,
    };
    let err = apply_event(&rendering, &event, t0()).unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert_eq!(err.fields()[0].field, "rendered_image_url");
}

#[test]
fn failure_records_code_and_message() {
    let failed = job_in(JobStatus::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("E_RENDER_FAILED"));
    assert_eq!(
        failed.error_message.as_deref(),
        Some("the renderer crashed")
    );
    assert!(failed.completed_at.is_some());
}

#[test]
fn retry_keeps_the_configuration_and_clears_the_outputs() {
    let compositing = job_in(JobStatus::Compositing);
    let with_atlas = apply_event(
        &compositing,
        &JobEvent::Composited {
            composited_file_url: "file:///out/atlas.png".into(),
        },
        t0() + TimeDelta::minutes(1),
    )
    .unwrap();
    let failed = apply_event(&with_atlas, &fail_event(), t0() + TimeDelta::minutes(2)).unwrap();
    let retried = apply_event(&failed, &JobEvent::Retry, t0() + TimeDelta::minutes(3)).unwrap();

    assert_eq!(retried.status, JobStatus::Pending);
    assert_eq!(retried.attempt, 2);
    for (kept, original) in [
        (&retried.product_id, &failed.product_id),
        (&retried.design_file_url, &failed.design_file_url),
    ] {
        assert_eq!(kept, original);
    }
    assert_eq!(retried.variant_id, failed.variant_id);
    assert_eq!(retried.preset, failed.preset);
    assert_eq!(retried.template_id, failed.template_id);
    assert_eq!(retried.metadata, failed.metadata);
    assert_eq!(retried.composited_file_url, None);
    assert_eq!(retried.rendered_image_url, None);
    assert_eq!(retried.animation_url, None);
    assert_eq!(retried.error_code, None);
    assert_eq!(retried.error_message, None);
    assert_eq!(retried.completed_at, None);
    assert_eq!(retried.started_at, failed.started_at);
    retried.check_invariants().unwrap();
}

#[test]
fn retry_stops_when_attempts_are_spent() {
    let mut job = new_job();
    let mut at = t0();
    for attempt in 1..=job.max_attempts {
        assert_eq!(job.attempt, attempt);
        at += TimeDelta::seconds(1);
        job = apply_event(&job, &fail_event(), at).unwrap();
        at += TimeDelta::seconds(1);
        let retried = apply_event(&job, &JobEvent::Retry, at);
        if attempt < job.max_attempts {
            job = retried.unwrap();
        } else {
            let err = retried.unwrap_err();
            assert_eq!(err.code(), "E_INVALID_TRANSITION");
            assert!(err.to_string().contains("attempts are spent"), "{err}");
        }
    }
    assert_eq!(job.status, JobStatus::Failed);
}

#[test]
fn completed_and_cancelled_jobs_cannot_be_retried() {
    for status in [JobStatus::Completed, JobStatus::Cancelled] {
        let err = apply_event(&job_in(status), &JobEvent::Retry, t0()).unwrap_err();
        assert_eq!(err.code(), "E_INVALID_TRANSITION");
        assert!(err.to_string().contains("only failed jobs"), "{err}");
    }
}

#[test]
fn events_round_trip_through_json() {
    let events = [
        JobEvent::StartCompositing,
        JobEvent::Composited {
            composited_file_url: "u".into(),
        },
        JobEvent::StartRendering,
        completed_event(),
        fail_event(),
        JobEvent::Cancel,
        JobEvent::Retry,
    ];
    for event in events {
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.name());
        let back: JobEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}

fn arb_event() -> impl Strategy<Value = JobEvent> {
    prop_oneof![
        Just(JobEvent::StartCompositing),
        "[a-z:/.]{0,6}".prop_map(|u| JobEvent::Composited {
            composited_file_url: u
        }),
        Just(JobEvent::StartRendering),
        ("[a-z:/.]{0,6}", proptest::option::of("[a-z]{0,3}")).prop_map(|(r, a)| {
            JobEvent::Completed {
                rendered_image_url: r,
                animation_url: a,
            }
        }),
        ("(E_[A-Z]{1,4})?", "[ a-z]{0,6}")
            .prop_map(|(code, message)| JobEvent::Fail { code, message }),
        Just(JobEvent::Cancel),
        Just(JobEvent::Retry),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random events at random (even backwards) times never produce a job that breaks
    /// the invariants, and a refused event never changes anything.
    #[test]
    fn random_event_sequences_keep_the_invariants(
        max_attempts in 1u32..5,
        steps in proptest::collection::vec((arb_event(), -3_600i64..3_600), 0..40),
    ) {
        let mut request = NewRenderJob::new("prod", "https://x.test/d.png", Preset::ChestLarge);
        request.max_attempts = Some(max_attempts);
        let mut job = request.into_job(t0()).unwrap();
        let mut at = t0();
        for (event, delta) in steps {
            at += TimeDelta::seconds(delta);
            let before = job.clone();
            match apply_event(&job, &event, at) {
                Ok(next) => {
                    let in_place = matches!(event, JobEvent::Composited { .. });
                    prop_assert!(in_place || can_transition(before.status, next.status));
                    prop_assert!(next.updated_at >= before.updated_at);
                    prop_assert_eq!(&next.id, &before.id);
                    prop_assert_eq!(&next.product_id, &before.product_id);
                    prop_assert_eq!(&next.design_file_url, &before.design_file_url);
                    job = next;
                }
                Err(err) => {
                    prop_assert!(
                        ["E_INVALID_TRANSITION", "E_VALIDATION"].contains(&err.code()),
                        "unexpected {}", err.code()
                    );
                }
            }
            if let Err(broken) = job.check_invariants() {
                return Err(TestCaseError::fail(format!("{broken}: {job:?}")));
            }
            prop_assert!(job.attempt <= job.max_attempts);
        }
    }
}
