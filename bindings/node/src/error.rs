//! Engine errors as JS `Error`s: `code` is the engine's stable code, `message` says what
//! to fix, and validation errors carry `fields` (`[{ field, message }]`).

use napi::bindgen_prelude::*;
use render_engine::{Error, FieldError};

/// Builds the JS error for an engine error, as a `napi::Error` that rejects (or throws)
/// with that very object.
pub(crate) fn to_js(env: &Env, error: Error) -> napi::Error {
    match build(env, &error) {
        Ok(js) => js,
        // Creating the object failed (the environment is shutting down): fall back to a
        // plain error that still carries the code in its message.
        Err(_) => napi::Error::new(Status::GenericFailure, format!("{}: {error}", error.code())),
    }
}

fn build(env: &Env, error: &Error) -> napi::Result<napi::Error> {
    let mut object =
        env.create_error(napi::Error::new(Status::GenericFailure, error.to_string()))?;
    object.set_named_property("code", error.code())?;
    if let Error::Validation(fields) = error {
        let fields: Vec<serde_json::Value> = fields
            .iter()
            .map(|f| serde_json::json!({ "field": f.field, "message": f.message }))
            .collect();
        object.set_named_property("fields", serde_json::Value::Array(fields))?;
    }
    Ok(napi::Error::from(object.to_unknown()))
}

/// An `E_VALIDATION` error for one field.
pub(crate) fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError::new(field, message)])
}

/// An `E_VALIDATION` error for a value napi-rs could not convert (a wrong JS type).
pub(crate) fn wrong_type(field: &str, cause: napi::Error) -> Error {
    invalid(field, format!("is not valid: {}", cause.reason))
}
