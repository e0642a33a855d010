//! Encoding anew, which drops every metadata block: JPEG for opaque
//! pictures, PNG only where there is real transparency (the primary
//! format), and lossy WebP (libwebp) for every picture, alpha kept. Pure:
//! no I/O.

use std::panic::{catch_unwind, AssertUnwindSafe};

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use super::{ImagingError, Pixels, StoredFormat};

/// libwebp's effort (0 fastest – 6 smallest).
const WEBP_METHOD: i32 = 2;

/// The primary format's bytes: JPEG at `jpeg_quality`, or PNG with alpha.
pub(super) fn primary(
    pixels: &Pixels,
    jpeg_quality: u8,
) -> Result<(StoredFormat, Vec<u8>), ImagingError> {
    let (width, height) = pixels.dimensions();
    let mut bytes = Vec::new();
    let format = match pixels {
        Pixels::Rgb(image) => {
            bytes = jpeg(image.as_raw(), width, height, jpeg_quality)?;
            StoredFormat::Jpeg
        }
        Pixels::Rgba(image) => {
            PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Adaptive)
                .write_image(image.as_raw(), width, height, ExtendedColorType::Rgba8)
                .map_err(|_| ImagingError::Corrupt)?;
            StoredFormat::Png
        }
    };
    Ok((format, bytes))
}

/// Baseline JPEG through libjpeg-turbo (the mozjpeg crate with its
/// "fastest" profile: libjpeg's own tables and settings, no trellis, no
/// progressive scans), several times faster than the `image` crate's
/// encoder for the same size. libjpeg reports errors by unwinding.
fn jpeg(rgb: &[u8], width: u32, height: u32, quality: u8) -> Result<Vec<u8>, ImagingError> {
    catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        compress.set_fastest_defaults();
        compress.set_size(width as usize, height as usize);
        compress.set_quality(f32::from(quality));
        let mut started = compress.start_compress(Vec::new())?;
        started.write_scanlines(rgb)?;
        started.finish()
    }))
    .map_err(|_| ImagingError::Corrupt)?
    .map_err(|_| ImagingError::Corrupt)
}

/// Lossy WebP at `quality` (0–100), with alpha when the picture has it.
pub(super) fn webp(pixels: &Pixels, quality: u8) -> Result<Vec<u8>, ImagingError> {
    let (width, height) = pixels.dimensions();
    let encoder = match pixels {
        Pixels::Rgb(image) => webp::Encoder::from_rgb(image.as_raw(), width, height),
        Pixels::Rgba(image) => webp::Encoder::from_rgba(image.as_raw(), width, height),
    };
    let mut config = webp::WebPConfig::new().map_err(|()| ImagingError::Corrupt)?;
    config.lossless = 0;
    config.quality = f32::from(quality);
    config.alpha_compression = 1;
    // Method 2 of 0–6: about twice as fast as libwebp's default 4 on
    // avatars, for files a few per cent larger (still well under JPEG's).
    config.method = WEBP_METHOD;
    let encoded = encoder
        .encode_advanced(&config)
        .map_err(|_| ImagingError::Corrupt)?;
    Ok(encoded.to_vec())
}
