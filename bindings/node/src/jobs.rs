//! The job state machine for callers that persist jobs themselves.
//!
//! Jobs cross the boundary as plain objects with the Rust JSON's snake_case fields and
//! ISO 8601 strings for timestamps (`created_at: "2026-01-02T03:04:05.678Z"`), exactly
//! what the store and `RenderEngine` return. These calls are pure and fast, so they are
//! synchronous and throw (`E_VALIDATION`, `E_INVALID_TRANSITION`).

use napi::bindgen_prelude::*;
use napi_derive::napi;
use render_engine::{JobEvent, JobStatus, RenderJob, Result};

use crate::convert;
use crate::error::{invalid, to_js};

fn status(value: Option<Unknown>, field: &str) -> Result<JobStatus> {
    convert::string(value, field)?
        .parse::<JobStatus>()
        .map_err(|e| e.on_field(field))
}

/// Whether a job in status `from` may move to status `to` (the transition table:
/// pending → compositing → rendering → completed, any of the first three → failed or
/// cancelled, failed → pending by a retry). Throws `E_VALIDATION` for an unknown status.
#[napi(ts_args_type = "from: JobStatus, to: JobStatus")]
pub fn can_transition(env: Env, from: Option<Unknown>, to: Option<Unknown>) -> napi::Result<bool> {
    let check = || -> Result<bool> {
        Ok(render_engine::can_transition(
            status(from, "from")?,
            status(to, "to")?,
        ))
    };
    crate::guard::guard(check).map_err(|e| to_js(&env, e))
}

/// Applies an event to a job and returns the updated job (the input is not changed).
/// `now` (a `Date`, an ISO string or epoch milliseconds) defaults to the current time.
/// Throws `E_VALIDATION` for a malformed job or event and `E_INVALID_TRANSITION` when the
/// event does not apply to the job's status.
#[napi(
    ts_args_type = "job: RenderJob, event: JobEvent, now?: Date | string | number | undefined | null",
    ts_return_type = "RenderJob"
)]
pub fn apply_event(
    env: Env,
    job: Option<Unknown>,
    event: Option<Unknown>,
    now: Option<Unknown>,
) -> napi::Result<serde_json::Value> {
    let apply = || -> Result<serde_json::Value> {
        let job: RenderJob = serde_json::from_value(convert::json(&env, job, "job")?)
            .map_err(|e| invalid("job", format!("is not a render job: {e}")))?;
        let event: JobEvent = serde_json::from_value(convert::json(&env, event, "event")?)
            .map_err(|e| invalid("event", format!("is not a job event: {e}")))?;
        let now = convert::timestamp(now, "now")?.unwrap_or_else(chrono::Utc::now);
        convert::to_json(&render_engine::apply_event(&job, &event, now)?)
    };
    crate::guard::guard(apply).map_err(|e| to_js(&env, e))
}
