//! The picture pipeline, pure: bytes and limits in, a stored picture out.
//! Recognise the format by its bytes (JPEG, PNG, WebP, GIF), refuse an
//! image whose declared size is over the pixel limit before decoding a
//! pixel, decode (JPEG in the DCT domain at 1/2–1/8 scale when the result
//! is to be small), apply the EXIF orientation, fit within the avatar box
//! without enlarging, and encode anew: JPEG for opaque pictures, PNG for
//! real transparency. Re-encoding drops every metadata block.
//! No I/O, no HTTP, no database; it never panics on any input.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use fast_image_resize::images::Image as ResizeImage;
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageReader, RgbImage, RgbaImage,
};

/// JPEG quality of stored pictures.
pub const JPEG_QUALITY: u8 = 85;
/// What a 415 names.
pub const ACCEPTED_TYPES: &str = "image/jpeg, image/png, image/webp, image/gif";

#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    /// Largest width × height accepted, checked from the header.
    pub max_pixels: u64,
    /// Stored pictures fit within this square.
    pub avatar_size: u32,
}

impl ImageLimits {
    /// The most a decoder may allocate: an RGBA picture of 16 bits per
    /// channel at the pixel limit.
    fn max_alloc(&self) -> u64 {
        self.max_pixels.saturating_mul(8)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Jpeg,
    Png,
    WebP,
    Gif,
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
}

/// Recognises an accepted format from the first bytes only.
pub fn sniff(bytes: &[u8]) -> Option<SourceFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(SourceFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(SourceFormat::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(SourceFormat::Gif)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(SourceFormat::WebP)
    } else {
        None
    }
}

/// The whole pipeline: any bytes in, a stored picture or a reason out.
pub fn process(bytes: &[u8], limits: &ImageLimits) -> Result<Picture, ImagingError> {
    let format = sniff(bytes).ok_or(ImagingError::Unsupported)?;
    // Decoders are third-party code fed hostile input: a panic in one is a
    // corrupt image, not a dead worker.
    let decoded = catch_unwind(AssertUnwindSafe(|| match format {
        SourceFormat::Jpeg => decode_jpeg(bytes, limits),
        other => decode_with_image_crate(bytes, other, limits),
    }))
    .map_err(|_| ImagingError::Corrupt)??;
    let oriented = decoded.image.apply(decoded.orientation);
    let fitted = fit(oriented, limits.avatar_size)?;
    encode(fitted)
}

struct Decoded {
    image: Pixels,
    orientation: Orientation,
}

/// Decoded pixels, 8 bits per channel.
enum Pixels {
    Rgb(RgbImage),
    Rgba(RgbaImage),
}

impl Pixels {
    fn apply(self, orientation: Orientation) -> Pixels {
        let mut image = match self {
            Pixels::Rgb(rgb) => DynamicImage::ImageRgb8(rgb),
            Pixels::Rgba(rgba) => DynamicImage::ImageRgba8(rgba),
        };
        image.apply_orientation(orientation);
        match image {
            DynamicImage::ImageRgba8(rgba) => Pixels::Rgba(rgba),
            other => Pixels::Rgb(other.into_rgb8()),
        }
    }

    fn dimensions(&self) -> (u32, u32) {
        match self {
            Pixels::Rgb(image) => image.dimensions(),
            Pixels::Rgba(image) => image.dimensions(),
        }
    }
}

fn check_pixels(width: u64, height: u64, limits: &ImageLimits) -> Result<(), ImagingError> {
    if width == 0 || height == 0 {
        return Err(ImagingError::Corrupt);
    }
    if width.saturating_mul(height) > limits.max_pixels {
        return Err(ImagingError::TooManyPixels {
            width,
            height,
            max: limits.max_pixels,
        });
    }
    Ok(())
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

/// The smallest libjpeg scale (n/8) whose output is still at least the
/// stored size, so the final resize only ever shrinks.
fn jpeg_scale_numerator(width: u32, height: u32, avatar_size: u32) -> u8 {
    let (target_w, target_h) = fitted_size(width, height, avatar_size);
    (1..=8u8)
        .find(|&n| {
            let scaled = |side: u32| (u64::from(side) * u64::from(n)).div_ceil(8);
            scaled(width) >= u64::from(target_w) && scaled(height) >= u64::from(target_h)
        })
        .unwrap_or(8)
}

fn decode_jpeg(bytes: &[u8], limits: &ImageLimits) -> Result<Decoded, ImagingError> {
    use mozjpeg::{ColorSpace, Decompress, Marker};

    if !jpeg_is_complete(bytes) {
        return Err(ImagingError::Corrupt);
    }
    let corrupt = |_| ImagingError::Corrupt;
    let mut decompress = Decompress::with_markers(&[Marker::APP(1), Marker::APP(14)])
        .from_mem(bytes)
        .map_err(corrupt)?;
    let (width, height) = decompress.size();
    check_pixels(width as u64, height as u64, limits)?;
    let (width, height) = (width as u32, height as u32);

    let mut orientation = Orientation::NoTransforms;
    let mut adobe = false;
    for marker in decompress.markers() {
        if marker.marker == Marker::APP(1) && marker.data.starts_with(b"Exif\0\0") {
            if let Some(found) = Orientation::from_exif_chunk(&marker.data[6..]) {
                orientation = found;
            }
        } else if marker.marker == Marker::APP(14) && marker.data.starts_with(b"Adobe") {
            adobe = true;
        }
    }

    decompress.scale(jpeg_scale_numerator(width, height, limits.avatar_size));
    let is_cmyk = matches!(
        decompress.color_space(),
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
    );
    let image = if is_cmyk {
        let mut started = decompress
            .to_colorspace(ColorSpace::JCS_CMYK)
            .map_err(corrupt)?;
        let (w, h) = (started.width() as u32, started.height() as u32);
        let cmyk: Vec<[u8; 4]> = started.read_scanlines().map_err(corrupt)?;
        started.finish().map_err(corrupt)?;
        let rgb: Vec<u8> = cmyk.iter().flat_map(|&px| cmyk_to_rgb(px, adobe)).collect();
        RgbImage::from_raw(w, h, rgb).ok_or(ImagingError::Corrupt)?
    } else {
        let mut started = decompress.rgb().map_err(corrupt)?;
        let (w, h) = (started.width() as u32, started.height() as u32);
        let rgb: Vec<u8> = started.read_scanlines().map_err(corrupt)?;
        started.finish().map_err(corrupt)?;
        RgbImage::from_raw(w, h, rgb).ok_or(ImagingError::Corrupt)?
    };
    Ok(Decoded {
        image: Pixels::Rgb(image),
        orientation,
    })
}

/// libjpeg fills a truncated scan with grey and only warns; a complete
/// file has its end-of-image marker after its last start-of-scan. (Entropy
/// data cannot contain FF D9; an EXIF thumbnail's markers come earlier.)
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last = |marker: u8| {
        bytes
            .windows(2)
            .rposition(|w| w[0] == 0xFF && w[1] == marker)
    };
    matches!((last(0xDA), last(0xD9)), (Some(sos), Some(eoi)) if eoi > sos)
}

/// Adobe (Photoshop) CMYK JPEGs store inverted ink values.
fn cmyk_to_rgb([c, m, y, k]: [u8; 4], inverted: bool) -> [u8; 3] {
    let (c, m, y, k) = if inverted {
        (c as u32, m as u32, y as u32, k as u32)
    } else {
        (
            255 - c as u32,
            255 - m as u32,
            255 - y as u32,
            255 - k as u32,
        )
    };
    [
        (c * k / 255) as u8,
        (m * k / 255) as u8,
        (y * k / 255) as u8,
    ]
}

fn decode_with_image_crate(
    bytes: &[u8],
    format: SourceFormat,
    limits: &ImageLimits,
) -> Result<Decoded, ImagingError> {
    let image_format = match format {
        SourceFormat::Png => image::ImageFormat::Png,
        SourceFormat::WebP => image::ImageFormat::WebP,
        SourceFormat::Gif => image::ImageFormat::Gif,
        SourceFormat::Jpeg => image::ImageFormat::Jpeg,
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
    reader.no_limits();
    let mut decoder = reader.into_decoder().map_err(map_image_error)?;
    let (width, height) = decoder.dimensions();
    check_pixels(u64::from(width), u64::from(height), limits)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);

    // `into_decoder` does not apply max_alloc by itself: reserve what the
    // decoder says it needs, then hand it the rest.
    let mut decoder_limits = image::Limits::no_limits();
    decoder_limits.max_alloc = Some(limits.max_alloc());
    decoder_limits
        .reserve(decoder.total_bytes())
        .map_err(map_image_error)?;
    decoder
        .set_limits(decoder_limits)
        .map_err(map_image_error)?;

    let image = DynamicImage::from_decoder(decoder).map_err(map_image_error)?;
    let pixels = if image.color().has_alpha() {
        let rgba = image.into_rgba8();
        if rgba.pixels().all(|p| p.0[3] == u8::MAX) {
            Pixels::Rgb(DynamicImage::ImageRgba8(rgba).into_rgb8())
        } else {
            Pixels::Rgba(rgba)
        }
    } else {
        Pixels::Rgb(image.into_rgb8())
    };
    Ok(Decoded {
        image: pixels,
        orientation,
    })
}

fn map_image_error(error: image::ImageError) -> ImagingError {
    match error {
        image::ImageError::Limits(_) => ImagingError::TooManyPixels {
            width: 0,
            height: 0,
            max: 0,
        },
        _ => ImagingError::Corrupt,
    }
}

fn fit(pixels: Pixels, avatar_size: u32) -> Result<Pixels, ImagingError> {
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

fn encode(pixels: Pixels) -> Result<Picture, ImagingError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 40_000_000,
        avatar_size: 300,
    };

    #[test]
    fn fitted_size_keeps_aspect_and_never_enlarges() {
        assert_eq!(fitted_size(4000, 3000, 300), (300, 225));
        assert_eq!(fitted_size(3000, 4000, 300), (225, 300));
        assert_eq!(fitted_size(120, 80, 300), (120, 80));
        assert_eq!(fitted_size(10000, 1, 300), (300, 1));
        assert_eq!(fitted_size(300, 300, 300), (300, 300));
    }

    #[test]
    fn jpeg_scale_is_the_smallest_that_still_covers_the_target() {
        assert_eq!(jpeg_scale_numerator(4000, 3000, 300), 1);
        assert_eq!(jpeg_scale_numerator(1000, 800, 300), 3);
        assert_eq!(jpeg_scale_numerator(200, 100, 300), 8);
    }

    #[test]
    fn sniffing_uses_bytes_only() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(SourceFormat::Jpeg));
        assert_eq!(sniff(b"GIF89a..."), Some(SourceFormat::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(SourceFormat::WebP));
        assert_eq!(sniff(b"<svg xmlns="), None);
        assert_eq!(sniff(b""), None);
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
            assert!(process(bytes, &LIMITS).is_err());
        }
        assert_eq!(
            process(b"hello", &LIMITS).err(),
            Some(ImagingError::Unsupported)
        );
    }

    #[test]
    fn cmyk_conversion_handles_both_conventions() {
        assert_eq!(cmyk_to_rgb([255, 0, 0, 255], true), [255, 0, 0]);
        assert_eq!(cmyk_to_rgb([0, 255, 255, 0], false), [255, 0, 0]);
    }
}

/// Bounded fuzzing: arbitrary bytes behind every accepted signature, and
/// valid pictures with bytes flipped and tails cut. The pipeline may only
/// answer with an error, never panic or run away. PROPTEST_CASES sets the
/// number of cases (CI uses the default).
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: ImageLimits = ImageLimits {
        max_pixels: 4_000_000,
        avatar_size: 64,
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
