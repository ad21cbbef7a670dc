//! The command line's integration tests, one binary: each module drives the built
//! `render-engine` executable as a user would.

// The PostgreSQL test-schema helper is the library's own (one helper for every test).
#[path = "../../../tests/it/common/pg.rs"]
mod pg;
// So is the S3 test-bucket helper.
#[path = "../../../tests/it/common/s3.rs"]
mod s3;

mod cli_mockup;
mod compose_cli;
mod engine_cli;
mod engine_workers;
mod render_cli;
mod templates_cli;
mod two_machines;
