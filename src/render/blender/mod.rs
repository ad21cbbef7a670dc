//! The live Blender backend: finding Blender, running its scripts under supervision and
//! reading their progress, and [`BlenderRenderer`], the [`Renderer`](crate::render::Renderer)
//! built on them.

mod bake;
mod job;
mod locate;
mod log;
mod process;
mod renderer;

pub use bake::{bake_pack, compact_bake, BakeOptions, BakeReport};
pub use locate::{BlenderInstall, BlenderVersion};
pub use renderer::{BlenderOptions, BlenderRenderer};
