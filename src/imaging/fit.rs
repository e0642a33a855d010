//! Geometry: the EXIF orientation applied, then the crop and the resizes
//! (Lanczos3, by fast_image_resize) to each rendition's size, aspect kept,
//! never enlarged. Pure: no I/O.

use fast_image_resize::images::{Image as ResizeImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::metadata::Orientation;
use image::{DynamicImage, RgbImage, RgbaImage};

use super::renditions::Crop;
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

/// The renditions of `pixels` (oriented, not yet cropped), at the sizes of
/// `targets` (smallest first): the largest is resized from the crop of
/// `pixels`, each smaller one from the next larger (a cascade of small
/// steps keeps Lanczos's quality and costs less than each from the source).
pub(super) fn renditions(
    pixels: Pixels,
    crop: Crop,
    targets: &[(u32, u32)],
) -> Result<Vec<Pixels>, ImagingError> {
    let Some(&largest) = targets.last() else {
        return Ok(Vec::new());
    };
    let (width, height) = pixels.dimensions();
    let first = if crop == Crop::WHOLE && largest == (width, height) {
        pixels
    } else {
        resize(&pixels, largest, Some(crop.in_pixels(width, height)))?
    };
    let mut made = vec![first];
    for &target in targets.iter().rev().skip(1) {
        let next = resize(made.last().unwrap_or_else(|| unreachable!()), target, None)?;
        made.push(next);
    }
    made.reverse();
    Ok(made)
}

/// `source` (or the `crop_box` of it) resized to `target`.
fn resize(
    source: &Pixels,
    (target_w, target_h): (u32, u32),
    crop_box: Option<(f64, f64, f64, f64)>,
) -> Result<Pixels, ImagingError> {
    let (width, height) = source.dimensions();
    let (buffer, pixel_type) = match source {
        Pixels::Rgb(image) => (image.as_raw().as_slice(), PixelType::U8x3),
        Pixels::Rgba(image) => (image.as_raw().as_slice(), PixelType::U8x4),
    };
    let source =
        ImageRef::new(width, height, buffer, pixel_type).map_err(|_| ImagingError::Corrupt)?;
    let mut target = ResizeImage::new(target_w, target_h, pixel_type);
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    if let Some((left, top, w, h)) = crop_box {
        options = options.crop(left, top, w, h);
    }
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
