//! Work that runs on libuv's thread pool and settles a Promise, with cancellation.
//!
//! An [`EngineTask`] carries either the work or the error found while checking the
//! inputs on the JS thread, so a bad argument rejects the Promise instead of throwing.
//! An `AbortSignal` sets the task's [`CancelToken`]: work not yet started ends at once,
//! running work sees it where the core checks its token, and a result finished after
//! the abort is discarded; either way the Promise rejects with `E_CANCELLED`.

use napi::bindgen_prelude::*;
use render_engine::{CancelToken, Error, Result};

use crate::error::to_js;

type Work<T> = Box<dyn FnOnce(&CancelToken) -> Result<T> + Send>;

/// A unit of work for [`AsyncTask`], resolving to a `T`.
pub struct EngineTask<T> {
    work: Option<Result<Work<T>>>,
    cancel: CancelToken,
}

impl<T> EngineTask<T> {
    /// A task that runs `work`, cancelled through `cancel`.
    pub(crate) fn new(
        cancel: CancelToken,
        work: impl FnOnce(&CancelToken) -> Result<T> + Send + 'static,
    ) -> Self {
        Self {
            work: Some(Ok(Box::new(work))),
            cancel,
        }
    }

    /// A task that only rejects with `error` (found while checking the inputs).
    pub(crate) fn failed(error: Error) -> Self {
        Self {
            work: Some(Err(error)),
            cancel: CancelToken::new(),
        }
    }
}

fn cancelled() -> Error {
    Error::Cancelled("the AbortSignal was aborted".into())
}

impl<T> napi::Task for EngineTask<T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    type Output = Result<T>;
    type JsValue = T;

    fn compute(&mut self) -> napi::Result<Result<T>> {
        let work = match self.work.take() {
            Some(Ok(work)) => work,
            Some(Err(error)) => return Ok(Err(error)),
            None => return Ok(Err(Error::Internal("the task ran twice".into()))),
        };
        if self.cancel.is_cancelled() {
            return Ok(Err(cancelled()));
        }
        // A panic must not unwind into libuv's thread pool (Node would abort).
        let cancel = &self.cancel;
        let result = crate::guard::guard(|| work(cancel));
        if self.cancel.is_cancelled() {
            return Ok(Err(cancelled()));
        }
        Ok(result)
    }

    fn resolve(&mut self, env: Env, output: Result<T>) -> napi::Result<T> {
        output.map_err(|e| to_js(&env, e))
    }
}

/// Runs `task` synchronously on the calling thread (the `...Sync` functions).
pub(crate) fn run_sync<T>(env: &Env, task: EngineTask<T>) -> napi::Result<T>
where
    T: ToNapiValue + TypeName + Send + 'static,
{
    let mut task = task;
    let output = napi::Task::compute(&mut task)?;
    output.map_err(|e| to_js(env, e))
}
