//! The store logic every backend shares: what a write changes and how a lost race is
//! explained. Pure functions; the backends only read rows and run guarded writes.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::{
    jittered_backoff, AttemptError, JobFilter, RescueAction, StoredJob, DEFAULT_PAGE_SIZE,
    LEASE_LOST_CODE, MAX_CLAIM, MAX_PAGE_SIZE,
};
use crate::error::{Error, FieldError, Result};
use crate::job::{apply_event, normalize_time, JobEvent, JobId, JobStatus, RenderJob};

/// The longest retention `prune` distinguishes (longer ages mean "keep everything").
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) const MAX_AGE: Duration = Duration::from_secs(200 * 365 * 24 * 3600);

/// A guarded write: the new state of one job, and what the row must still look like for
/// the write to happen.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    /// The version the writer read; the row must still have it.
    pub expected_version: i64,
    /// The lease token the writer read; the row must still have it (null-safe).
    pub expected_token: Option<String>,
    /// Only write if the lease has expired by the store's clock (the rescuer's guard).
    pub require_expired: bool,
    /// The job's new fields.
    pub next: RenderJob,
    /// The job's new error history.
    pub errors: Vec<AttemptError>,
    /// Drop the lease (owner, token, expiry, heartbeat).
    pub clear_lease: bool,
    /// Set `run_at` to the store's now plus this delay.
    pub backoff: Option<Duration>,
}

impl Planned {
    fn unchanged(current: &StoredJob) -> Self {
        Planned {
            expected_version: current.version,
            expected_token: current.lease_token().map(str::to_string),
            require_expired: false,
            next: current.job.clone(),
            errors: current.errors.clone(),
            clear_lease: false,
            backoff: None,
        }
    }

    /// The lease owner's name, for messages.
    fn owner(current: &StoredJob) -> &str {
        current
            .lease
            .as_ref()
            .map(|l| l.owner.as_str())
            .unwrap_or("?")
    }
}

/// Applies `events` in order through the state machine.
pub(crate) fn plan_events(
    current: &StoredJob,
    events: &[JobEvent],
    now: DateTime<Utc>,
) -> Result<Planned> {
    let mut planned = Planned::unchanged(current);
    for event in events {
        let before = &planned.next;
        let next = apply_event(before, event, now)?;
        match event {
            JobEvent::Fail { code, message } => planned.errors.push(AttemptError {
                attempt: before.attempt,
                code: code.clone(),
                message: message.clone(),
                at: next.updated_at,
            }),
            JobEvent::Retry => {
                planned.backoff = Some(jittered_backoff(before.attempt, &before.id));
            }
            _ => {}
        }
        planned.next = next;
    }
    if planned.next.status.is_terminal() {
        planned.clear_lease = true;
    }
    Ok(planned)
}

/// What the rescuer does with a job whose lease expired; `None` when it holds no lease.
pub(crate) fn plan_rescue(
    current: &StoredJob,
    now: DateTime<Utc>,
) -> Result<Option<(Planned, RescueAction)>> {
    let Some(lease) = &current.lease else {
        return Ok(None);
    };
    let message = format!(
        "the lease of worker `{}` expired at {} without a heartbeat (the worker stopped or \
         lost contact); attempt {} was abandoned",
        lease.owner,
        lease.expires_at.to_rfc3339(),
        current.job.attempt
    );
    let mut planned = take_back(current, &message, now)?;
    planned.0.require_expired = true;
    Ok(Some(planned))
}

/// What a worker's release does: like a rescue, without waiting for the expiry.
pub(crate) fn plan_release(
    current: &StoredJob,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Planned> {
    let reason = if reason.trim().is_empty() {
        "no reason given"
    } else {
        reason
    };
    let message = format!(
        "worker `{}` released attempt {}: {reason}",
        Planned::owner(current),
        current.job.attempt
    );
    Ok(take_back(current, &message, now)?.0)
}

fn take_back(
    current: &StoredJob,
    message: &str,
    now: DateTime<Utc>,
) -> Result<(Planned, RescueAction)> {
    let status = current.job.status;
    if current.cancel_requested_at.is_some() && !status.is_terminal() {
        let mut planned = plan_events(current, &[JobEvent::Cancel], now)?;
        planned.clear_lease = true;
        return Ok((planned, RescueAction::Cancel));
    }
    if status.is_in_flight() {
        let fail = JobEvent::Fail {
            code: LEASE_LOST_CODE.into(),
            message: message.to_string(),
        };
        let failed = plan_events(current, std::slice::from_ref(&fail), now)?;
        if failed.next.attempt < failed.next.max_attempts {
            let mut planned = plan_events(current, &[fail, JobEvent::Retry], now)?;
            planned.clear_lease = true;
            return Ok((planned, RescueAction::Requeue));
        }
        return Ok((failed, RescueAction::Fail));
    }
    // Claimed but never started (or already finished): the job goes back as it was.
    let mut planned = Planned::unchanged(current);
    planned.clear_lease = true;
    Ok((planned, RescueAction::Requeue))
}

/// A soft delete; `None` when the job is deleted already.
pub(crate) fn plan_delete(current: &StoredJob, now: DateTime<Utc>) -> Result<Option<Planned>> {
    if current.job.deleted_at.is_some() {
        return Ok(None);
    }
    let status = current.job.status;
    if status.is_in_flight() || current.lease.is_some() {
        return Err(Error::Conflict(format!(
            "render job `{}` is {} and held by worker `{}`; cancel it and delete it once it \
             has stopped",
            current.job.id,
            status,
            Planned::owner(current)
        )));
    }
    let mut planned = Planned::unchanged(current);
    let now = normalize_time(now.max(current.job.updated_at));
    planned.next.deleted_at = Some(now);
    planned.next.updated_at = now;
    Ok(Some(planned))
}

/// Undoes a soft delete; `None` when the job is not deleted.
pub(crate) fn plan_restore(current: &StoredJob, now: DateTime<Utc>) -> Option<Planned> {
    current.job.deleted_at?;
    let mut planned = Planned::unchanged(current);
    planned.next.deleted_at = None;
    planned.next.updated_at = normalize_time(now.max(current.job.updated_at));
    Some(planned)
}

/// What a cancel does to a job.
pub(crate) enum CancelPlan {
    /// Nothing: the job is cancelled already.
    Nothing,
    /// Cancel at once (the job is pending, even if claimed).
    Now(Box<Planned>),
    /// Flag it: a worker is working on it.
    Flag,
}

pub(crate) fn plan_cancel(current: &StoredJob, now: DateTime<Utc>) -> Result<CancelPlan> {
    match current.job.status {
        JobStatus::Cancelled => Ok(CancelPlan::Nothing),
        JobStatus::Compositing | JobStatus::Rendering => Ok(CancelPlan::Flag),
        _ => {
            let mut planned = plan_events(current, &[JobEvent::Cancel], now)?;
            planned.clear_lease = true;
            Ok(CancelPlan::Now(Box::new(planned)))
        }
    }
}

/// Explains why a guarded write on `current` found no row to change.
pub(crate) fn diagnose(current: &StoredJob, actual: Option<&StoredJob>) -> Error {
    let id = &current.job.id;
    let Some(actual) = actual else {
        return Error::NotFound {
            what: "render job",
            id: id.to_string(),
        };
    };
    if let Some(token) = current.lease_token() {
        if actual.lease_token() != Some(token) {
            return lease_lost(id, &actual.job.status);
        }
    }
    Error::Conflict(format!(
        "render job `{id}` changed since it was read (version {} is now {}, status {}); \
         read it again and decide whether the change still applies",
        current.version, actual.version, actual.job.status
    ))
}

/// The error for a worker whose lease on `id` is gone.
pub(crate) fn lease_lost(id: &JobId, status: &JobStatus) -> Error {
    Error::LeaseLost(format!(
        "the worker no longer holds render job `{id}` (now {status}): its lease expired and \
         the job was rescued or claimed again, or it finished or was cancelled; stop working \
         on it and drop its results"
    ))
}

pub(crate) fn check_claim(worker: &str, limit: u32, lease_for: Duration) -> Result<()> {
    let mut problems = Vec::new();
    if worker.trim().is_empty() || worker.chars().any(char::is_control) || worker.len() > 255 {
        problems.push(FieldError::new(
            "worker",
            "must be a non-empty name of at most 255 bytes without control characters",
        ));
    }
    if !(1..=MAX_CLAIM).contains(&limit) {
        problems.push(FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_CLAIM} (got {limit})"),
        ));
    }
    check_lease(&mut problems, lease_for);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(problems))
    }
}

pub(crate) fn check_lease_for(lease_for: Duration) -> Result<()> {
    let mut problems = Vec::new();
    check_lease(&mut problems, lease_for);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(problems))
    }
}

fn check_lease(problems: &mut Vec<FieldError>, lease_for: Duration) {
    if lease_for < Duration::from_millis(10) || lease_for > Duration::from_secs(7 * 24 * 3600) {
        problems.push(FieldError::new(
            "lease_for",
            format!("must be between 10 ms and 7 days (got {lease_for:?})"),
        ));
    }
}

pub(crate) fn check_batch(field: &str, value: u32) -> Result<()> {
    if value == 0 || value > 100_000 {
        return Err(Error::validation(
            field,
            format!("must be between 1 and 100000 (got {value})"),
        ));
    }
    Ok(())
}

pub(crate) fn check_idempotency_key(key: Option<&str>) -> Result<()> {
    match key {
        Some(k) if k.is_empty() || k.len() > 255 || k.chars().any(char::is_control) => {
            Err(Error::validation(
                "idempotency_key",
                "must be 1 to 255 bytes without control characters",
            ))
        }
        _ => Ok(()),
    }
}

/// A page request, checked: the page size and where to continue.
pub(crate) struct PageRequest {
    pub limit: u32,
    pub after: Option<(DateTime<Utc>, String)>,
}

pub(crate) fn check_filter(filter: &JobFilter) -> Result<PageRequest> {
    let mut problems = Vec::new();
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        problems.push(FieldError::new(
            "limit",
            format!("must be between 1 and {MAX_PAGE_SIZE} (got {limit})"),
        ));
    }
    if let (Some(after), Some(before)) = (filter.created_after, filter.created_before) {
        if after > before {
            problems.push(FieldError::new(
                "created_after",
                "must not be later than created_before",
            ));
        }
    }
    let after = match filter.cursor.as_deref().map(decode_cursor) {
        Some(Some(pos)) => Some(pos),
        Some(None) => {
            problems.push(FieldError::new(
                "cursor",
                "is not a cursor this store issued; pass `next_cursor` of the previous page \
                 unchanged, or omit it for the first page",
            ));
            None
        }
        None => None,
    };
    if problems.is_empty() {
        Ok(PageRequest { limit, after })
    } else {
        Err(Error::Validation(problems))
    }
}

/// The cursor that continues after `job`: its creation time and id, hex-encoded.
pub(crate) fn encode_cursor(job: &RenderJob) -> String {
    let raw = format!("{}|{}", job.created_at.timestamp_micros(), job.id);
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, String)> {
    if cursor.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    let raw = String::from_utf8(bytes?).ok()?;
    let (micros, id) = raw.split_once('|')?;
    let at = Utc.timestamp_micros(micros.parse().ok()?).single()?;
    Some((at, id.to_string()))
}

/// Builds a page from `limit + 1` rows read in list order.
pub(crate) fn page(mut rows: Vec<StoredJob>, limit: u32) -> super::JobPage {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|s| encode_cursor(&s.job))
    } else {
        None
    };
    super::JobPage {
        jobs: rows,
        next_cursor,
    }
}

/// Serialises the error history for a database column.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn errors_to_json(errors: &[AttemptError]) -> String {
    serde_json::to_string(errors).unwrap_or_else(|_| "[]".into())
}

/// Reads the error history from a database column.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn errors_from_json(raw: &str) -> Result<Vec<AttemptError>> {
    serde_json::from_str(raw)
        .map_err(|e| Error::Internal(format!("render_job.errors holds invalid JSON: {e}")))
}

/// Serialises a progress record for a database column.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn progress_to_json(progress: &super::JobProgress) -> String {
    serde_json::to_string(progress).unwrap_or_else(|_| "null".into())
}

/// Reads the progress column of `job`: shown only while the job is in flight and for its
/// current attempt (a stale record is never shown). Progress is advisory, so a value this
/// version cannot read is shown as none rather than making the job unreadable.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn progress_from_json(raw: Option<&str>, job: &RenderJob) -> Option<super::JobProgress> {
    let progress: super::JobProgress = serde_json::from_str(raw?).ok()?;
    (job.status.is_in_flight() && progress.attempt == job.attempt).then_some(progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{NewRenderJob, Preset};

    fn stored() -> StoredJob {
        let job = NewRenderJob::new("p", "https://x.example/d.png", Preset::ChestLarge)
            .into_job(Utc::now())
            .unwrap();
        StoredJob {
            run_at: job.created_at,
            job,
            priority: 0,
            version: 1,
            lease: None,
            cancel_requested_at: None,
            idempotency_key: None,
            errors: vec![],
            progress: None,
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let s = stored();
        let c = encode_cursor(&s.job);
        let (at, id) = decode_cursor(&c).unwrap();
        assert_eq!(at, s.job.created_at);
        assert_eq!(id, s.job.id.as_str());
        for bad in ["", "zz", "abc", "7c"] {
            let filter = JobFilter {
                cursor: Some(bad.into()),
                ..JobFilter::default()
            };
            let result = check_filter(&filter);
            if bad.is_empty() {
                continue;
            }
            let err = result.err().unwrap();
            assert_eq!(err.fields()[0].field, "cursor");
        }
    }

    #[test]
    fn a_fail_event_is_recorded_and_a_retry_backs_off() {
        let s = stored();
        let now = Utc::now();
        let planned = plan_events(
            &s,
            &[
                JobEvent::StartCompositing,
                JobEvent::Fail {
                    code: "E_IO".into(),
                    message: "disk".into(),
                },
                JobEvent::Retry,
            ],
            now,
        )
        .unwrap();
        assert_eq!(planned.next.status, JobStatus::Pending);
        assert_eq!(planned.next.attempt, 2);
        assert_eq!(planned.errors.len(), 1);
        assert_eq!(planned.errors[0].attempt, 1);
        let backoff = planned.backoff.unwrap().as_secs_f64();
        assert!((0.9..1.1).contains(&backoff), "{backoff}");
    }

    #[test]
    fn retry_backoffs_are_spread_by_ten_percent() {
        use crate::job::JobId;
        use crate::store::jittered_backoff;
        let mut seen = Vec::new();
        for _ in 0..200 {
            let id = JobId::generate();
            let d = jittered_backoff(3, &id).as_secs_f64();
            assert!((72.9..89.1).contains(&d), "{d}");
            assert_eq!(
                jittered_backoff(3, &id).as_secs_f64(),
                d,
                "stable per attempt"
            );
            seen.push(d);
        }
        let mean = seen.iter().sum::<f64>() / seen.len() as f64;
        assert!((mean - 81.0).abs() < 2.0, "mean {mean}");
        seen.sort_by(f64::total_cmp);
        seen.dedup();
        assert!(seen.len() > 190, "only {} distinct delays", seen.len());
    }
}
