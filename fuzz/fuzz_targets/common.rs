//! What every fuzz target shares.

/// libfuzzer-sys's panic hook aborts on every panic, even one the library catches on
/// purpose (raster decoding runs under `catch_unwind`, mapping a decoder panic to
/// `E_IMAGE_DECODE`). A silent hook lets those be caught as in production; a panic that
/// escapes the library still fails the run, because `fuzz_target!` catches it and aborts.
pub fn quiet_caught_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| {})));
}
