//! Geometry: the EXIF orientation applied, then a resize (Lanczos3, by
//! fast_image_resize) to fit the avatar box, aspect kept, never enlarged.
//! Pure: no I/O.

use fast_image_resize::images::Image as ResizeImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, RgbImage, RgbaImage};

use super::{ImagingError, Pixels};

/// `pixels` turned upright as the EXIF orientation says.
pub(super) fn orient(pixels: Pixels, orientation: Orientation) -> Pixels {
    let mut image = match pixels {
        Pixels::Rgb(rgb) => DynamicImage::ImageRgb8(rgb),
        Pixels::Rgba(rgba) => DynamicImage::ImageRgba8(rgba),
    };
    image.apply_orientation(orientation);
    match image {
        DynamicImage::ImageRgba8(rgba) => Pixels::Rgba(rgba),
        other => Pixels::Rgb(other.into_rgb8()),
    }
}

/// The size a `width`×`height` picture is stored at: within the box,
/// aspect kept, never enlarged.
pub fn fitted_size(width: u32, height: u32, avatar_size: u32) -> (u32, u32) {
    if width <= avatar_size && height <= avatar_size {
        return (width, height);
    }
    let scale = |side: u32, long: u32| {
        let scaled =
            (u64::from(side) * u64::from(avatar_size) + u64::from(long) / 2) / u64::from(long);
        scaled.clamp(1, u64::from(avatar_size)) as u32
    };
    if width >= height {
        (avatar_size, scale(height, width))
    } else {
        (scale(width, height), avatar_size)
    }
}

pub(super) fn fit(pixels: Pixels, avatar_size: u32) -> Result<Pixels, ImagingError> {
    let (width, height) = pixels.dimensions();
    let (target_w, target_h) = fitted_size(width, height, avatar_size);
    if (target_w, target_h) == (width, height) {
        return Ok(pixels);
    }
    let (buffer, pixel_type) = match pixels {
        Pixels::Rgb(image) => (image.into_raw(), PixelType::U8x3),
        Pixels::Rgba(image) => (image.into_raw(), PixelType::U8x4),
    };
    let source = ResizeImage::from_vec_u8(width, height, buffer, pixel_type)
        .map_err(|_| ImagingError::Corrupt)?;
    let mut target = ResizeImage::new(target_w, target_h, pixel_type);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&source, &mut target, &options)
        .map_err(|_| ImagingError::Corrupt)?;
    let buffer = target.into_vec();
    match pixel_type {
        PixelType::U8x4 => RgbaImage::from_raw(target_w, target_h, buffer).map(Pixels::Rgba),
        _ => RgbImage::from_raw(target_w, target_h, buffer).map(Pixels::Rgb),
    }
    .ok_or(ImagingError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_size_keeps_aspect_and_never_enlarges() {
        assert_eq!(fitted_size(4000, 3000, 300), (300, 225));
        assert_eq!(fitted_size(3000, 4000, 300), (225, 300));
        assert_eq!(fitted_size(120, 80, 300), (120, 80));
        assert_eq!(fitted_size(10000, 1, 300), (300, 1));
        assert_eq!(fitted_size(300, 300, 300), (300, 300));
    }
}
