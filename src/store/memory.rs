//! The in-memory job store: for tests and one-shot use (`memory:`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::plan::{self, CancelPlan, Planned};
use super::{
    CreateOptions, CreatedJob, Heartbeat, JobFilter, JobPage, JobProgress, JobStore, JobUpdate,
    Lease, RescueAction, RescuePlan, RescueReport, StoredJob,
};
use crate::error::{Error, Result};
use crate::job::{normalize_time, JobId, JobStatus, NewRenderJob};

/// A job store that keeps everything in this process's memory; lost when dropped.
///
/// It follows the same rules as the SQL stores (the conformance suite runs against all
/// three); its clock is this machine's.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: HashMap<JobId, Row>,
    keys: HashMap<String, JobId>,
    next_seq: u64,
}

#[derive(Debug, Clone)]
struct Row {
    seq: u64,
    stored: StoredJob,
}

fn clock() -> DateTime<Utc> {
    normalize_time(Utc::now())
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(by)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn not_found(id: &JobId) -> Error {
    Error::NotFound {
        what: "render job",
        id: id.to_string(),
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a row half-written (every write
        // replaces whole rows), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn find(&self, id: &JobId, include_deleted: bool) -> Result<StoredJob> {
        match self.jobs.get(id) {
            Some(row) if include_deleted || row.stored.job.deleted_at.is_none() => {
                Ok(row.stored.clone())
            }
            _ => Err(not_found(id)),
        }
    }

    /// The guarded write: `None` when the row no longer matches what the planner read.
    fn write(&mut self, planned: &Planned, now: DateTime<Utc>) -> Option<StoredJob> {
        let row = self.jobs.get_mut(&planned.next.id)?;
        let s = &mut row.stored;
        if s.version != planned.expected_version
            || s.lease_token() != planned.expected_token.as_deref()
        {
            return None;
        }
        if planned.require_expired && s.lease.as_ref().is_none_or(|l| l.expires_at > now) {
            return None;
        }
        s.job = planned.next.clone();
        s.errors = planned.errors.clone();
        if !s.job.status.is_in_flight() {
            s.progress = None;
        }
        s.version += 1;
        if planned.clear_lease {
            s.lease = None;
        }
        if let Some(delay) = planned.backoff {
            s.run_at = later(now, delay);
        }
        Some(s.clone())
    }
}

#[async_trait::async_trait]
impl JobStore for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn migrate(&self) -> Result<()> {
        Ok(())
    }

    async fn now(&self) -> Result<DateTime<Utc>> {
        Ok(clock())
    }

    async fn create(&self, new: NewRenderJob, options: CreateOptions) -> Result<CreatedJob> {
        plan::check_idempotency_key(options.idempotency_key.as_deref())?;
        let now = clock();
        let job = new.into_job(now)?;
        let mut inner = self.lock();
        if let Some(key) = &options.idempotency_key {
            if let Some(id) = inner.keys.get(key) {
                let job = inner.find(id, true)?;
                return Ok(CreatedJob {
                    job,
                    created: false,
                });
            }
        }
        if inner.jobs.contains_key(&job.id) {
            return Err(Error::Conflict(format!(
                "a render job with id `{}` already exists; choose another id or omit it",
                job.id
            )));
        }
        inner.next_seq += 1;
        let stored = StoredJob {
            run_at: options.run_at.map(normalize_time).unwrap_or(now),
            priority: options.priority,
            version: 1,
            lease: None,
            cancel_requested_at: None,
            idempotency_key: options.idempotency_key.clone(),
            errors: Vec::new(),
            progress: None,
            job,
        };
        if let Some(key) = &options.idempotency_key {
            inner.keys.insert(key.clone(), stored.job.id.clone());
        }
        let seq = inner.next_seq;
        inner.jobs.insert(
            stored.job.id.clone(),
            Row {
                seq,
                stored: stored.clone(),
            },
        );
        Ok(CreatedJob {
            job: stored,
            created: true,
        })
    }

    async fn get(&self, id: &JobId) -> Result<StoredJob> {
        self.lock().find(id, false)
    }

    async fn get_including_deleted(&self, id: &JobId) -> Result<StoredJob> {
        self.lock().find(id, true)
    }

    async fn delete(&self, id: &JobId) -> Result<StoredJob> {
        let now = clock();
        let mut inner = self.lock();
        let current = inner.find(id, true)?;
        match plan::plan_delete(&current, now)? {
            None => Ok(current),
            Some(planned) => inner
                .write(&planned, now)
                .ok_or_else(|| plan::diagnose(&current, None)),
        }
    }

    async fn restore(&self, id: &JobId) -> Result<StoredJob> {
        let now = clock();
        let mut inner = self.lock();
        let current = inner.find(id, true)?;
        match plan::plan_restore(&current, now) {
            None => Ok(current),
            Some(planned) => inner
                .write(&planned, now)
                .ok_or_else(|| plan::diagnose(&current, None)),
        }
    }

    async fn list(&self, filter: &JobFilter) -> Result<JobPage> {
        let request = plan::check_filter(filter)?;
        let inner = self.lock();
        let mut rows: Vec<StoredJob> = inner
            .jobs
            .values()
            .map(|r| &r.stored)
            .filter(|s| {
                let j = &s.job;
                (filter.include_deleted || j.deleted_at.is_none())
                    && filter
                        .product_id
                        .as_ref()
                        .is_none_or(|p| *p == j.product_id)
                    && filter
                        .variant_id
                        .as_ref()
                        .is_none_or(|v| j.variant_id.as_ref() == Some(v))
                    && (filter.statuses.is_empty() || filter.statuses.contains(&j.status))
                    && filter.created_after.is_none_or(|t| j.created_at >= t)
                    && filter.created_before.is_none_or(|t| j.created_at < t)
                    && filter
                        .completed_after
                        .is_none_or(|t| j.completed_at.is_some_and(|c| c >= t))
                    && request
                        .after
                        .as_ref()
                        .is_none_or(|(at, id)| (j.created_at, j.id.as_str()) < (*at, id.as_str()))
            })
            .cloned()
            .collect();
        rows.sort_by(|a, b| {
            (b.job.created_at, b.job.id.as_str()).cmp(&(a.job.created_at, a.job.id.as_str()))
        });
        rows.truncate(request.limit as usize + 1);
        Ok(plan::page(rows, request.limit))
    }

    async fn apply_many(&self, updates: &[JobUpdate<'_>]) -> Result<Vec<Result<StoredJob>>> {
        let now = clock();
        let mut inner = self.lock();
        Ok(updates
            .iter()
            .map(|u| {
                let planned = plan::plan_events(u.current, u.events, now)?;
                match inner.write(&planned, now) {
                    Some(stored) => Ok(stored),
                    None => {
                        let actual = inner.jobs.get(u.current.id()).map(|r| &r.stored);
                        Err(plan::diagnose(u.current, actual))
                    }
                }
            })
            .collect())
    }

    async fn claim(&self, worker: &str, limit: u32, lease_for: Duration) -> Result<Vec<StoredJob>> {
        plan::check_claim(worker, limit, lease_for)?;
        let now = clock();
        let mut inner = self.lock();
        let mut ready: Vec<(i32, DateTime<Utc>, u64, JobId)> = inner
            .jobs
            .values()
            .filter(|r| {
                let s = &r.stored;
                s.job.status == JobStatus::Pending
                    && s.lease.is_none()
                    && s.job.deleted_at.is_none()
                    && s.run_at <= now
            })
            .map(|r| {
                (
                    r.stored.priority,
                    r.stored.run_at,
                    r.seq,
                    r.stored.job.id.clone(),
                )
            })
            .collect();
        ready.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        ready.truncate(limit as usize);
        let mut claimed = Vec::with_capacity(ready.len());
        for (_, _, _, id) in ready {
            let row = inner.jobs.get_mut(&id).expect("listed above");
            row.stored.lease = Some(Lease {
                owner: worker.to_string(),
                token: ulid::Ulid::new().to_string(),
                expires_at: later(now, lease_for),
                heartbeat_at: now,
            });
            row.stored.version += 1;
            claimed.push(row.stored.clone());
        }
        Ok(claimed)
    }

    async fn record_progress(
        &self,
        id: &JobId,
        worker: &str,
        progress: &JobProgress,
    ) -> Result<bool> {
        let mut inner = self.lock();
        let Some(row) = inner.jobs.get_mut(id) else {
            return Ok(false);
        };
        let s = &mut row.stored;
        let held = s.lease.as_ref().is_some_and(|l| l.owner == worker);
        if !held
            || !s.job.status.is_in_flight()
            || s.job.attempt != progress.attempt
            || s.job.deleted_at.is_some()
        {
            return Ok(false);
        }
        s.progress = Some(progress.clone());
        Ok(true)
    }

    async fn heartbeat(
        &self,
        id: &JobId,
        lease_token: &str,
        lease_for: Duration,
    ) -> Result<Heartbeat> {
        plan::check_lease_for(lease_for)?;
        let now = clock();
        let mut inner = self.lock();
        let row = inner.jobs.get_mut(id).ok_or_else(|| not_found(id))?;
        let status = row.stored.job.status;
        let cancel_requested = row.stored.cancel_requested_at.is_some();
        match &mut row.stored.lease {
            Some(lease) if lease.token == lease_token => {
                lease.expires_at = later(now, lease_for);
                lease.heartbeat_at = now;
                Ok(Heartbeat {
                    lease_expires_at: lease.expires_at,
                    cancel_requested,
                })
            }
            _ => Err(plan::lease_lost(id, &status)),
        }
    }

    async fn release(&self, id: &JobId, lease_token: &str, reason: &str) -> Result<StoredJob> {
        let now = clock();
        let mut inner = self.lock();
        let current = inner.find(id, true)?;
        if current.lease_token() != Some(lease_token) {
            return Err(plan::lease_lost(id, &current.job.status));
        }
        let planned = plan::plan_release(&current, reason, now)?;
        inner
            .write(&planned, now)
            .ok_or_else(|| plan::diagnose(&current, None))
    }

    async fn plan_rescue(&self, limit: u32) -> Result<RescuePlan> {
        plan::check_batch("limit", limit)?;
        let now = clock();
        let mut expired: Vec<StoredJob> = {
            let inner = self.lock();
            inner
                .jobs
                .values()
                .filter(|r| r.stored.lease.as_ref().is_some_and(|l| l.expires_at <= now))
                .map(|r| r.stored.clone())
                .collect()
        };
        expired.sort_by_key(|s| s.lease.as_ref().map(|l| l.expires_at));
        expired.truncate(limit as usize);
        let mut items = Vec::with_capacity(expired.len());
        for s in &expired {
            if let Some(item) = plan::plan_rescue(s, now)? {
                items.push(item);
            }
        }
        Ok(RescuePlan { items })
    }

    async fn apply_rescue(&self, plan: RescuePlan) -> Result<RescueReport> {
        let now = clock();
        let mut inner = self.lock();
        let mut report = RescueReport::default();
        for (planned, action) in &plan.items {
            let id = planned.next.id.clone();
            match inner.write(planned, now) {
                None => report.skipped.push(id),
                Some(_) => match action {
                    RescueAction::Requeue => report.requeued.push(id),
                    RescueAction::Fail => report.failed.push(id),
                    RescueAction::Cancel => report.cancelled.push(id),
                },
            }
        }
        Ok(report)
    }

    async fn cancel(&self, id: &JobId) -> Result<StoredJob> {
        let now = clock();
        let mut inner = self.lock();
        let current = inner.find(id, true)?;
        match plan::plan_cancel(&current, now)? {
            CancelPlan::Nothing => Ok(current),
            CancelPlan::Now(planned) => inner
                .write(&planned, now)
                .ok_or_else(|| plan::diagnose(&current, None)),
            CancelPlan::Flag => {
                let row = inner.jobs.get_mut(id).ok_or_else(|| not_found(id))?;
                row.stored.cancel_requested_at.get_or_insert(now);
                Ok(row.stored.clone())
            }
        }
    }

    async fn prune(&self, older_than: Duration, batch_size: u32) -> Result<u64> {
        plan::check_batch("batch_size", batch_size)?;
        let cutoff = clock()
            .checked_sub_signed(TimeDelta::from_std(older_than).unwrap_or(TimeDelta::MAX))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut inner = self.lock();
        let doomed: Vec<JobId> = inner
            .jobs
            .values()
            .map(|r| &r.stored)
            .filter(|s| {
                s.lease.is_none()
                    && (s.job.deleted_at.is_some_and(|t| t < cutoff)
                        || (s.job.status.is_terminal()
                            && s.job.completed_at.is_some_and(|t| t < cutoff)))
            })
            .map(|s| s.job.id.clone())
            .collect();
        for id in &doomed {
            if let Some(row) = inner.jobs.remove(id) {
                if let Some(key) = row.stored.idempotency_key {
                    inner.keys.remove(&key);
                }
            }
        }
        Ok(doomed.len() as u64)
    }
}
