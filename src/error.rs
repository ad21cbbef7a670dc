//! The crate's one error type.
//!
//! Every variant has a stable code (`E_VALIDATION`, `E_NOT_FOUND`, ...) returned by
//! [`Error::code`]. Codes are part of the public contract: the command line prints them,
//! the Node bindings put them in `error.code`, and the job store records them in
//! `error_code`. A code never changes once published; new failure kinds get new variants.

use std::fmt;

/// The cause of an [`Error`]: the library error behind it (sqlx, I/O, image, ...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    #[error("the image could not be decoded: {message}")]
    ImageDecode {
        /// What went wrong.
        message: String,
        /// The library error behind it, if one caused it.
        #[source]
        source: Option<BoxError>,
    },

    /// The design is larger than the configured limits allow.
    #[error("the image is too large: {0}")]
    ImageTooLarge(String),

    /// The bytes are not in a supported format (PNG, JPEG, WebP or SVG).
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),

    /// The job store failed (database unreachable, migration failed, ...).
    #[error("job store error: {message}")]
    Store {
        /// What went wrong.
        message: String,
        /// The library error behind it, if one caused it.
        #[source]
        source: Option<BoxError>,
    },

    /// Blob storage failed (writing or reading designs and outputs).
    #[error("storage error: {message}")]
    Storage {
        /// What went wrong.
        message: String,
        /// The library error behind it, if one caused it.
        #[source]
        source: Option<BoxError>,
    },

    /// The requested renderer cannot run here (for example Blender is not installed).
    #[error("renderer unavailable: {0}")]
    RendererUnavailable(String),

    /// The renderer ran and failed.
    #[error("render failed: {message}")]
    RenderFailed {
        /// What went wrong.
        message: String,
        /// The library error behind it, if one caused it.
        #[source]
        source: Option<BoxError>,
    },

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
            Error::ImageDecode { .. } => "E_IMAGE_DECODE",
            Error::ImageTooLarge(_) => "E_IMAGE_TOO_LARGE",
            Error::UnsupportedFormat(_) => "E_UNSUPPORTED_FORMAT",
            Error::Store { .. } => "E_STORE",
            Error::Storage { .. } => "E_STORAGE",
            Error::RendererUnavailable(_) => "E_RENDERER_UNAVAILABLE",
            Error::RenderFailed { .. } => "E_RENDER_FAILED",
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

    /// `E_IMAGE_DECODE` with `message`.
    pub fn image_decode(message: impl Into<String>) -> Self {
        Error::ImageDecode {
            message: message.into(),
            source: None,
        }
    }

    /// `E_STORE` with `message`.
    pub fn store(message: impl Into<String>) -> Self {
        Error::Store {
            message: message.into(),
            source: None,
        }
    }

    /// `E_STORAGE` with `message`.
    pub fn storage(message: impl Into<String>) -> Self {
        Error::Storage {
            message: message.into(),
            source: None,
        }
    }

    /// `E_RENDER_FAILED` with `message`.
    pub fn render_failed(message: impl Into<String>) -> Self {
        Error::RenderFailed {
            message: message.into(),
            source: None,
        }
    }

    /// The same error with `source` as its cause ([`std::error::Error::source`]): for
    /// the kinds a library error can cause (store, storage, decoding, rendering); other
    /// kinds are returned unchanged.
    pub fn caused_by(self, source: impl Into<BoxError>) -> Self {
        let source = Some(source.into());
        match self {
            Error::ImageDecode { message, .. } => Error::ImageDecode { message, source },
            Error::Store { message, .. } => Error::Store { message, source },
            Error::Storage { message, .. } => Error::Storage { message, source },
            Error::RenderFailed { message, .. } => Error::RenderFailed { message, source },
            other => other,
        }
    }

    /// Shorthand for a validation error on a single field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }

    /// The same error reported on `field`: a validation error's fields are renamed (for
    /// a front end whose option has another name than the core's, such as `placement.align`
    /// for `align`); every other kind is returned unchanged.
    pub fn on_field(self, field: &str) -> Self {
        match self {
            Error::Validation(fields) => Error::Validation(
                fields
                    .into_iter()
                    .map(|f| FieldError::new(field, f.message))
                    .collect(),
            ),
            other => other,
        }
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
            Error::Store { .. } | Error::Storage { .. } | Error::Timeout(_) | Error::Io(_)
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
            Error::image_decode("d"),
            Error::ImageTooLarge("l".into()),
            Error::UnsupportedFormat("u".into()),
            Error::store("s"),
            Error::storage("s"),
            Error::RendererUnavailable("r".into()),
            Error::render_failed("r"),
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
    fn library_errors_stay_reachable_as_the_source() {
        use std::error::Error as _;
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no access");
        let err = Error::storage("cannot write jobs/x/front.png").caused_by(io);
        assert_eq!(err.code(), "E_STORAGE");
        let source = err.source().expect("the io error is the source");
        assert_eq!(source.to_string(), "no access");
        assert!(Error::store("plain").source().is_none());
        // Kinds no library error causes keep no source.
        let v = Error::validation("f", "m").caused_by(std::io::Error::other("x"));
        assert!(v.source().is_none());
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
