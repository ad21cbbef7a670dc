//! The crate's one error type.
//!
//! Every variant has a stable code (`E_VALIDATION`, `E_NOT_FOUND`, ...) returned by
//! [`Error::code`]. Codes are part of the public contract: the command line prints them,
//! the Node bindings put them in `error.code`, and the job store records them in
//! `error_code`. A code never changes once published; new failure kinds get new variants.

use std::fmt;

/// A convenient alias for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One field that failed validation, with a message that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// The name of the field as the caller spelled it (`product_id`, `metadata`, ...).
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every way an operation of this crate can fail.
///
/// Match on the variant in Rust, or on [`Error::code`] anywhere else.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input failed validation; every failing field is listed, not just the first.
    #[error("invalid input: {}", join_fields(.0))]
    Validation(Vec<FieldError>),

    /// A state-machine event does not apply to the job's current status.
    #[error("cannot move a render job from `{from}` to `{to}`: {reason}")]
    InvalidTransition {
        /// The job's status when the event arrived.
        from: String,
        /// The status the event would have led to.
        to: String,
        /// Why the move is refused.
        reason: String,
    },

    /// The named thing does not exist (or was deleted).
    #[error("{what} `{id}` was not found")]
    NotFound {
        /// What was looked up ("render job", "template", ...).
        what: &'static str,
        /// The identifier that was looked up.
        id: String,
    },

    /// A concurrent writer changed the record first (optimistic concurrency, lost lease).
    #[error("conflict: {0}")]
    Conflict(String),

    /// The design could not be decoded (truncated, corrupt, or not what its header says).
    #[error("the image could not be decoded: {0}")]
    ImageDecode(String),

    /// The design is larger than the configured limits allow.
    #[error("the image is too large: {0}")]
    ImageTooLarge(String),

    /// The bytes are not in a supported format (PNG, JPEG, WebP or SVG).
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),

    /// The job store failed (database unreachable, migration failed, ...).
    #[error("job store error: {0}")]
    Store(String),

    /// Blob storage failed (writing or reading designs and outputs).
    #[error("storage error: {0}")]
    Storage(String),

    /// The requested renderer cannot run here (for example Blender is not installed).
    #[error("renderer unavailable: {0}")]
    RendererUnavailable(String),

    /// The renderer ran and failed.
    #[error("render failed: {0}")]
    RenderFailed(String),

    /// The operation ran past its deadline.
    #[error("timed out: {0}")]
    Timeout(String),

    /// The operation was cancelled by its caller.
    #[error("cancelled: {0}")]
    Cancelled(String),

    /// An operating-system I/O error outside the store and blob storage.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// A worker no longer holds the lease on a job (it expired and the job was rescued,
    /// reclaimed, finished or cancelled): the worker must stop working on it.
    #[error("lease lost: {0}")]
    LeaseLost(String),

    /// A bug in this crate, not in the input: a panic caught at an API boundary, a
    /// worker task that died, a value of our own that failed to serialise. Report it.
    #[error("internal error (a bug in render-engine, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// The stable machine-readable code of this error, e.g. `"E_VALIDATION"`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) => "E_VALIDATION",
            Error::InvalidTransition { .. } => "E_INVALID_TRANSITION",
            Error::NotFound { .. } => "E_NOT_FOUND",
            Error::Conflict(_) => "E_CONFLICT",
            Error::ImageDecode(_) => "E_IMAGE_DECODE",
            Error::ImageTooLarge(_) => "E_IMAGE_TOO_LARGE",
            Error::UnsupportedFormat(_) => "E_UNSUPPORTED_FORMAT",
            Error::Store(_) => "E_STORE",
            Error::Storage(_) => "E_STORAGE",
            Error::RendererUnavailable(_) => "E_RENDERER_UNAVAILABLE",
            Error::RenderFailed(_) => "E_RENDER_FAILED",
            Error::Timeout(_) => "E_TIMEOUT",
            Error::Cancelled(_) => "E_CANCELLED",
            Error::Io(_) => "E_IO",
            Error::LeaseLost(_) => "E_LEASE_LOST",
            Error::Internal(_) => "E_INTERNAL",
        }
    }

    /// Every code this version of the crate can return, in declaration order.
    pub const CODES: &'static [&'static str] = &[
        "E_VALIDATION",
        "E_INVALID_TRANSITION",
        "E_NOT_FOUND",
        "E_CONFLICT",
        "E_IMAGE_DECODE",
        "E_IMAGE_TOO_LARGE",
        "E_UNSUPPORTED_FORMAT",
        "E_STORE",
        "E_STORAGE",
        "E_RENDERER_UNAVAILABLE",
        "E_RENDER_FAILED",
        "E_TIMEOUT",
        "E_CANCELLED",
        "E_IO",
        "E_LEASE_LOST",
        "E_INTERNAL",
    ];

    /// Shorthand for a validation error on a single field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    /// The failing fields of a validation error; empty for every other kind.
    pub fn fields(&self) -> &[FieldError] {
        match self {
            Error::Validation(fields) => fields,
            _ => &[],
        }
    }

    /// Whether retrying the same work later may succeed (I/O, store, storage, timeouts).
    ///
    /// Bad input, refused transitions and decode failures are permanent: retrying them
    /// only repeats the failure.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Store(_) | Error::Storage(_) | Error::Timeout(_) | Error::Io(_)
        )
    }
}

fn join_fields(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_unique() {
        let samples = [
            Error::validation("f", "m"),
            Error::InvalidTransition {
                from: "a".into(),
                to: "b".into(),
                reason: "r".into(),
            },
            Error::NotFound {
                what: "render job",
                id: "x".into(),
            },
            Error::Conflict("c".into()),
            Error::ImageDecode("d".into()),
            Error::ImageTooLarge("l".into()),
            Error::UnsupportedFormat("u".into()),
            Error::Store("s".into()),
            Error::Storage("s".into()),
            Error::RendererUnavailable("r".into()),
            Error::RenderFailed("r".into()),
            Error::Timeout("t".into()),
            Error::Cancelled("c".into()),
            Error::Io(std::io::Error::other("io")),
            Error::LeaseLost("l".into()),
            Error::Internal("i".into()),
        ];
        let codes: Vec<_> = samples.iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES);
    }

    #[test]
    fn validation_message_lists_every_field() {
        let err = Error::Validation(vec![
            FieldError::new("product_id", "must not be empty"),
            FieldError::new("metadata", "must be a JSON object"),
        ]);
        let text = err.to_string();
        assert!(text.contains("product_id: must not be empty"), "{text}");
        assert!(text.contains("metadata: must be a JSON object"), "{text}");
        assert_eq!(err.fields().len(), 2);
    }
}
