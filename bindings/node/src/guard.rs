//! No Rust panic ever reaches JavaScript as a process abort.
//!
//! A panic unwinding out of a native call would cross the N-API boundary, which cannot
//! unwind: Node aborts the whole process (a Medusa server with it). Every entry point of
//! this crate therefore runs its Rust work under [`guard`] (synchronous work and the
//! thread-pool tasks), [`guard_js`] (calls that build JS values) or [`guard_future`]
//! (work on the engine's runtime), and a caught panic becomes an `E_INTERNAL` error: a
//! thrown error or a rejected promise, and the process lives on.
//!
//! Input should never reach a panic (the core guards its decoders); this is defence in
//! depth, tested by `tests/node/panic.test.mjs` through the test-only hooks below.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use render_engine::{Error, Result};

use crate::error::{invalid, to_js};

/// The `E_INTERNAL` error for a caught panic, quoting its message.
fn internal(payload: Box<dyn Any + Send>) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string());
    Error::Internal(format!("a panic inside render-engine: {message}"))
}

/// Runs `work`, turning a panic into `E_INTERNAL`.
pub(crate) fn guard<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|p| Err(internal(p)))
}

/// Runs a synchronous N-API call, turning a panic into a thrown `E_INTERNAL` error.
pub(crate) fn guard_js<T>(env: &Env, work: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|p| Err(to_js(env, internal(p))))
}

/// Runs `work` as its own task on the current runtime, turning a panic in it into
/// `E_INTERNAL` (the runtime's worker thread survives it).
pub(crate) async fn guard_future<T: Send + 'static>(
    work: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(internal(e.into_panic())),
        Err(e) => Err(Error::Internal(format!("a task stopped unexpectedly: {e}"))),
    }
}

/// Whether the test-only panic hooks may run (`RENDER_ENGINE_TEST_PANICS=1`).
fn test_panics_enabled() -> Result<()> {
    if std::env::var("RENDER_ENGINE_TEST_PANICS").as_deref() == Ok("1") {
        Ok(())
    } else {
        Err(invalid(
            "RENDER_ENGINE_TEST_PANICS",
            "is a test hook: set RENDER_ENGINE_TEST_PANICS=1 to use it",
        ))
    }
}

/// Test hook, not part of the API: panics inside a synchronous native call, which must
/// throw `E_INTERNAL`. Refused unless `RENDER_ENGINE_TEST_PANICS=1`.
#[napi(js_name = "__testPanicSync")]
pub fn test_panic_sync(env: Env) -> napi::Result<()> {
    guard_js(&env, || {
        test_panics_enabled().map_err(|e| to_js(&env, e))?;
        panic!("the synchronous test panic");
    })
}

/// Test hook, not part of the API: panics inside work on the thread pool (the path of
/// `compose`, `render`, `mockup`); the promise must reject with `E_INTERNAL`. Refused
/// unless `RENDER_ENGINE_TEST_PANICS=1`.
#[napi(js_name = "__testPanicTask", ts_return_type = "Promise<void>")]
pub fn test_panic_task() -> AsyncTask<crate::task::EngineTask<()>> {
    AsyncTask::new(match test_panics_enabled() {
        Ok(()) => crate::task::EngineTask::new(render_engine::CancelToken::new(), |_| {
            panic!("the thread-pool test panic")
        }),
        Err(e) => crate::task::EngineTask::failed(e),
    })
}

/// Test hook, not part of the API: panics inside a future on the engine's runtime (the
/// path of `RenderEngine`'s methods); the promise must reject with `E_INTERNAL`.
/// Refused unless `RENDER_ENGINE_TEST_PANICS=1`.
#[napi(js_name = "__testPanicFuture", ts_return_type = "Promise<void>")]
pub fn test_panic_future(env: &Env) -> napi::Result<PromiseRaw<'_, ()>> {
    let checked = test_panics_enabled();
    env.spawn_future_with_callback(
        async move {
            Ok(guard_future(async move {
                checked?;
                panic!("the runtime test panic")
            })
            .await)
        },
        |env, out: Result<()>| out.map_err(|e| to_js(env, e)),
    )
}
