//! The picture pipeline, pure: bytes and limits in, a stored picture out.
//! `sniff` recognises the format by its bytes (JPEG, PNG, WebP, GIF);
//! `decode` refuses an image whose declared size is over the limits before
//! decoding a pixel, and decodes (JPEG in the DCT domain at 1/2–1/8 scale
//! when the result is to be small); `fit` applies the EXIF orientation and
//! fits the avatar box without enlarging; `encode` writes JPEG for opaque
//! pictures, PNG for real transparency, dropping every metadata block.
//! No I/O, no HTTP, no database, no waiting for permits (the caller
//! schedules it); it never panics on any input.

mod decode;
mod encode;
mod fit;
mod sniff;

use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{RgbImage, RgbaImage};

pub use encode::JPEG_QUALITY;
pub use fit::fitted_size;
pub use sniff::{sniff, SourceFormat};

/// What a 415 names.
pub const ACCEPTED_TYPES: &str = "image/jpeg, image/png, image/webp, image/gif";

#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    /// Largest width × height accepted, checked from the header.
    pub max_pixels: u64,
    /// Stored pictures fit within this square.
    pub avatar_size: u32,
    /// The most decoding may allocate (the decoder's own buffers and the
    /// conversion to 8 bits), checked from the header before decoding.
    pub max_decode_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredFormat {
    Jpeg,
    Png,
}

impl StoredFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }
}

/// A picture ready to store.
pub struct Picture {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: StoredFormat,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImagingError {
    #[error("unsupported image type; accepted: {ACCEPTED_TYPES}")]
    Unsupported,
    #[error("the image is {width}×{height} pixels; at most {max} pixels are accepted")]
    TooManyPixels { width: u64, height: u64, max: u64 },
    #[error("the image is truncated or corrupt")]
    Corrupt,
    #[error("the image is too complex: decoding it would need {needed} bytes of memory; at most {max} are allowed")]
    TooMuchMemory { needed: u64, max: u64 },
    #[error("the image is too complex: it has {scans} scans; at most {max} are accepted")]
    TooManyScans { scans: usize, max: usize },
}

/// Decoded pixels, 8 bits per channel.
enum Pixels {
    Rgb(RgbImage),
    Rgba(RgbaImage),
}

impl Pixels {
    fn dimensions(&self) -> (u32, u32) {
        match self {
            Pixels::Rgb(image) => image.dimensions(),
            Pixels::Rgba(image) => image.dimensions(),
        }
    }
}

/// The whole pipeline: any bytes in, a stored picture or a reason out.
pub fn process(bytes: &[u8], limits: &ImageLimits) -> Result<Picture, ImagingError> {
    let format = sniff(bytes).ok_or(ImagingError::Unsupported)?;
    // Decoders are third-party code fed hostile input: a panic in one is a
    // corrupt image, not a dead worker.
    let decoded = catch_unwind(AssertUnwindSafe(|| decode::decode(bytes, format, limits)))
        .map_err(|_| ImagingError::Corrupt)??;
    let oriented = fit::orient(decoded.image, decoded.orientation);
    let fitted = fit::fit(oriented, limits.avatar_size)?;
    encode::encode(fitted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 40_000_000,
        avatar_size: 300,
        max_decode_bytes: 256 << 20,
    };

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bytes in [
            &b"\xFF\xD8\xFF"[..],
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            b"GIF89a\xff\xff\xff\xff",
            b"RIFF\0\0\0\0WEBPVP8 \0\0",
            b"\xFF\xD8\xFF\xDA\xFF\xD9",
        ] {
            assert!(process(bytes, &LIMITS).is_err());
        }
        assert_eq!(
            process(b"hello", &LIMITS).err(),
            Some(ImagingError::Unsupported)
        );
    }
}

/// Bounded fuzzing: arbitrary bytes behind every accepted signature, and
/// valid pictures with bytes flipped and tails cut. The pipeline may only
/// answer with an error, never panic or run away. PROPTEST_CASES sets the
/// number of cases (CI uses the default).
#[cfg(test)]
mod fuzz {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::DynamicImage;
    use proptest::prelude::*;
    use std::io::Cursor;

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 4_000_000,
        avatar_size: 64,
        max_decode_bytes: 64 << 20,
    };

    fn seeds() -> Vec<Vec<u8>> {
        let rgba = RgbaImage::from_fn(40, 30, |x, y| {
            image::Rgba([x as u8 * 6, y as u8 * 8, 90, if x > 20 { 255 } else { 40 }])
        });
        let rgb = DynamicImage::ImageRgba8(rgba.clone()).into_rgb8();
        let mut seeds = Vec::new();
        for format in [
            image::ImageFormat::Png,
            image::ImageFormat::Gif,
            image::ImageFormat::WebP,
        ] {
            let mut bytes = Cursor::new(Vec::new());
            DynamicImage::ImageRgba8(rgba.clone())
                .write_to(&mut bytes, format)
                .unwrap();
            seeds.push(bytes.into_inner());
        }
        let mut jpeg = Vec::new();
        JpegEncoder::new_with_quality(&mut jpeg, 80)
            .encode_image(&rgb)
            .unwrap();
        seeds.push(jpeg);
        seeds
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_behind_a_signature(prefix in 0usize..4, tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let signatures: [&[u8]; 4] = [b"\xFF\xD8\xFF", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"RIFF\0\0\0\0WEBPVP8L"];
            let mut bytes = signatures[prefix].to_vec();
            bytes.extend(tail);
            let _ = process(&bytes, &LIMITS);
        }

        #[test]
        fn mutated_valid_pictures(
            seed in 0usize..4,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..12),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = seeds()[seed].clone();
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] = value;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len()).max(1));
            }
            if let Ok(picture) = process(&bytes, &LIMITS) {
                prop_assert!(picture.width <= 64 && picture.height <= 64);
                prop_assert!(!picture.bytes.is_empty());
            }
        }
    }
}
