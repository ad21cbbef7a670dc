//! Turntable encoders: H.264 in a fast-start MP4, and animated WebP.
//!
//! Both codecs are compiled into the library from crates.io sources (OpenH264 through the
//! `openh264` crate, libwebp through `webp`/`libwebp-sys`), so nothing is needed from the
//! system at run time.

use image::RgbaImage;
use openh264::encoder::{Encoder, EncoderConfig, FrameType, RateControlMode};
use openh264::formats::YUVSlices;
use openh264::OpenH264API;

use super::mp4::{self, Sample, Track};
use crate::error::{Error, Result};

fn check_frames(frames: &[RgbaImage], fps: u32, what: &str) -> Result<(u32, u32)> {
    let first = frames.first().ok_or_else(|| {
        Error::validation(
            "frames",
            format!("a {what} needs at least one frame; got none"),
        )
    })?;
    let dims = first.dimensions();
    if dims.0 == 0 || dims.1 == 0 {
        return Err(Error::validation(
            "frames",
            "frames must not be empty images",
        ));
    }
    if let Some(i) = frames.iter().position(|f| f.dimensions() != dims) {
        return Err(Error::validation(
            "frames",
            format!(
                "frame {i} is {}x{} but frame 0 is {}x{}; every frame must have the same size",
                frames[i].width(),
                frames[i].height(),
                dims.0,
                dims.1
            ),
        ));
    }
    if !(1..=120).contains(&fps) {
        return Err(Error::validation(
            "fps",
            format!("{fps} frames per second is out of range; use 1 to 120"),
        ));
    }
    Ok(dims)
}

/// BT.601 limited-range 4:2:0 planes of an sRGB frame whose size is even (the caller
/// pads odd sizes by repeating the last column/row).
fn to_yuv420(frame: &RgbaImage, w: usize, h: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (fw, fh) = (frame.width() as usize, frame.height() as usize);
    let raw = frame.as_raw();
    let px = |x: usize, y: usize| {
        let i = 4 * (y.min(fh - 1) * fw + x.min(fw - 1));
        (raw[i] as i32, raw[i + 1] as i32, raw[i + 2] as i32)
    };
    let mut y_plane = vec![0u8; w * h];
    let mut u_plane = vec![0u8; w * h / 4];
    let mut v_plane = vec![0u8; w * h / 4];
    for y in 0..h {
        for x in 0..w {
            let (r, g, b) = px(x, y);
            y_plane[y * w + x] = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
        }
    }
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            let mut s = (0, 0, 0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (r, g, b) = px(2 * x + dx, 2 * y + dy);
                s = (s.0 + r, s.1 + g, s.2 + b);
            }
            let (r, g, b) = ((s.0 + 2) >> 2, (s.1 + 2) >> 2, (s.2 + 2) >> 2);
            u_plane[y * w / 2 + x] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8;
            v_plane[y * w / 2 + x] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8;
        }
    }
    (y_plane, u_plane, v_plane)
}

/// Splits an Annex B NAL unit off its start code.
fn strip_start_code(nal: &[u8]) -> &[u8] {
    if nal.starts_with(&[0, 0, 0, 1]) {
        &nal[4..]
    } else if nal.starts_with(&[0, 0, 1]) {
        &nal[3..]
    } else {
        nal
    }
}

/// The largest quantiser of the MP4's pictures. OpenH264's rate control alone let the
/// white garment's fabric texture go soft (garment SSIM 0.976 against the lossless frame);
/// with 16 the worst turntable frame scores 0.987, for 10% more bytes.
const MP4_MAX_QP: i32 = 16;

/// Caps the encoder's quantiser at [`MP4_MAX_QP`]. The `openh264` crate configures the
/// encoder on its first picture and has no quantiser setting, so: encode `first` once
/// (discarded), re-configure with the cap, and make the next picture an IDR, with which
/// the encoder writes its parameter sets again.
fn cap_quantiser(
    encoder: &mut Encoder,
    first: &RgbaImage,
    (w, h): (usize, usize),
    bits_per_second: u32,
    fps: u32,
) -> Result<()> {
    let (y, u, v) = to_yuv420(first, w, h);
    let yuv = YUVSlices::new((&y, &u, &v), (w, h), (w, w / 2, w / 2));
    encoder.encode(&yuv).map_err(|e| {
        Error::render_failed(format!("the H.264 encoder failed to start: {e}")).caused_by(e)
    })?;
    let mut params = openh264_sys2::SEncParamExt::default();
    // SAFETY: the encoder is initialised (it encoded a picture); `params` is a plain C
    // struct the API fills with its defaults and then reads while the call lasts.
    let status = unsafe {
        let api = encoder.raw_api();
        api.get_default_params(&mut params);
        params.iPicWidth = w as i32;
        params.iPicHeight = h as i32;
        params.iRCMode = openh264_sys2::RC_QUALITY_MODE;
        params.bEnableFrameSkip = false;
        params.iTargetBitrate = bits_per_second as i32;
        params.fMaxFrameRate = fps as f32;
        params.iMinQp = 10;
        params.iMaxQp = MP4_MAX_QP;
        api.set_option(
            openh264_sys2::ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
            std::ptr::addr_of_mut!(params).cast(),
        )
    };
    if status != 0 {
        return Err(Error::render_failed(format!(
            "the H.264 encoder refused its quantiser settings (status {status})"
        )));
    }
    encoder.force_intra_frame();
    Ok(())
}

/// Encodes frames as H.264 (Constrained Baseline, yuv420p, BT.601 limited range) in an
/// MP4 whose index (`moov`) precedes the data (`mdat`), so browsers play it while it
/// downloads. Odd widths or heights are padded to even by repeating the last
/// column/row. Every frame becomes exactly one sample, `1 / fps` seconds long; the
/// first is an IDR picture.
///
/// # Errors
///
/// `E_VALIDATION` for no frames, frames of different sizes, or an fps outside 1..=120;
/// `E_RENDERER_UNAVAILABLE` if the built-in OpenH264 encoder cannot start;
/// `E_RENDER_FAILED` if it fails on a frame.
pub fn encode_mp4(frames: &[RgbaImage], fps: u32) -> Result<Vec<u8>> {
    let (fw, fh) = check_frames(frames, fps, "video")?;
    let (w, h) = ((fw as usize + 1) & !1, (fh as usize + 1) & !1);
    if w > u16::MAX as usize || h > u16::MAX as usize {
        return Err(Error::validation(
            "frames",
            format!("{w}x{h} is too large for MP4"),
        ));
    }
    let bits_per_second = ((w * h) as f64 * fps as f64 * 0.6).clamp(500_000.0, 20_000_000.0);
    let config = EncoderConfig::new()
        .set_bitrate_bps(bits_per_second as u32)
        .max_frame_rate(fps as f32)
        .enable_skip_frame(false)
        .rate_control_mode(RateControlMode::Quality);
    let mut encoder =
        Encoder::with_api_config(OpenH264API::from_source(), config).map_err(|e| {
            Error::RendererUnavailable(format!(
                "the built-in H.264 encoder (OpenH264) failed to start: {e}"
            ))
        })?;
    // OpenH264 starts on the first frame and then warns on stderr that the bitrate cannot
    // be held without skipping frames (deliberate: every frame is kept); the crate lowers
    // the log level only after that start, so lower it now: errors still come back as
    // results.
    let mut level: i32 = openh264_sys2::WELS_LOG_QUIET;
    // SAFETY: the trace level is an option OpenH264 accepts before it starts
    // (`SetOption` allows it without initialisation); `level` outlives the call.
    unsafe {
        encoder.raw_api().set_option(
            openh264_sys2::ENCODER_OPTION_TRACE_LEVEL,
            std::ptr::addr_of_mut!(level).cast(),
        );
    }

    cap_quantiser(
        &mut encoder,
        &frames[0],
        (w, h),
        bits_per_second as u32,
        fps,
    )?;

    let mut sps: Option<Vec<u8>> = None;
    let mut pps: Option<Vec<u8>> = None;
    let mut samples = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let (y, u, v) = to_yuv420(frame, w, h);
        let yuv = YUVSlices::new((&y, &u, &v), (w, h), (w, w / 2, w / 2));
        let stream = encoder.encode(&yuv).map_err(|e| {
            Error::render_failed(format!("the H.264 encoder failed on frame {i}: {e}")).caused_by(e)
        })?;
        let frame_type = stream.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Err(Error::render_failed(format!(
                "the H.264 encoder dropped frame {i} ({frame_type:?})"
            )));
        }
        let mut data = Vec::new();
        for l in 0..stream.num_layers() {
            let layer = stream.layer(l).expect("layer index in range");
            for n in 0..layer.nal_count() {
                let nal = strip_start_code(layer.nal_unit(n).expect("nal index in range"));
                match nal.first().map(|b| b & 0x1f) {
                    None | Some(9) => {} // empty, access unit delimiter
                    Some(7) => {
                        sps.get_or_insert_with(|| nal.to_vec());
                    }
                    Some(8) => {
                        pps.get_or_insert_with(|| nal.to_vec());
                    }
                    Some(_) => {
                        data.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                        data.extend_from_slice(nal);
                    }
                }
            }
        }
        if data.is_empty() {
            return Err(Error::render_failed(format!(
                "the H.264 encoder produced no picture for frame {i}"
            )));
        }
        samples.push(Sample {
            data,
            sync: frame_type == FrameType::IDR,
        });
    }
    let (Some(sps), Some(pps)) = (sps, pps) else {
        return Err(Error::render_failed(
            "the H.264 encoder produced no SPS/PPS parameter sets",
        ));
    };
    if sps.len() < 4 {
        return Err(Error::render_failed("the H.264 SPS is truncated"));
    }
    Ok(mp4::write(&Track {
        width: w as u16,
        height: h as u16,
        timescale: fps * 100,
        sample_delta: 100,
        sps: &sps,
        pps: &pps,
        samples: &samples,
    }))
}

/// The lossy quality of every WebP turntable frame (libwebp's 0-100 scale).
const WEBP_QUALITY: f32 = 94.0;

/// Encodes frames as an animated WebP that loops forever, each frame shown `1000 / fps`
/// milliseconds.
///
/// Every frame is a whole, independent lossy picture (quality [`WEBP_QUALITY`], libwebp's
/// method 0, plain RGB-to-YUV conversion), encoded in parallel and muxed here. Measured
/// on the sample turntables (classic-tee, before the drape), worst garment SSIM of a
/// decoded frame against its lossless frame, white garment: method 0 0.982, 2 0.981,
/// 3 0.984, 4 with sharp YUV (before) 0.984; the encode took 60, 80, 145 and 272 ms.
/// Method 0 writes about 20% more bytes than 3 (222 KB against 185 KB).
/// libwebp's own animation encoder instead keeps pixels it judges unchanged from the
/// previous frame; with lossy frames that left faint outlines of earlier frames in the
/// background. Opaque frames carry no alpha channel.
///
/// # Errors
///
/// `E_VALIDATION` for no frames, frames of different sizes, or an fps outside 1..=120;
/// `E_RENDERER_UNAVAILABLE` if the built-in libwebp encoder cannot be configured;
/// `E_RENDER_FAILED` if encoding fails.
pub fn encode_webp(frames: &[RgbaImage], fps: u32) -> Result<Vec<u8>> {
    use rayon::prelude::*;

    let (w, h) = check_frames(frames, fps, "WebP animation")?;
    if w > 16383 || h > 16383 {
        return Err(Error::validation(
            "frames",
            format!("{w}x{h} is too large for WebP (16383 px at most)"),
        ));
    }
    let mut config = webp::WebPConfig::new().map_err(|()| {
        Error::RendererUnavailable("the built-in WebP encoder (libwebp) failed to start".into())
    })?;
    config.lossless = 0;
    config.quality = WEBP_QUALITY;
    config.method = 0;
    config.use_sharp_yuv = 0;
    config.thread_level = 0;
    let encoded: Vec<Vec<u8>> = frames
        .par_iter()
        .enumerate()
        .map(|(i, frame)| {
            let opaque = frame.pixels().all(|p| p[3] == 255);
            let rgb: Vec<u8>;
            let encoder = if opaque {
                rgb = frame
                    .as_raw()
                    .chunks_exact(4)
                    .flat_map(|p| [p[0], p[1], p[2]])
                    .collect();
                webp::Encoder::from_rgb(&rgb, w, h)
            } else {
                webp::Encoder::from_rgba(frame.as_raw(), w, h)
            };
            encoder
                .encode_advanced(&config)
                .map(|memory| memory.to_vec())
                .map_err(|e| {
                    Error::render_failed(format!("the WebP encoder failed on frame {i}: {e:?}"))
                })
        })
        .collect::<Result<_>>()?;
    let mut frame_chunks = Vec::with_capacity(encoded.len());
    for (i, file) in encoded.iter().enumerate() {
        frame_chunks.push(webp_mux::image_chunks(file).ok_or_else(|| {
            Error::render_failed(format!(
                "the WebP encoder wrote an unexpected file for frame {i}"
            ))
        })?);
    }
    let durations: Vec<u32> = (0..frames.len() as u64)
        .map(|i| ((i + 1) * 1000 / fps as u64 - i * 1000 / fps as u64) as u32)
        .collect();
    Ok(webp_mux::animation(
        (w, h),
        [255, 255, 255, 255],
        &frame_chunks,
        &durations,
    ))
}

/// The RIFF container of an animated WebP, written around independently encoded frames
/// (WebP container specification: `VP8X`, `ANIM`, one `ANMF` per frame).
mod webp_mux {
    /// The image chunks (`ALPH`, `VP8 `, `VP8L`) of a still WebP file, in order, each
    /// with its header and padding; `None` if `file` is not a RIFF WebP.
    pub(super) fn image_chunks(file: &[u8]) -> Option<&[u8]> {
        if file.len() < 12 || &file[0..4] != b"RIFF" || &file[8..12] != b"WEBP" {
            return None;
        }
        let mut pos = 12;
        let mut start = None;
        while pos + 8 <= file.len() {
            let kind = &file[pos..pos + 4];
            let size = u32::from_le_bytes(file[pos + 4..pos + 8].try_into().ok()?) as usize;
            let next = pos + 8 + size + (size & 1);
            if matches!(kind, b"ALPH" | b"VP8 " | b"VP8L") {
                start.get_or_insert(pos);
            } else if start.is_some() {
                return None; // image chunks must be contiguous
            }
            if next > file.len() {
                return None;
            }
            pos = next;
        }
        start.map(|s| &file[s..pos])
    }

    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
        out.extend_from_slice(kind);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
    }

    fn u24(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_le_bytes()[..3]);
    }

    /// An animated WebP of `frames` (each the image chunks of a whole `size` frame at the
    /// origin), looping forever, frame `i` shown `durations[i]` ms.
    pub(super) fn animation(
        size: (u32, u32),
        background_rgba: [u8; 4],
        frames: &[&[u8]],
        durations: &[u32],
    ) -> Vec<u8> {
        let (w, h) = size;
        let alpha = frames.iter().any(|f| f.starts_with(b"ALPH"));
        let mut body = Vec::new();
        let mut vp8x = vec![0x02 | if alpha { 0x10 } else { 0 }, 0, 0, 0];
        u24(&mut vp8x, w - 1);
        u24(&mut vp8x, h - 1);
        chunk(&mut body, b"VP8X", &vp8x);
        let [r, g, b, a] = background_rgba;
        // Background colour in B, G, R, A order; loop count 0: forever.
        chunk(&mut body, b"ANIM", &[b, g, r, a, 0, 0]);
        for (frame, &duration) in frames.iter().zip(durations) {
            let mut anmf = Vec::with_capacity(16 + frame.len());
            u24(&mut anmf, 0); // x / 2
            u24(&mut anmf, 0); // y / 2
            u24(&mut anmf, w - 1);
            u24(&mut anmf, h - 1);
            u24(&mut anmf, duration.min(0xFF_FFFF));
            // No blending (each frame replaces the canvas), no disposal.
            anmf.push(0x02);
            anmf.extend_from_slice(frame);
            chunk(&mut body, b"ANMF", &anmf);
        }
        let mut out = Vec::with_capacity(12 + body.len());
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(4 + body.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WEBP");
        out.extend_from_slice(&body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_input_with_validation_errors() {
        assert_eq!(encode_mp4(&[], 12).unwrap_err().code(), "E_VALIDATION");
        assert_eq!(encode_webp(&[], 12).unwrap_err().code(), "E_VALIDATION");
        let frames = vec![RgbaImage::new(8, 8), RgbaImage::new(8, 6)];
        let err = encode_mp4(&frames, 12).unwrap_err();
        assert!(err.to_string().contains("frame 1 is 8x6"), "{err}");
        let one = vec![RgbaImage::new(8, 8)];
        assert_eq!(encode_webp(&one, 0).unwrap_err().code(), "E_VALIDATION");
    }

    #[test]
    fn yuv_of_white_and_black_is_limited_range() {
        let mut img = RgbaImage::from_pixel(4, 2, image::Rgba([255, 255, 255, 255]));
        img.put_pixel(0, 0, image::Rgba([0, 0, 0, 255]));
        let (y, u, v) = to_yuv420(&img, 4, 2);
        assert_eq!(y[0], 16);
        assert_eq!(y[1], 235);
        assert_eq!(u[1], 128);
        assert_eq!(v[1], 128);
    }

    #[test]
    fn odd_sizes_are_padded_to_even() {
        let frames: Vec<_> = (0..3)
            .map(|i| RgbaImage::from_pixel(33, 17, image::Rgba([i * 80, 40, 200, 255])))
            .collect();
        let mp4 = encode_mp4(&frames, 12).unwrap();
        let tkhd = mp4.windows(4).position(|w| w == b"tkhd").unwrap();
        // width/height are the last 8 bytes of the 92-byte tkhd (16.16 fixed point)
        let end = tkhd - 4 + 92;
        let width = u32::from_be_bytes(mp4[end - 8..end - 4].try_into().unwrap()) >> 16;
        let height = u32::from_be_bytes(mp4[end - 4..end].try_into().unwrap()) >> 16;
        assert_eq!((width, height), (34, 18));
    }
}
