//! The `long-sleeve-tee` template pack of render-engine (long-sleeve crew-neck tee, adult M): its manifest and
//! the files of its bake, embedded. render-engine builds it in with its `garments`
//! feature; this folder is also a pack folder (`--template` takes it as one).

/// The pack's `template.json`.
pub const MANIFEST: &str = include_str!("template.json");

macro_rules! bake_file {
    ($name:literal) => {
        ($name, include_bytes!(concat!("baked/", $name)).as_slice())
    };
}

/// The files of the pack's `baked/` folder, by name.
pub const BAKE: &[(&str, &[u8])] = &[
    bake_file!("views.json"),
    bake_file!("front.uv.png"),
    bake_file!("front.shade.png"),
    bake_file!("front.indirect.png"),
    bake_file!("back.uv.png"),
    bake_file!("back.shade.png"),
    bake_file!("back.indirect.png"),
    bake_file!("three-quarter.uv.png"),
    bake_file!("three-quarter.shade.png"),
    bake_file!("three-quarter.indirect.png"),
    bake_file!("turntable.uv.png"),
    bake_file!("turntable.shade.png"),
    bake_file!("turntable.indirect.png"),
    bake_file!("drape.bin"),
];
