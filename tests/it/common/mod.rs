//! Helpers shared by the integration tests.

pub mod golden;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod png;
