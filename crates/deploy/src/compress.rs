//! Precompressed brotli and gzip variants, built once per stored blob so the edge never
//! compresses on the hot path. gzip is made while a deploy is stored; brotli at maximum effort
//! (about 1 MB/s per core) afterwards, by the platform's background worker, so a deploy does
//! not wait for it.

use std::io::Write;

use crate::is_compressible;

/// Files smaller than this gain too little from compression to be worth a variant.
const MIN_SIZE: usize = 1024;

/// Brotli's maximum quality: JS about 9% smaller than level 7, for ~25x the CPU, which is
/// why it runs in the background.
const BROTLI_QUALITY: u32 = 11;
/// Brotli's largest standard window (4 MB).
const BROTLI_WINDOW: u32 = 22;

/// Whether a file of `size` bytes and `content_type` gets compressed variants at all.
pub fn wants_variants(size: u64, content_type: &str) -> bool {
    size >= MIN_SIZE as u64 && is_compressible(content_type)
}

/// gzip's default level: the gzip variant is what clients get until brotli is made (and what
/// the few without brotli get), and level 9 costs 1.6x the CPU of a first deploy's
/// compression for files under 1% smaller (1,000 JS-like files of 20 KB: 400 ms against 255 ms).
const GZIP_LEVEL: u32 = 6;

/// The gzip variant of a file that [`wants_variants`], if it is smaller.
pub fn gzip_variant(data: &[u8]) -> Option<Vec<u8>> {
    let level = flate2::Compression::new(GZIP_LEVEL);
    let mut w = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), level);
    w.write_all(data).ok()?;
    w.finish().ok().filter(|v| v.len() < data.len())
}

/// The brotli variant (maximum effort) of a file that [`wants_variants`], if it is smaller.
pub fn brotli_variant(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 3);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
        w.write_all(data).ok()?;
        w.flush().ok()?;
    }
    (out.len() < data.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn text_gets_both_variants_that_decompress_to_the_original() {
        let js = "export const answer = 42;\n".repeat(200);
        assert!(wants_variants(js.len() as u64, "text/javascript; charset=utf-8"));
        let br = brotli_variant(js.as_bytes()).expect("brotli variant");
        let gz = gzip_variant(js.as_bytes()).expect("gzip variant");
        let mut back = Vec::new();
        brotli::Decompressor::new(&br[..], 4096).read_to_end(&mut back).expect("brotli");
        assert_eq!(back, js.as_bytes());
        back.clear();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).expect("gzip");
        assert_eq!(back, js.as_bytes());
    }

    #[test]
    fn small_files_and_binary_formats_get_none() {
        assert!(!wants_variants(4, "text/css; charset=utf-8"));
        assert!(!wants_variants(4096, "image/png"));
        assert!(wants_variants(1024, "text/css; charset=utf-8"));
    }

    #[test]
    fn incompressible_text_gets_no_variant() {
        // Pseudo-random bytes: compression cannot make them smaller.
        let mut x: u32 = 12345;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x & 0xff) as u8
            })
            .collect();
        assert_eq!(gzip_variant(&noise), None);
        assert_eq!(brotli_variant(&noise), None);
    }
}
