//! The render job record and the request that creates one.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::id::check_identifier;
use super::{JobId, JobStatus, Preset};
use crate::error::{Error, FieldError, Result};

/// The number of attempts a job gets unless its creator says otherwise.
pub(crate) const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The most attempts a caller may ask for.
pub(crate) const MAX_MAX_ATTEMPTS: u32 = 100;

/// The largest `metadata` object accepted, in bytes of compact JSON.
pub(crate) const MAX_METADATA_BYTES: usize = 64 * 1024;

/// One run of the pipeline for one design, as stored and as shown to callers.
///
/// The JSON shape is the Medusa render-job record's: snake_case keys, RFC 3339
/// timestamps, status and preset as strings, absent optional values as `null`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RenderJob {
    /// The job's identifier (`rjob_` + ULID for generated ones).
    pub id: JobId,
    /// The Medusa product the design belongs to.
    pub product_id: String,
    /// The Medusa variant, when the render is for one variant only.
    pub variant_id: Option<String>,
    /// Where the job is in its lifecycle.
    pub status: JobStatus,
    /// Where the uploaded design lives (`file:`, `http:` or `https:` URL).
    pub design_file_url: String,
    /// The texture atlas produced by compositing.
    pub composited_file_url: Option<String>,
    /// The main product image (the front still).
    pub rendered_image_url: Option<String>,
    /// The turntable animation.
    pub animation_url: Option<String>,
    /// Where on the garment the design goes.
    pub preset: Preset,
    /// The template pack to use; the built-in default when absent.
    pub template_id: Option<String>,
    /// The stable code of the last failure (`E_...`), when failed.
    pub error_code: Option<String>,
    /// What went wrong, when failed.
    pub error_message: Option<String>,
    /// Which attempt this is, starting at 1; each retry counts one more.
    pub attempt: u32,
    /// How many attempts the job may use in all.
    pub max_attempts: u32,
    /// When work on the job first started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the job reached a terminal state.
    pub completed_at: Option<DateTime<Utc>>,
    /// Free-form JSON object for the caller (and the engine's outputs and preflight).
    pub metadata: Option<Map<String, Value>>,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When the job last changed.
    pub updated_at: DateTime<Utc>,
    /// When the job was soft-deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// What a caller supplies to create a render job. Validate it with
/// [`NewRenderJob::validate`] or turn it straight into a job with
/// [`NewRenderJob::into_job`].
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRenderJob {
    /// An identifier chosen by the caller; a fresh `rjob_` id when absent.
    #[serde(default)]
    pub id: Option<String>,
    /// The Medusa product (required).
    pub product_id: String,
    /// The Medusa variant.
    #[serde(default)]
    pub variant_id: Option<String>,
    /// Where the design lives: a `file:`, `http:` or `https:` URL (required).
    pub design_file_url: String,
    /// The placement preset (required).
    pub preset: Option<Preset>,
    /// The template pack.
    #[serde(default)]
    pub template_id: Option<String>,
    /// A JSON object of at most 64 KiB.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Attempts allowed (1 to 100); 3 when absent.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

impl NewRenderJob {
    /// A request with the required fields set and everything else at its default.
    pub fn new(
        product_id: impl Into<String>,
        design_file_url: impl Into<String>,
        preset: Preset,
    ) -> Self {
        Self {
            product_id: product_id.into(),
            design_file_url: design_file_url.into(),
            preset: Some(preset),
            ..Self::default()
        }
    }

    /// Checks every field and reports all failures at once as `E_VALIDATION`.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if let Some(id) = &self.id {
            push_identifier_problem(&mut problems, "id", id);
        }
        push_identifier_problem(&mut problems, "product_id", &self.product_id);
        if let Some(variant) = &self.variant_id {
            push_identifier_problem(&mut problems, "variant_id", variant);
        }
        if let Some(message) = check_design_url(&self.design_file_url) {
            problems.push(FieldError::new("design_file_url", message));
        }
        if self.preset.is_none() {
            let valid: Vec<_> = Preset::ALL.iter().map(|p| p.as_str()).collect();
            problems.push(FieldError::new(
                "preset",
                format!("is required; valid presets are {}", valid.join(", ")),
            ));
        }
        if let Some(template) = &self.template_id {
            push_identifier_problem(&mut problems, "template_id", template);
        }
        if let Some(metadata) = &self.metadata {
            if let Some(message) = check_metadata(metadata) {
                problems.push(FieldError::new("metadata", message));
            }
        }
        if let Some(max) = self.max_attempts {
            if !(1..=MAX_MAX_ATTEMPTS).contains(&max) {
                problems.push(FieldError::new(
                    "max_attempts",
                    format!("must be between 1 and {MAX_MAX_ATTEMPTS} (got {max})"),
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(problems))
        }
    }

    /// Validates the request and builds the `pending` job it describes, created at `now`.
    pub fn into_job(self, now: DateTime<Utc>) -> Result<RenderJob> {
        self.validate()?;
        let now = normalize_time(now);
        let id = match self.id {
            Some(id) => JobId::parse(id)?,
            None => JobId::generate(),
        };
        let metadata = match self.metadata {
            Some(Value::Object(map)) => Some(map),
            _ => None,
        };
        Ok(RenderJob {
            id,
            product_id: self.product_id,
            variant_id: self.variant_id,
            status: JobStatus::Pending,
            design_file_url: self.design_file_url,
            composited_file_url: None,
            rendered_image_url: None,
            animation_url: None,
            preset: self.preset.expect("validated above"),
            template_id: self.template_id,
            error_code: None,
            error_message: None,
            attempt: 1,
            max_attempts: self.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            started_at: None,
            completed_at: None,
            metadata,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        })
    }
}

/// Truncates a timestamp to whole microseconds, the precision every store keeps, so that
/// a job read back from a database equals the job that was written.
pub(crate) fn normalize_time(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

fn push_identifier_problem(problems: &mut Vec<FieldError>, field: &str, value: &str) {
    if let Some(message) = check_identifier(value) {
        problems.push(FieldError::new(field, message));
    }
}

/// Checks a design URL: parseable, with scheme `file`, `http` or `https`.
fn check_design_url(raw: &str) -> Option<String> {
    if raw.trim().is_empty() {
        return Some("is required: give a file://, http:// or https:// URL".into());
    }
    if raw.chars().any(char::is_control) {
        return Some("must not contain control characters".into());
    }
    let url = match url::Url::parse(raw) {
        Ok(url) => url,
        Err(e) => {
            return Some(format!(
                "`{raw}` is not a URL ({e}); give an absolute file://, http:// or https:// URL"
            ))
        }
    };
    match url.scheme() {
        "file" => None,
        "http" | "https" if url.host().is_some() => None,
        "http" | "https" => Some(format!("`{raw}` has no host")),
        other => Some(format!(
            "scheme `{other}:` is not allowed; use file://, http:// or https://"
        )),
    }
}

fn check_metadata(metadata: &Value) -> Option<String> {
    if !metadata.is_object() {
        return Some("must be a JSON object (`{...}`)".into());
    }
    let size = serde_json::to_vec(metadata)
        .map(|b| b.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Some(format!(
            "must be at most {MAX_METADATA_BYTES} bytes as JSON (got {size}); keep large data in storage and link to it"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-11-28T12:00:00.123456Z".parse().unwrap()
    }

    fn valid() -> NewRenderJob {
        NewRenderJob::new(
            "prod_123",
            "https://cdn.example.com/d.png",
            Preset::ChestLarge,
        )
    }

    #[test]
    fn a_new_job_is_pending_with_defaults() {
        let job = valid().into_job(now()).unwrap();
        assert_eq!(job.status, JobStatus::Pending);
        assert_eq!(job.attempt, 1);
        assert_eq!(job.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert!(job.id.as_str().starts_with("rjob_"));
        assert_eq!(job.created_at, now());
        assert_eq!(job.updated_at, now());
    }

    #[test]
    fn caller_id_is_kept() {
        let job = NewRenderJob {
            id: Some("my-job".into()),
            ..valid()
        }
        .into_job(now())
        .unwrap();
        assert_eq!(job.id.as_str(), "my-job");
    }

    #[test]
    fn every_failing_field_is_reported_at_once() {
        let request = NewRenderJob {
            id: Some(String::new()),
            product_id: String::new(),
            variant_id: Some("v\u{7}".into()),
            design_file_url: "javascript:alert(1)".into(),
            preset: None,
            template_id: Some("t".repeat(300)),
            metadata: Some(json!([1, 2])),
            max_attempts: Some(0),
        };
        let err = request.validate().unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        let fields: Vec<_> = err.fields().iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "id",
                "product_id",
                "variant_id",
                "design_file_url",
                "preset",
                "template_id",
                "metadata",
                "max_attempts"
            ]
        );
    }

    #[test]
    fn design_urls() {
        for good in [
            "file:///srv/designs/a.png",
            "http://localhost:9000/static/a.png",
            "https://cdn.example.com/a%20b.svg",
        ] {
            assert_eq!(check_design_url(good), None, "{good}");
        }
        for bad in [
            "",
            "../../etc/passwd",
            "designs/../a.png",
            "/abs/path.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://example.com/a.png",
            "https://",
            "https://ex ample.com/a.png",
            "https://example.com/a\n.png",
        ] {
            assert!(check_design_url(bad).is_some(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert_eq!(check_metadata(&json!({"a": 1})), None);
        assert!(check_metadata(&json!("text")).is_some());
        assert!(check_metadata(&json!(null)).is_some());
        let big = "x".repeat(MAX_METADATA_BYTES);
        assert!(check_metadata(&json!({ "blob": big })).is_some());
    }

    #[test]
    fn json_uses_the_medusa_field_names() {
        let job = NewRenderJob {
            variant_id: Some("variant_1".into()),
            metadata: Some(json!({"source": "test"})),
            ..valid()
        }
        .into_job(now())
        .unwrap();
        let value = serde_json::to_value(&job).unwrap();
        let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let mut expected = vec![
            "id",
            "product_id",
            "variant_id",
            "status",
            "design_file_url",
            "composited_file_url",
            "rendered_image_url",
            "animation_url",
            "preset",
            "template_id",
            "error_message",
            "started_at",
            "completed_at",
            "metadata",
            "created_at",
            "updated_at",
            "deleted_at",
            // the lifecycle's additions
            "attempt",
            "max_attempts",
            "error_code",
        ];
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(value["status"], "pending");
        assert_eq!(value["preset"], "chest-large");
        assert_eq!(value["created_at"], "2026-11-28T12:00:00.123456Z");
        let back: RenderJob = serde_json::from_value(value).unwrap();
        assert_eq!(back, job);
    }

    #[test]
    fn times_are_kept_to_microseconds() {
        let t: DateTime<Utc> = "2026-11-28T12:00:00.123456789Z".parse().unwrap();
        assert_eq!(
            normalize_time(t).to_rfc3339(),
            "2026-11-28T12:00:00.123456+00:00"
        );
    }
}
