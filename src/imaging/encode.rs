//! Encoding anew, which drops every metadata block: JPEG for opaque
//! pictures, PNG only where there is real transparency. Pure: no I/O.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder};

use super::{ImagingError, Picture, Pixels, StoredFormat};

/// JPEG quality of stored pictures.
pub const JPEG_QUALITY: u8 = 85;

pub(super) fn encode(pixels: Pixels) -> Result<Picture, ImagingError> {
    let (width, height) = pixels.dimensions();
    let mut bytes = Vec::new();
    let format = match &pixels {
        Pixels::Rgb(image) => {
            JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
                .write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8)
                .map_err(|_| ImagingError::Corrupt)?;
            StoredFormat::Jpeg
        }
        Pixels::Rgba(image) => {
            PngEncoder::new(&mut bytes)
                .write_image(image.as_raw(), width, height, ExtendedColorType::Rgba8)
                .map_err(|_| ImagingError::Corrupt)?;
            StoredFormat::Png
        }
    };
    Ok(Picture {
        bytes,
        width,
        height,
        format,
    })
}
