//! A minimal MP4 (ISO BMFF) writer for one H.264 video track, fast-start.
//!
//! Layout: `ftyp`, then `moov` (the index), then `mdat` (all samples in one chunk), so a
//! browser can start playing while the file downloads. Box layouts follow ISO/IEC 14496-12
//! (the file format) and 14496-15 (the `avcC` decoder configuration).

/// One coded picture: length-prefixed NAL units (4-byte big-endian lengths).
pub(crate) struct Sample {
    pub data: Vec<u8>,
    /// An IDR picture: decoding may start here.
    pub sync: bool,
}

/// The whole description of the track.
pub(crate) struct Track<'a> {
    pub width: u16,
    pub height: u16,
    /// Ticks per second of the media clock.
    pub timescale: u32,
    /// Duration of every sample, in ticks.
    pub sample_delta: u32,
    pub sps: &'a [u8],
    pub pps: &'a [u8],
    pub samples: &'a [Sample],
}

/// ITU-T H.273 code points of the `colr` box.
const COLOUR_PRIMARIES_BT709: u16 = 1;
const TRANSFER_SRGB: u16 = 13;
const MATRIX_BT601: u16 = 6;

fn bx(kind: &[u8; 4], parts: &[&[u8]]) -> Vec<u8> {
    let len: usize = 8 + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(kind);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

fn full(kind: &[u8; 4], version: u8, flags: u32, parts: &[&[u8]]) -> Vec<u8> {
    let mut head = flags.to_be_bytes();
    head[0] = version;
    let mut all: Vec<&[u8]> = vec![&head];
    all.extend_from_slice(parts);
    bx(kind, &all)
}

struct W(Vec<u8>);

impl W {
    fn new() -> W {
        W(Vec::new())
    }
    fn u8(&mut self, v: u8) -> &mut W {
        self.0.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut W {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut W {
        self.0.extend_from_slice(v);
        self
    }
    fn zeros(&mut self, n: usize) -> &mut W {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    /// The identity transformation matrix of mvhd/tkhd.
    fn matrix(&mut self) -> &mut W {
        for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
            self.u32(v);
        }
        self
    }
}

fn moov(t: &Track<'_>, mdat_data_offset: u32) -> Vec<u8> {
    let n = t.samples.len() as u32;
    let media_duration = n * t.sample_delta;
    // The movie timescale: milliseconds.
    let movie_duration = (media_duration as u64 * 1000 / t.timescale as u64) as u32;

    let mvhd = full(
        b"mvhd",
        0,
        0,
        &[&W::new()
            .u32(0) // creation time
            .u32(0) // modification time
            .u32(1000)
            .u32(movie_duration)
            .u32(0x0001_0000) // rate 1.0
            .u16(0x0100) // volume 1.0
            .zeros(10)
            .matrix()
            .zeros(24) // pre_defined
            .u32(2) // next track id
            .0],
    );
    let tkhd = full(
        b"tkhd",
        0,
        0x3, // enabled, in movie
        &[&W::new()
            .u32(0)
            .u32(0)
            .u32(1) // track id
            .u32(0)
            .u32(movie_duration)
            .zeros(8)
            .u16(0) // layer
            .u16(0) // alternate group
            .u16(0) // volume (video)
            .u16(0)
            .matrix()
            .u32((t.width as u32) << 16)
            .u32((t.height as u32) << 16)
            .0],
    );
    let mdhd = full(
        b"mdhd",
        0,
        0,
        &[&W::new()
            .u32(0)
            .u32(0)
            .u32(t.timescale)
            .u32(media_duration)
            .u16(0x55c4) // language "und"
            .u16(0)
            .0],
    );
    let hdlr = full(
        b"hdlr",
        0,
        0,
        &[&W::new()
            .u32(0)
            .bytes(b"vide")
            .zeros(12)
            .bytes(b"VideoHandler\0")
            .0],
    );
    let vmhd = full(b"vmhd", 0, 1, &[&[0u8; 8]]);
    let url = full(b"url ", 0, 1, &[]);
    let dref = full(b"dref", 0, 0, &[&1u32.to_be_bytes(), &url]);
    let dinf = bx(b"dinf", &[&dref]);

    let avcc = bx(
        b"avcC",
        &[&W::new()
            .u8(1) // configuration version
            .u8(t.sps[1]) // profile
            .u8(t.sps[2]) // profile compatibility
            .u8(t.sps[3]) // level
            .u8(0xff) // 4-byte NAL lengths
            .u8(0xe1) // one SPS
            .u16(t.sps.len() as u16)
            .bytes(t.sps)
            .u8(1) // one PPS
            .u16(t.pps.len() as u16)
            .bytes(t.pps)
            .0],
    );
    // How the frames were converted (`animation::to_yuv420`): sRGB values, so BT.709
    // primaries and the sRGB transfer (IEC 61966-2-1), through the BT.601 matrix
    // (SMPTE 170M) into limited range. Without it players guess, often BT.709.
    let colr = bx(
        b"colr",
        &[&W::new()
            .bytes(b"nclx")
            .u16(COLOUR_PRIMARIES_BT709)
            .u16(TRANSFER_SRGB)
            .u16(MATRIX_BT601)
            .u8(0) // full_range_flag 0: limited range
            .0],
    );
    let mut compressor = [0u8; 32];
    let name = b"render-engine H.264";
    compressor[0] = name.len() as u8;
    compressor[1..=name.len()].copy_from_slice(name);
    let avc1 = bx(
        b"avc1",
        &[
            &W::new()
                .zeros(6)
                .u16(1) // data reference index
                .zeros(16)
                .u16(t.width)
                .u16(t.height)
                .u32(0x0048_0000) // 72 dpi
                .u32(0x0048_0000)
                .u32(0)
                .u16(1) // frames per sample
                .bytes(&compressor)
                .u16(0x0018) // depth
                .u16(0xffff) // pre_defined = -1
                .0,
            &avcc,
            &colr,
        ],
    );
    let stsd = full(b"stsd", 0, 0, &[&1u32.to_be_bytes(), &avc1]);
    let stts = full(
        b"stts",
        0,
        0,
        &[&W::new().u32(1).u32(n).u32(t.sample_delta).0],
    );
    let mut sync = W::new();
    let syncs: Vec<u32> = (1..=n)
        .filter(|i| t.samples[*i as usize - 1].sync)
        .collect();
    sync.u32(syncs.len() as u32);
    for s in &syncs {
        sync.u32(*s);
    }
    let stss = full(b"stss", 0, 0, &[&sync.0]);
    let stsc = full(b"stsc", 0, 0, &[&W::new().u32(1).u32(1).u32(n).u32(1).0]);
    let mut sizes = W::new();
    sizes.u32(0).u32(n);
    for s in t.samples {
        sizes.u32(s.data.len() as u32);
    }
    let stsz = full(b"stsz", 0, 0, &[&sizes.0]);
    let stco = full(b"stco", 0, 0, &[&W::new().u32(1).u32(mdat_data_offset).0]);
    let stbl = bx(b"stbl", &[&stsd, &stts, &stss, &stsc, &stsz, &stco]);
    let minf = bx(b"minf", &[&vmhd, &dinf, &stbl]);
    let mdia = bx(b"mdia", &[&mdhd, &hdlr, &minf]);
    let trak = bx(b"trak", &[&tkhd, &mdia]);
    bx(b"moov", &[&mvhd, &trak])
}

/// The complete file: `ftyp`, `moov`, `mdat`.
pub(crate) fn write(t: &Track<'_>) -> Vec<u8> {
    let ftyp = bx(
        b"ftyp",
        &[b"isom", &0x200u32.to_be_bytes(), b"isomiso2avc1mp41"],
    );
    // The moov's size does not depend on the chunk offset it holds: size it first.
    let moov_len = moov(t, 0).len();
    let data_len: usize = t.samples.iter().map(|s| s.data.len()).sum();
    let offset = (ftyp.len() + moov_len + 8) as u32;
    let moov = moov(t, offset);
    let mut out = Vec::with_capacity(offset as usize + data_len);
    out.extend_from_slice(&ftyp);
    out.extend_from_slice(&moov);
    out.extend_from_slice(&((data_len + 8) as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    for s in t.samples {
        out.extend_from_slice(&s.data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top_level(bytes: &[u8]) -> Vec<(String, usize, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            out.push((
                String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned(),
                at,
                len,
            ));
            at += len;
        }
        assert_eq!(at, bytes.len());
        out
    }

    #[test]
    fn boxes_are_fast_start_and_offsets_point_at_samples() {
        let samples = vec![
            Sample {
                data: vec![0, 0, 0, 2, 0x65, 1],
                sync: true,
            },
            Sample {
                data: vec![0, 0, 0, 2, 0x41, 2],
                sync: false,
            },
        ];
        let bytes = write(&Track {
            width: 4,
            height: 2,
            timescale: 1200,
            sample_delta: 100,
            sps: &[0x67, 66, 0, 30],
            pps: &[0x68, 1],
            samples: &samples,
        });
        let boxes = top_level(&bytes);
        let kinds: Vec<&str> = boxes.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(kinds, ["ftyp", "moov", "mdat"]);
        let mdat = &boxes[2];
        // stco's single offset is the start of mdat's payload.
        let stco = bytes.windows(4).position(|w| w == b"stco").unwrap();
        let offset = u32::from_be_bytes(bytes[stco + 12..stco + 16].try_into().unwrap());
        assert_eq!(offset as usize, mdat.1 + 8);
        assert_eq!(
            &bytes[offset as usize..offset as usize + 6],
            &samples[0].data[..]
        );
    }
}
