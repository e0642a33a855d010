//! The ThumbHash of a picture (evanw's placeholder format, the `thumbhash`
//! crate): a few bytes a client draws as a blurred preview before the
//! picture loads, written as standard padded base64. Made from a copy at
//! most 100 pixels on a side (the format's own limit). Pure: no I/O.

use base64::Engine;
use image::{imageops, DynamicImage};

use super::Pixels;

/// ThumbHash's largest input side.
const MAX_SIDE: u32 = 100;

pub(super) fn thumbhash(pixels: &Pixels) -> String {
    let (width, height) = pixels.dimensions();
    let image = match pixels {
        Pixels::Rgb(rgb) => DynamicImage::ImageRgb8(rgb.clone()),
        Pixels::Rgba(rgba) => DynamicImage::ImageRgba8(rgba.clone()),
    };
    let rgba = if width > MAX_SIDE || height > MAX_SIDE {
        let (w, h) = super::fit::fitted_size(width, height, MAX_SIDE);
        imageops::thumbnail(&image, w, h)
    } else {
        image.into_rgba8()
    };
    let hash = ::thumbhash::rgba_to_thumb_hash(
        rgba.width() as usize,
        rgba.height() as usize,
        rgba.as_raw(),
    );
    base64::engine::general_purpose::STANDARD.encode(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    #[test]
    fn the_hash_tells_the_aspect_ratio() {
        let wide = Pixels::Rgb(RgbImage::from_fn(300, 150, |x, _| {
            image::Rgb([(x % 256) as u8, 90, 200])
        }));
        let encoded = thumbhash(&wide);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&encoded)
            .unwrap();
        let ratio = ::thumbhash::thumb_hash_to_approximate_aspect_ratio(&bytes).unwrap();
        // ThumbHash keeps the ratio coarsely (its own doc: approximate).
        assert!((ratio - 2.0).abs() < 0.3, "{ratio}");
    }
}
