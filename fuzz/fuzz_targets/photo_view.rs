//! Fuzzes a photo view given as bytes (the Node `mockup` path): the photo, its mask and
//! its displacement map are each untrusted images. The input is split into three parts
//! by its first two bytes; whatever they hold must decode or be refused with a code,
//! never panic or allocate past the limits.
//!
//! Run: `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run photo_view -- -max_total_time=600`.

#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use render_engine::mockup::{DisplacementChannels, EncodedPhotoView, PrintAreaSpec};

fuzz_target!(|data: &[u8]| {
    common::quiet_caught_panics();
    if data.len() < 2 {
        return;
    }
    let (cut1, cut2) = (data[0] as usize, data[1] as usize);
    let rest = &data[2..];
    let a = cut1.min(rest.len());
    let b = (a + cut2).min(rest.len());
    let (photo, mask, map) = (&rest[..a], &rest[a..b], &rest[b..]);
    let view = EncodedPhotoView {
        name: "fuzz",
        photo,
        area: PrintAreaSpec {
            quad: [[1.0, 1.0], [9.0, 1.0], [9.0, 9.0], [1.0, 9.0]],
            width_in: 4.0,
            height_in: 4.0,
        },
        displacement: (!map.is_empty()).then_some((map, 4.0, DisplacementChannels::Luminance)),
        mask: (!mask.is_empty()).then_some(mask),
    };
    let _ = view.decode();
});
