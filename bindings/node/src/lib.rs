//! Node bindings of render-engine: the npm package `render-engine`.
//!
//! This crate only translates between JavaScript and the core crate: it checks what JS
//! hands over (wrong types become `E_VALIDATION` errors, never crashes), runs the work off
//! the JS thread, and turns results into plain JS values and engine errors into JS
//! `Error`s whose `code` is the engine's stable code. Every rule lives in the core crate.
//!
//! - [`functions`]: the stateless calls (`compose`, `render`, `mockup`, `preflight`, ...),
//!   each a Promise with an optional `AbortSignal`, most with a `...Sync` twin;
//! - [`jobs`]: the job state machine for callers that persist jobs themselves;
//! - [`engine`]: the `RenderEngine` class (store, workers, progress events);
//! - [`guard`]: every call runs under a panic guard: a Rust panic becomes an
//!   `E_INTERNAL` error, never a process abort.

#![deny(missing_docs)]

mod convert;
pub mod engine;
mod error;
pub mod functions;
pub mod guard;
pub mod jobs;
mod task;
pub mod types;
