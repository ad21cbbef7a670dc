//! Writing PNG files by hand for tests (any chunk, any layout), included by the tests
//! that need it with `#[path = "common/png.rs"] mod png_chunks;`.

/// Writes a PNG chunk: length, type, data, CRC.
pub fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}
