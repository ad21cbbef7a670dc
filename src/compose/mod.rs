//! Compositing: from an uploaded design to the print file and the garment texture.

mod color;

pub use color::GarmentColor;
