//! The library's integration tests, one binary (`cargo test --test it`): a module per
//! area, helpers in `common`. The command line's tests are in `cli/tests/cli`.
//!
//! PostgreSQL tests (feature `postgres`) use `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; S3 tests (feature `s3`) a moto server at
//! `RENDER_ENGINE_TEST_S3`, default `http://127.0.0.1:5900` (`scripts/ensure-moto`);
//! Blender tests need Blender on the PATH.
//! Without them these tests say loudly that they skip, and fail under `CI=true`.

mod common;

mod blender;
mod blob_conformance;
mod blobs_local;
mod compose_bad_input;
mod compose_golden;
mod compose_props;
mod design_reduce;
mod engine_http;
mod engine_outputs;
mod engine_pipeline;
mod engine_rescue;
mod engine_reuse;
mod engine_s3;
mod engine_store_metadata;
mod error_codes;
mod hardening;
mod mockup_golden;
mod mockup_light;
mod render;
mod state_machine;
mod store_conformance;
mod template_bake;
mod templates;
mod untrusted_packs;
