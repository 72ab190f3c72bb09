//! Precompressed brotli and gzip variants, built once at upload so the edge never compresses
//! on the hot path.

use std::io::Write;

use crate::is_compressible;

/// Files smaller than this gain too little from compression to be worth a variant.
const MIN_SIZE: usize = 1024;

/// How hard to compress. Brotli's level 11 makes JS about 9% smaller than level 7 but costs
/// ~25x the CPU (about 1 MB/s per core against 25 MB/s), so callers spend it on small deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    /// brotli 11, gzip 9.
    Max,
    /// brotli 7, gzip 9.
    Fast,
}

/// Compressed variants of one file; each present only if smaller than the original.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Variants {
    pub br: Option<Vec<u8>>,
    pub gz: Option<Vec<u8>>,
}

/// Builds the variants worth storing for `data` of `content_type`.
pub fn precompress(data: &[u8], content_type: &str, effort: Effort) -> Variants {
    if data.len() < MIN_SIZE || !is_compressible(content_type) {
        return Variants::default();
    }
    let smaller = |v: Vec<u8>| (v.len() < data.len()).then_some(v);
    let quality = match effort {
        Effort::Max => 11,
        Effort::Fast => 7,
    };
    Variants { br: brotli(data, quality).and_then(smaller), gz: gzip(data).and_then(smaller) }
}

fn brotli(data: &[u8], quality: u32) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 3);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, quality, 22);
        w.write_all(data).ok()?;
        w.flush().ok()?;
    }
    Some(out)
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut w = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), flate2::Compression::best());
    w.write_all(data).ok()?;
    w.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn text_gets_both_variants_that_decompress_to_the_original() {
        let js = "export const answer = 42;\n".repeat(200);
        let v = precompress(js.as_bytes(), "text/javascript; charset=utf-8", Effort::Max);
        let fast = precompress(js.as_bytes(), "text/javascript; charset=utf-8", Effort::Fast);
        let br = v.br.expect("brotli variant");
        let gz = v.gz.expect("gzip variant");
        let mut back = Vec::new();
        brotli::Decompressor::new(&br[..], 4096).read_to_end(&mut back).expect("brotli");
        assert_eq!(back, js.as_bytes());
        back.clear();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).expect("gzip");
        assert_eq!(back, js.as_bytes());
        back.clear();
        let fast_br = fast.br.expect("fast brotli variant");
        brotli::Decompressor::new(&fast_br[..], 4096).read_to_end(&mut back).expect("brotli");
        assert_eq!(back, js.as_bytes());
    }

    #[test]
    fn small_files_and_binary_formats_get_none() {
        assert_eq!(precompress(b"tiny", "text/css; charset=utf-8", Effort::Max), Variants::default());
        assert_eq!(precompress(&[7u8; 4096], "image/png", Effort::Max), Variants::default());
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
        let v = precompress(&noise, "text/plain; charset=utf-8", Effort::Fast);
        assert_eq!(v, Variants::default());
    }
}
