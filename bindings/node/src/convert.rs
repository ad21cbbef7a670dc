//! Checking what JS hands over: Buffers, option objects, AbortSignals, JSON values.
//!
//! Every failure is an `E_VALIDATION` error naming the argument, never a crash.

use napi::bindgen_prelude::*;
use render_engine::{CancelToken, Result};

use crate::error::{invalid, wrong_type};

/// Whether an optional argument was left out (`undefined` or `null` count as absent).
pub(crate) fn is_absent(value: &Option<Unknown>) -> napi::Result<bool> {
    Ok(match value {
        None => true,
        Some(v) => matches!(v.get_type()?, ValueType::Undefined | ValueType::Null),
    })
}

/// A required Buffer (or Uint8Array) argument, borrowed without copying its bytes.
pub(crate) fn buffer(value: Option<Unknown>, field: &str) -> Result<Buffer> {
    let Some(value) = value else {
        return Err(invalid(
            field,
            "is required: pass the image bytes as a Buffer",
        ));
    };
    let is_bytes = value.is_buffer().unwrap_or(false) || value.is_typedarray().unwrap_or(false);
    if !is_bytes {
        let kind = value
            .get_type()
            .map(|t| format!("{t:?}").to_lowercase())
            .unwrap_or_else(|_| "unknown".into());
        return Err(invalid(
            field,
            format!("must be a Buffer with the image bytes (got a {kind})"),
        ));
    }
    // SAFETY: the value was checked to be a Buffer or typed array just above.
    unsafe { value.cast::<Buffer>() }.map_err(|e| wrong_type(field, e))
}

/// An optional options object converted to `T` (`undefined`/`null` give `None`).
pub(crate) fn object<T: FromNapiValue>(value: Option<Unknown>, field: &str) -> Result<Option<T>> {
    if is_absent(&value).map_err(|e| wrong_type(field, e))? {
        return Ok(None);
    }
    let value = value.expect("checked present");
    let kind = value.get_type().map_err(|e| wrong_type(field, e))?;
    if kind != ValueType::Object || value.is_array().unwrap_or(false) {
        return Err(invalid(
            field,
            format!(
                "must be an object (got a {})",
                format!("{kind:?}").to_lowercase()
            ),
        ));
    }
    // SAFETY: `T::from_napi_value` checks every field's type and reports mismatches.
    unsafe { value.cast::<T>() }
        .map(Some)
        .map_err(|e| wrong_type(field, e))
}

/// A required string argument.
pub(crate) fn string(value: Option<Unknown>, field: &str) -> Result<String> {
    let Some(value) = value else {
        return Err(invalid(field, "is required"));
    };
    let kind = value.get_type().map_err(|e| wrong_type(field, e))?;
    if kind != ValueType::String {
        return Err(invalid(
            field,
            format!(
                "must be a string (got a {})",
                format!("{kind:?}").to_lowercase()
            ),
        ));
    }
    // SAFETY: checked to be a string just above.
    unsafe { value.cast::<String>() }.map_err(|e| wrong_type(field, e))
}

/// A required plain object argument, as JSON.
pub(crate) fn json(env: &Env, value: Option<Unknown>, field: &str) -> Result<serde_json::Value> {
    if is_absent(&value).map_err(|e| wrong_type(field, e))? {
        return Err(invalid(field, "is required"));
    }
    let value = value.expect("checked present");
    if value.get_type().map_err(|e| wrong_type(field, e))? != ValueType::Object {
        return Err(invalid(field, "must be an object"));
    }
    env.from_js_value::<serde_json::Value, _>(value)
        .map_err(|e| wrong_type(field, e))
}

/// The optional `AbortSignal` argument, as a [`CancelToken`] that aborting sets.
///
/// A signal aborted already gives a token cancelled already, so the work never starts.
pub(crate) fn signal(env: &Env, value: Option<Unknown>) -> Result<CancelToken> {
    let token = CancelToken::new();
    if is_absent(&value).map_err(|e| wrong_type("signal", e))? {
        return Ok(token);
    }
    let value = value.expect("checked present");
    let not_a_signal = || invalid("signal", "must be an AbortSignal (from an AbortController)");
    if value.get_type().map_err(|e| wrong_type("signal", e))? != ValueType::Object {
        return Err(not_a_signal());
    }
    // SAFETY: checked to be an object just above.
    let object = unsafe { value.cast::<Object>() }.map_err(|e| wrong_type("signal", e))?;
    let aborted: Unknown = object
        .get_named_property("aborted")
        .map_err(|e| wrong_type("signal", e))?;
    if aborted.get_type().map_err(|e| wrong_type("signal", e))? != ValueType::Boolean {
        return Err(not_a_signal());
    }
    // SAFETY: checked to be a boolean just above.
    if unsafe { aborted.cast::<bool>() }.map_err(|e| wrong_type("signal", e))? {
        token.cancel();
        return Ok(token);
    }
    // SAFETY: `value` is a live JS object of this env; AbortSignal registers an abort
    // callback on it.
    let signal = unsafe { AbortSignal::from_napi_value(env.raw(), value.raw()) }
        .map_err(|_| not_a_signal())?;
    let on_abort = token.clone();
    signal.on_abort(move || on_abort.cancel());
    Ok(token)
}

/// A JS timestamp argument: a `Date`, an ISO 8601 string, or epoch milliseconds.
pub(crate) fn timestamp(
    value: Option<Unknown>,
    field: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    if is_absent(&value).map_err(|e| wrong_type(field, e))? {
        return Ok(None);
    }
    let value = value.expect("checked present");
    let bad = || {
        invalid(
            field,
            "must be a Date, an ISO 8601 string or epoch milliseconds",
        )
    };
    let millis = if value.is_date().unwrap_or(false) {
        // SAFETY: checked to be a Date just above.
        let date = unsafe { value.cast::<Object>() }.map_err(|e| wrong_type(field, e))?;
        let get_time: Function<(), f64> = date
            .get_named_property("getTime")
            .map_err(|e| wrong_type(field, e))?;
        get_time.apply(date, ()).map_err(|e| wrong_type(field, e))?
    } else {
        match value.get_type().map_err(|e| wrong_type(field, e))? {
            // SAFETY: the type was checked by the match.
            ValueType::Number => {
                unsafe { value.cast::<f64>() }.map_err(|e| wrong_type(field, e))?
            }
            ValueType::String => {
                // SAFETY: the type was checked by the match.
                let text = unsafe { value.cast::<String>() }.map_err(|e| wrong_type(field, e))?;
                return chrono::DateTime::parse_from_rfc3339(&text)
                    .map(|t| Some(t.with_timezone(&chrono::Utc)))
                    .map_err(|e| invalid(field, format!("`{text}` is not an ISO 8601 time: {e}")));
            }
            _ => return Err(bad()),
        }
    };
    if !millis.is_finite() {
        return Err(bad());
    }
    chrono::DateTime::from_timestamp_millis(millis as i64)
        .map(Some)
        .ok_or_else(bad)
}

/// A JSON-shaped option value (as napi-rs hands over `serde_json::Value`) converted to
/// the typed `T`: absent or `null` give `None`. A value of the wrong shape is
/// `E_VALIDATION` on the exact path that failed (`httpDesigns.allowRanges[1]`), saying
/// `expected` for the option as a whole.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    value: Option<serde_json::Value>,
    field: &str,
    expected: &str,
) -> Result<Option<T>> {
    let value = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let shown = value.to_string();
    serde_path_to_error::deserialize::<_, T>(value)
        .map(Some)
        .map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            if path == "." {
                invalid(field, format!("{expected} (got {shown})"))
            } else if path.starts_with('[') {
                invalid(&format!("{field}{path}"), inner)
            } else {
                invalid(&format!("{field}.{path}"), inner)
            }
        })
}

/// A JSON value from the core crate as a plain JS value.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|e| render_engine::Error::Internal(format!("cannot convert a result: {e}")))
}

/// A JSON result handed to JS as a plain value (an object, usually).
pub struct Json(pub serde_json::Value);

impl TypeName for Json {
    fn type_name() -> &'static str {
        "Object"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Json {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        val: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        // SAFETY: forwarded as received from napi-rs.
        unsafe { serde_json::Value::to_napi_value(env, val.0) }
    }
}
