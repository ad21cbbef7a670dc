//! What decoding the whole design at submit costs, side by side in one run (release
//! profile):
//!
//!     cargo bench --bench submit
//!
//! The design is a 4500 x 5400 RGBA PNG (15 x 18 in at 300 DPI, the largest DTG print
//! area), artwork-like: shapes, a gradient and transparency. Each round, alternating:
//!
//! * `submit`: [`Engine::submit`] on the memory store with local storage (the design's
//!   blob is written in the first round and found, by its content address, after it):
//!   the header check, the whole-design check, the SHA-256 key and the job insert;
//! * `stream check`: the check `submit` added, alone: the PNG streamed row by row through
//!   the `png` decoder to `IEND` with every checksum (one row buffer in memory), as
//!   `design::validate_design` does it;
//! * `full decode`: [`decode_design`], what a full check would cost (the whole image in
//!   memory), for comparison.
//!
//! Medians of `ROUNDS` rounds are printed, with the stream check's share of `submit`.

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::{Rgba, RgbaImage};
use render_engine::{
    decode_design, encode_png, DecodeLimits, DesignSource, Engine, EngineConfig, Preset, Submission,
};

const ROUNDS: usize = 9;

fn design() -> Vec<u8> {
    let img = RgbaImage::from_fn(4500, 5400, |x, y| {
        let (dx, dy) = (x as f32 - 2250.0, y as f32 - 2400.0);
        let r2 = dx * dx + dy * dy;
        if r2 < 1800.0 * 1800.0 {
            Rgba([
                (x * 255 / 4500) as u8,
                (y * 255 / 5400) as u8,
                ((x ^ y) & 0xff) as u8,
                if r2 < 1500.0 * 1500.0 { 255 } else { 160 },
            ])
        } else if (x / 300 + y / 300) % 2 == 0 {
            Rgba([200, 40, 60, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    encode_png(&img, None).unwrap()
}

fn stream_check(bytes: &[u8]) {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut rows = 0;
    while reader.next_row().unwrap().is_some() {
        rows += 1;
    }
    reader.finish().unwrap();
    assert_eq!(rows, 5400);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let bytes = design();
    println!(
        "design: 4500 x 5400 RGBA PNG, {:.1} MB",
        bytes.len() as f64 / 1e6
    );
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = rt
        .block_on(Engine::open(
            EngineConfig::new(dir.path())
                .with_store_url("memory:")
                .with_max_design_bytes(64 << 20),
        ))
        .unwrap();
    let limits = DecodeLimits::default().with_max_bytes(64 << 20);
    let (mut submit, mut stream, mut full) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let mut sides: Vec<Box<dyn FnMut()>> = vec![
            Box::new(|| {
                let t = Instant::now();
                rt.block_on(engine.submit(Submission::new(
                    "prod_bench",
                    Preset::ChestLarge,
                    DesignSource::Bytes(bytes.clone()),
                )))
                .unwrap();
                submit.push(t.elapsed());
            }),
            Box::new(|| {
                let t = Instant::now();
                stream_check(&bytes);
                stream.push(t.elapsed());
            }),
            Box::new(|| {
                let t = Instant::now();
                let design = decode_design(&bytes, &limits).unwrap();
                assert_eq!(design.size_px(), (4500, 5400));
                full.push(t.elapsed());
            }),
        ];
        // Rotate who goes first, so no side always gets the warm (or cold) machine.
        sides.rotate_left(round % 3);
        for side in &mut sides {
            side();
        }
    }
    let (s, c, f) = (median(submit), median(stream), median(full));
    println!("median of {ROUNDS} rounds:");
    println!("  submit (with the whole-design check): {}", ms(s));
    println!(
        "  stream check alone (what submit added): {} ({:.0}% of submit)",
        ms(c),
        100.0 * c.as_secs_f64() / s.as_secs_f64()
    );
    println!("  full decode, for comparison:          {}", ms(f));
}
