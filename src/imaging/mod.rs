//! The picture pipeline, pure: bytes and limits in, every rendition of a
//! picture out. `sniff` recognises the format by its bytes (JPEG, PNG,
//! WebP, GIF; HEIC, HEIF and AVIF only to name them in a refusal);
//! `decode` refuses an image whose declared size is over the limits before
//! decoding a pixel, and decodes once (JPEG in the DCT domain at the
//! smallest scale that covers the largest rendition); `renditions` says
//! which sizes a picture gets and checks the crop; `fit` crops and resizes
//! the largest rendition, turns it upright and resizes each smaller one
//! from the next larger; `stream` decodes a JPEG and makes its largest
//! rendition on two threads when the caller's budget holds two (two
//! libjpeg decoders through `libjpeg`, or one decoder feeding a banded
//! resize);
//! `encode` writes the
//! primary format (JPEG, or PNG for real transparency) and lossy WebP,
//! dropping every metadata block; `thumbhash` makes the placeholder. No
//! I/O, no HTTP, no database, no waiting for permits (the caller schedules
//! it); it never panics on any input.

mod decode;
mod encode;
mod fit;
mod libjpeg;
mod renditions;
mod sniff;
mod stream;
mod thumbhash;

use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{RgbImage, RgbaImage};

pub use fit::fitted_size;
use renditions::Layout;
pub use renditions::{plan, Crop};
pub use sniff::{refused_format, sniff, SourceFormat};

/// What a 415 names.
pub const ACCEPTED_TYPES: &str = "image/jpeg, image/png, image/webp, image/gif";

#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    /// Largest width × height accepted, checked from the header.
    pub max_pixels: u64,
    /// The most decoding may allocate (the decoder's own buffers and the
    /// conversion to 8 bits), checked from the header before decoding.
    pub max_decode_bytes: u64,
}

/// What to make of a picture.
#[derive(Clone, Debug)]
pub struct PictureSpec {
    /// The renditions' square boxes (AVATAR_SIZES).
    pub sizes: Vec<u32>,
    /// The part of the oriented picture to keep.
    pub crop: Crop,
    pub jpeg_quality: u8,
    pub webp_quality: u8,
    /// How many threads the encodes may use (the caller's CPU budget): with
    /// two, WebP is encoded beside the primary format.
    pub threads: usize,
}

impl Default for PictureSpec {
    fn default() -> Self {
        Self {
            sizes: vec![64, 128, 300, 600],
            crop: Crop::WHOLE,
            jpeg_quality: 85,
            webp_quality: 80,
            threads: 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredFormat {
    Jpeg,
    Png,
    WebP,
}

impl StoredFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::WebP => "webp",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
        }
    }

    /// The name clients see (`format` of a variant, a `srcset` key).
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::WebP => "webp",
        }
    }

    /// The format a stored name's extension says.
    pub fn of_extension(extension: &str) -> Option<Self> {
        match extension {
            "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::WebP),
            _ => None,
        }
    }
}

/// One encoded rendition.
pub struct Rendition {
    pub width: u32,
    pub height: u32,
    pub format: StoredFormat,
    pub bytes: Vec<u8>,
}

/// Every rendition of a picture, ready to store.
pub struct Picture {
    /// JPEG, or PNG for a picture with transparency.
    pub primary: StoredFormat,
    /// Each rendition's size, smallest first.
    pub sizes: Vec<(u32, u32)>,
    /// Each size in the primary format, then in WebP.
    pub renditions: Vec<Rendition>,
    /// The placeholder, base64.
    pub thumbhash: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImagingError {
    #[error("unsupported image type; accepted: {ACCEPTED_TYPES}")]
    Unsupported,
    /// Recognised, but not accepted: its name and media type.
    #[error("{0} images ({1}) are not accepted; accepted: {ACCEPTED_TYPES}")]
    Refused(&'static str, &'static str),
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

/// The whole pipeline: any bytes in, every rendition or a reason out.
pub fn process(
    bytes: &[u8],
    limits: &ImageLimits,
    spec: &PictureSpec,
) -> Result<Picture, ImagingError> {
    let Some(format) = sniff(bytes) else {
        return Err(match refused_format(bytes) {
            Some((name, media_type)) => ImagingError::Refused(name, media_type),
            None => ImagingError::Unsupported,
        });
    };
    // Decoders are third-party code fed hostile input: a panic in one is a
    // corrupt image, not a dead worker.
    let (layout, largest) = catch_unwind(AssertUnwindSafe(|| {
        largest_rendition(bytes, format, limits, spec)
    }))
    .map_err(|_| ImagingError::Corrupt)??;
    // Cropped and resized as stored, then turned upright: turning the
    // rendition costs less than turning the decode.
    let largest = fit::orient(largest, layout.orientation);
    let smaller_sizes = &layout.sizes[..layout.sizes.len().saturating_sub(1)];
    let primary_of = |pixels: &Pixels| -> Result<Rendition, ImagingError> {
        let (width, height) = pixels.dimensions();
        let (format, bytes) = encode::primary(pixels, spec.jpeg_quality)?;
        Ok(Rendition {
            width,
            height,
            format,
            bytes,
        })
    };
    let webp_of = |pixels: &Pixels| -> Result<Rendition, ImagingError> {
        let (width, height) = pixels.dimensions();
        Ok(Rendition {
            width,
            height,
            format: StoredFormat::WebP,
            bytes: encode::webp(pixels, spec.webp_quality)?,
        })
    };
    // Everything but the largest WebP, smallest first.
    let the_rest = || -> Result<(Vec<Rendition>, Vec<Rendition>, String), ImagingError> {
        let smaller = fit::smaller(&largest, smaller_sizes)?;
        let mut primaries = smaller
            .iter()
            .map(primary_of)
            .collect::<Result<Vec<_>, _>>()?;
        primaries.push(primary_of(&largest)?);
        let webps = smaller.iter().map(webp_of).collect::<Result<Vec<_>, _>>()?;
        let thumbhash = thumbhash::thumbhash(smaller.first().unwrap_or(&largest));
        Ok((primaries, webps, thumbhash))
    };
    let ((mut renditions, mut webps, thumbhash), largest_webp) = if spec.threads > 1 {
        // The largest WebP is most of the work (its pixels outnumber all
        // the others'): it starts on the second thread at once, and the
        // smaller renditions are made and encoded here meanwhile.
        std::thread::scope(|scope| {
            let largest_webp =
                std::thread::Builder::new().spawn_scoped(scope, || webp_of(&largest));
            let rest = the_rest();
            let largest_webp = match largest_webp {
                Ok(thread) => thread.join().unwrap_or(Err(ImagingError::Corrupt)),
                // No thread to be had: encoded here, after the others.
                Err(_) => webp_of(&largest),
            };
            Ok::<_, ImagingError>((rest?, largest_webp?))
        })?
    } else {
        (the_rest()?, webp_of(&largest)?)
    };
    webps.push(largest_webp);
    let primary = renditions
        .first()
        .map_or(StoredFormat::Jpeg, |rendition| rendition.format);
    renditions.extend(webps);
    Ok(Picture {
        primary,
        sizes: layout.sizes,
        renditions,
        thumbhash,
    })
}

/// The picture decoded, its layout, and its largest rendition as stored
/// (cropped and resized, not yet turned upright). A JPEG with a second
/// thread to hand is decoded and resized on both (`stream`).
fn largest_rendition(
    bytes: &[u8],
    format: SourceFormat,
    limits: &ImageLimits,
    spec: &PictureSpec,
) -> Result<(Layout, Pixels), ImagingError> {
    if format == SourceFormat::Jpeg && spec.threads > 1 {
        if let Some(streamed) = stream::jpeg_largest(bytes, limits, spec) {
            let (layout, largest) = streamed?;
            return Ok((layout, Pixels::Rgb(largest)));
        }
    }
    let decoded = decode::decode(bytes, format, limits, spec)?;
    let layout = Layout::of(
        decoded.source_size,
        decoded.image.dimensions(),
        decoded.orientation,
        spec.crop,
        &spec.sizes,
    );
    let largest = fit::largest(decoded.image, layout.crop_box, layout.largest_stored)?;
    Ok((layout, largest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 40_000_000,
        max_decode_bytes: 256 << 20,
    };

    fn photo_jpeg(width: u32, height: u32) -> Vec<u8> {
        let rgb = RgbImage::from_fn(width, height, |x, y| {
            let v = (x * 7 + y * 13) ^ (x * y);
            image::Rgb([(v % 251) as u8, ((x + 3 * y) % 256) as u8, 90])
        });
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&rgb)
            .unwrap();
        jpeg
    }

    #[test]
    fn a_jpeg_made_on_two_threads_gives_the_same_renditions_as_on_one() {
        // Decoded at 3/8, and at 8/8 with its chroma upsampled (the rows
        // after the skip need the rows before them); a crop; a progressive
        // file, decoded on one thread and resized on the other.
        let cases = [
            (photo_jpeg(1600, 1200), Crop::WHOLE),
            (
                photo_jpeg(1600, 1200),
                Crop::parse("0.13,0.2,0.5,0.61").unwrap(),
            ),
            (photo_jpeg(650, 487), Crop::WHOLE),
            (photo_jpeg(650, 487), Crop::parse("0,0.5,1,0.5").unwrap()),
            (progressive_jpeg(900, 700), Crop::WHOLE),
        ];
        for (jpeg, crop) in cases {
            let one = |threads| {
                process(
                    &jpeg,
                    &LIMITS,
                    &PictureSpec {
                        threads,
                        crop,
                        ..PictureSpec::default()
                    },
                )
                .unwrap()
            };
            let (serial, streamed) = (one(1), one(2));
            assert_eq!(serial.sizes, streamed.sizes);
            assert_eq!(serial.thumbhash, streamed.thumbhash);
            assert_eq!(serial.renditions.len(), 8);
            for (a, b) in serial.renditions.iter().zip(&streamed.renditions) {
                assert_eq!((a.width, a.height, a.format), (b.width, b.height, b.format));
                assert!(
                    a.bytes == b.bytes,
                    "{}×{} {:?} differs",
                    a.width,
                    a.height,
                    a.format
                );
            }
        }
    }

    fn progressive_jpeg(width: u32, height: u32) -> Vec<u8> {
        let rgb = RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
        });
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        compress.set_size(width as usize, height as usize);
        compress.set_progressive_mode();
        let mut started = compress.start_compress(Vec::new()).unwrap();
        started.write_scanlines(rgb.as_raw()).unwrap();
        let jpeg = started.finish().unwrap();
        assert!(decode::jpeg_scans(&jpeg) > 1);
        jpeg
    }

    #[test]
    fn a_broken_jpeg_fails_alike_on_one_thread_or_two() {
        let jpeg = photo_jpeg(800, 600);
        // Cut inside the entropy-coded data, its end marker put back: libjpeg
        // reads grey past the cut; a flipped marker breaks the header.
        let mut cut = jpeg[..jpeg.len() / 2].to_vec();
        cut.extend_from_slice(&[0xFF, 0xD9]);
        let mut broken_header = jpeg.clone();
        broken_header[3] = 0x00;
        for bytes in [cut, broken_header, jpeg[..jpeg.len() - 2].to_vec()] {
            let one = |threads| {
                process(
                    &bytes,
                    &LIMITS,
                    &PictureSpec {
                        threads,
                        ..PictureSpec::default()
                    },
                )
                .map(|picture| picture.sizes)
            };
            assert_eq!(one(1), one(2));
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bytes in [
            &b"\xFF\xD8\xFF"[..],
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
            b"GIF89a\xff\xff\xff\xff",
            b"RIFF\0\0\0\0WEBPVP8 \0\0",
            b"\xFF\xD8\xFF\xDA\xFF\xD9",
        ] {
            assert!(process(bytes, &LIMITS, &PictureSpec::default()).is_err());
        }
        assert_eq!(
            process(b"hello", &LIMITS, &PictureSpec::default()).err(),
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
        max_decode_bytes: 64 << 20,
    };

    fn spec() -> PictureSpec {
        PictureSpec {
            sizes: vec![16, 64],
            ..PictureSpec::default()
        }
    }

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
            let _ = process(&bytes, &LIMITS, &spec());
        }

        #[test]
        fn mutated_valid_pictures(
            seed in 0usize..4,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..12),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
            two_threads in any::<bool>(),
        ) {
            let mut bytes = seeds()[seed].clone();
            for (index, value) in flips {
                let at = index.index(bytes.len());
                bytes[at] = value;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len()).max(1));
            }
            let spec = PictureSpec { threads: 1 + usize::from(two_threads), ..spec() };
            if let Ok(picture) = process(&bytes, &LIMITS, &spec) {
                for rendition in &picture.renditions {
                    prop_assert!(rendition.width <= 64 && rendition.height <= 64);
                    prop_assert!(!rendition.bytes.is_empty());
                }
            }
        }
    }
}
