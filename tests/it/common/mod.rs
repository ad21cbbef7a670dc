//! Helpers shared by the integration tests.

pub mod delta_e;
pub mod engine;
pub mod golden;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod png;
#[cfg(feature = "s3")]
pub mod s3;
pub mod ssim;
