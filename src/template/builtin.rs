//! The built-in template packs, embedded in the library with their bakes.
//!
//! `classic-tee` is always here (assets/templates/classic-tee). The other garments live in
//! their own crates, so that no crate outgrows the registry's 10 MB limit; each is built in
//! when its feature is on (see the crate's `[features]`).

/// A template pack compiled into the library: its manifest and its bake's files.
#[derive(Debug)]
pub(crate) struct EmbeddedPack {
    /// The pack's id, as its manifest gives it.
    pub id: &'static str,
    /// The pack's `template.json`.
    pub manifest: &'static str,
    /// The files of its `baked/` folder, by name (`views.json` among them).
    pub bake: &'static [(&'static str, &'static [u8])],
}

macro_rules! classic_tee_file {
    ($name:literal) => {
        (
            $name,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/templates/classic-tee/baked/",
                $name
            ))
            .as_slice(),
        )
    };
}

/// The default garment: a classic crew-neck tee, adult M.
pub(crate) static CLASSIC_TEE: EmbeddedPack = EmbeddedPack {
    id: super::BUILTIN_ID,
    manifest: include_str!("../../assets/templates/classic-tee/template.json"),
    bake: &[
        classic_tee_file!("views.json"),
        classic_tee_file!("front.uv.png"),
        classic_tee_file!("front.shade.png"),
        classic_tee_file!("front.indirect.png"),
        classic_tee_file!("back.uv.png"),
        classic_tee_file!("back.shade.png"),
        classic_tee_file!("back.indirect.png"),
        classic_tee_file!("three-quarter.uv.png"),
        classic_tee_file!("three-quarter.shade.png"),
        classic_tee_file!("three-quarter.indirect.png"),
        classic_tee_file!("turntable.uv.png"),
        classic_tee_file!("turntable.shade.png"),
        classic_tee_file!("turntable.indirect.png"),
        classic_tee_file!("drape.bin"),
    ],
};

/// A long-sleeve crew-neck tee, adult M (feature `garments`).
#[cfg(feature = "garments")]
static LONG_SLEEVE_TEE: EmbeddedPack = EmbeddedPack {
    id: "long-sleeve-tee",
    manifest: render_engine_garment_long_sleeve_tee::MANIFEST,
    bake: render_engine_garment_long_sleeve_tee::BAKE,
};

/// A pullover hoodie, adult M (feature `garments`).
#[cfg(feature = "garments")]
static HOODIE: EmbeddedPack = EmbeddedPack {
    id: "hoodie",
    manifest: render_engine_garment_hoodie::MANIFEST,
    bake: render_engine_garment_hoodie::BAKE,
};

/// Every built-in pack of this build, the default (`classic-tee`) first.
pub(crate) fn embedded_packs() -> &'static [&'static EmbeddedPack] {
    #[cfg(feature = "garments")]
    static PACKS: &[&EmbeddedPack] = &[&CLASSIC_TEE, &LONG_SLEEVE_TEE, &HOODIE];
    #[cfg(not(feature = "garments"))]
    static PACKS: &[&EmbeddedPack] = &[&CLASSIC_TEE];
    PACKS
}
