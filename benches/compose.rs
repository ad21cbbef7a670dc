//! Compositor benchmark: a 4500 x 5400 RGBA PNG design composed with `chest-large`.
//!
//! Run with `cargo bench --bench compose`. Besides criterion's timings it prints, once:
//! the time of each stage (decode, prepare, fit, atlas, preview, print PNG encode), the
//! peak heap memory of one whole compose (a counting global allocator) against the
//! decoded design's size, and a batch of 8 garment colours against a single compose.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use image::{Rgba, RgbaImage};
use render_engine::{
    compose, compose_batch, encode_png, ComposeOptions, DecodeLimits, GarmentColor, PreparedDesign,
    Preset,
};

/// Counts live heap bytes and remembers the peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const W: u32 = 4500;
const H: u32 = 5400;

/// A busy 4500 x 5400 design: gradients, a pattern that does not compress away, and a
/// transparent margin, like real artwork.
fn design_png() -> Vec<u8> {
    let img = RgbaImage::from_fn(W, H, |x, y| {
        let margin = x < 150 || y < 150 || x >= W - 150 || y >= H - 150;
        // Artwork-like: gradients and a checker (compressible as real designs are; random
        // noise would make a 40 MB PNG, over the 25 MiB default limit).
        let v = if ((x / 120) + (y / 120)) % 2 == 0 {
            60
        } else {
            200
        };
        Rgba([
            (x * 255 / W) as u8,
            (y * 255 / H) as u8,
            v as u8,
            if margin { 0 } else { 255 },
        ])
    });
    encode_png(&img, None).unwrap()
}

fn options() -> ComposeOptions {
    ComposeOptions::new(Preset::ChestLarge).with_color(GarmentColor::parse("#1f2937").unwrap())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(png: &[u8]) {
    let opts = options();
    // warm up (font database, page faults)
    let _ = compose(png, &opts).unwrap();

    let runs = 5;
    let mut sums = [0.0f64; 7];
    for _ in 0..runs {
        let c = compose(png, &opts).unwrap();
        let t = c.timings;
        let start = Instant::now();
        let print_png = c.print_png().unwrap();
        let encode = start.elapsed();
        let start = Instant::now();
        let _ = c.atlas_png().unwrap();
        let atlas_encode = start.elapsed();
        for (s, v) in sums.iter_mut().zip([
            t.decode,
            t.prepare,
            t.fit,
            t.atlas,
            t.preview,
            encode,
            atlas_encode,
        ]) {
            *s += ms(v) / f64::from(runs);
        }
        drop(print_png);
    }
    let names = [
        "decode",
        "prepare (trim + premultiply)",
        "fit (resize, print canvas, atlas layer)",
        "atlas",
        "preview + preflight",
        "print PNG encode (300 DPI, 3600x3600)",
        "atlas PNG encode",
    ];
    println!("\n== compose: 4500x5400 RGBA PNG, chest-large, mean of {runs} runs ==");
    for (n, v) in names.iter().zip(sums) {
        println!("  {n:<42} {v:8.1} ms");
    }
    let in_memory: f64 = sums[..5].iter().sum();
    println!(
        "  {:<42} {:8.1} ms",
        "compose() total (in memory)", in_memory
    );
    println!(
        "  {:<42} {:8.1} ms",
        "compose() + print PNG + atlas PNG",
        in_memory + sums[5] + sums[6]
    );

    // Peak heap of one compose, the input bytes excluded.
    let decoded = u64::from(W) * u64::from(H) * 4;
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let c = compose(png, &opts).unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let kept = LIVE.load(Ordering::Relaxed) - base;
    drop(c);
    println!(
        "  peak heap during compose: {:.1} MiB = {:.2}x the decoded design ({:.1} MiB); {:.1} MiB kept in the result",
        peak as f64 / 1048576.0,
        peak as f64 / decoded as f64,
        decoded as f64 / 1048576.0,
        kept as f64 / 1048576.0
    );
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let c = compose(png, &opts).unwrap();
    let _bytes = c.print_png().unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    println!(
        "  peak heap incl. print PNG encoding: {:.1} MiB = {:.2}x",
        peak as f64 / 1048576.0,
        peak as f64 / decoded as f64
    );
    drop(c);

    // A batch of 8 colours against a single compose.
    let colors = [
        "#ffffff", "#000000", "#1f2937", "#b91c1c", "#15803d", "#1d4ed8", "#fef3c7", "#6b7280",
    ];
    let batch: Vec<_> = colors
        .iter()
        .map(|c| options().with_color(GarmentColor::parse(c).unwrap()))
        .collect();
    let mut single = Duration::ZERO;
    let mut eight = Duration::ZERO;
    for _ in 0..3 {
        let start = Instant::now();
        let _ = compose(png, &opts).unwrap();
        single += start.elapsed();
        let start = Instant::now();
        let _ = compose_batch(png, &batch).unwrap();
        eight += start.elapsed();
    }
    println!(
        "  single compose {:.1} ms; batch of 8 colours {:.1} ms = {:.2}x a single one\n",
        ms(single) / 3.0,
        ms(eight) / 3.0,
        eight.as_secs_f64() / single.as_secs_f64()
    );
}

fn bench(c: &mut Criterion) {
    let png = design_png();
    report(&png);
    let opts = options();
    let mut g = c.benchmark_group("compose-4500x5400");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("decode and prepare (premultiply, ink bounds)", |b| {
        b.iter(|| PreparedDesign::decode(&png, &DecodeLimits::default()).unwrap())
    });
    g.bench_function("compose (decode, fit, print file, atlas, preview)", |b| {
        b.iter(|| compose(&png, &opts).unwrap())
    });
    let c1 = compose(&png, &opts).unwrap();
    g.bench_function("print PNG encode", |b| b.iter(|| c1.print_png().unwrap()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
