//! Decoding, with every limit checked before a pixel is decoded: the
//! declared size against the pixel limit, and the decoder's own buffer
//! against the memory limit. JPEG goes through libjpeg-turbo (the mozjpeg
//! crate) at the smallest DCT scale that still covers the largest
//! rendition, after orientation and crop, its rows handed to a `RowSink`
//! as they come (all at once, or a strip at a time to another thread);
//! PNG, WebP and GIF (first frame) through the `image` crate. Out come 8-bit
//! RGB or RGBA pixels and the EXIF orientation. Pure: no I/O.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};

use super::renditions::jpeg_scale_numerator;
use super::sniff::SourceFormat;
use super::{ImageLimits, ImagingError, PictureSpec, Pixels};

pub(super) struct Decoded {
    pub image: Pixels,
    pub orientation: Orientation,
    /// The picture's own size as stored (before orientation), whatever
    /// scale it was decoded at.
    pub source_size: (u32, u32),
}

/// Decodes `bytes`, already recognised as `format`, into one picture.
pub(super) fn decode(
    bytes: &[u8],
    format: SourceFormat,
    limits: &ImageLimits,
    spec: &PictureSpec,
) -> Result<Decoded, ImagingError> {
    match format {
        SourceFormat::Jpeg => {
            let mut whole = Whole::default();
            let header = decode_jpeg(bytes, limits, spec, &mut whole)?;
            let (width, height) = header.decoded_size;
            let image =
                RgbImage::from_raw(width, height, whole.rows).ok_or(ImagingError::Corrupt)?;
            Ok(Decoded {
                image: Pixels::Rgb(image),
                orientation: header.orientation,
                source_size: header.source_size,
            })
        }
        other => decode_with_image_crate(bytes, other, limits),
    }
}

/// What a JPEG's header says, known before its first row is decoded.
#[derive(Clone, Copy, Debug)]
pub(super) struct JpegHeader {
    /// The size rows come at (the DCT scale applied).
    pub decoded_size: (u32, u32),
    /// The picture's own size as stored, before orientation.
    pub source_size: (u32, u32),
    pub orientation: Orientation,
}

/// Where a JPEG's rows go as they are decoded, top to bottom, 8-bit RGB.
pub(super) trait RowSink {
    /// How many rows to hand over at a time.
    fn rows_at_a_time(&self) -> u32;
    /// The header is read; rows follow.
    fn begin(&mut self, header: &JpegHeader) -> Result<(), ImagingError>;
    /// The next whole rows.
    fn rows(&mut self, rows: Vec<u8>) -> Result<(), ImagingError>;
}

/// Every row into one buffer, read in one go.
#[derive(Default)]
struct Whole {
    rows: Vec<u8>,
}

impl RowSink for Whole {
    fn rows_at_a_time(&self) -> u32 {
        u32::MAX
    }

    fn begin(&mut self, _: &JpegHeader) -> Result<(), ImagingError> {
        Ok(())
    }

    fn rows(&mut self, rows: Vec<u8>) -> Result<(), ImagingError> {
        if self.rows.is_empty() {
            self.rows = rows;
        } else {
            self.rows.extend_from_slice(&rows);
        }
        Ok(())
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

/// A JPEG whose header is read and checked against every limit; no pixel
/// decoded yet.
pub(super) struct CheckedJpeg<'a> {
    decompress: mozjpeg::Decompress<&'a [u8]>,
    /// The picture's own size as stored, before orientation.
    pub source_size: (u32, u32),
    pub orientation: Orientation,
    /// The DCT scale to decode at, n/8.
    pub numerator: u8,
    /// One scan, not progressive: decoded row by row, without the whole
    /// picture's coefficients in memory.
    pub single_scan: bool,
    pub is_cmyk: bool,
    adobe: bool,
}

/// Reads a JPEG's header and checks it: complete, not too many scans, not
/// too many pixels, not too much memory at the scale it will decode at.
pub(super) fn check_jpeg<'a>(
    bytes: &'a [u8],
    limits: &ImageLimits,
    spec: &PictureSpec,
) -> Result<CheckedJpeg<'a>, ImagingError> {
    use mozjpeg::{ColorSpace, Decompress, Marker};

    let markers = jpeg_markers(bytes);
    if !markers.complete {
        return Err(ImagingError::Corrupt);
    }
    if markers.scans > MAX_JPEG_SCANS {
        return Err(ImagingError::TooManyScans {
            scans: markers.scans,
            max: MAX_JPEG_SCANS,
        });
    }
    let single_scan = markers.scans == 1 && !markers.progressive;
    let mut decompress = Decompress::with_markers(&[Marker::APP(1), Marker::APP(14)])
        .from_mem(bytes)
        .map_err(|_| ImagingError::Corrupt)?;
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

    let numerator = jpeg_scale_numerator(width, height, orientation, spec.crop, &spec.sizes);
    check_memory(
        jpeg_memory(width, height, numerator, !single_scan, markers.components),
        limits,
    )?;
    decompress.scale(numerator);
    let is_cmyk = matches!(
        decompress.color_space(),
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
    );
    Ok(CheckedJpeg {
        decompress,
        source_size: (width, height),
        orientation,
        numerator,
        single_scan,
        is_cmyk,
        adobe,
    })
}

/// Decodes a JPEG into `sink`, `sink.rows_at_a_time()` rows at a time,
/// once every limit has been checked against its header.
pub(super) fn decode_jpeg(
    bytes: &[u8],
    limits: &ImageLimits,
    spec: &PictureSpec,
    sink: &mut dyn RowSink,
) -> Result<JpegHeader, ImagingError> {
    decode_checked(check_jpeg(bytes, limits, spec)?, sink)
}

/// Decodes a checked JPEG into `sink`.
pub(super) fn decode_checked(
    checked: CheckedJpeg<'_>,
    sink: &mut dyn RowSink,
) -> Result<JpegHeader, ImagingError> {
    use mozjpeg::ColorSpace;

    let corrupt = |_| ImagingError::Corrupt;
    let CheckedJpeg {
        decompress,
        source_size: (width, height),
        orientation,
        is_cmyk,
        adobe,
        ..
    } = checked;
    let mut started = if is_cmyk {
        decompress.to_colorspace(ColorSpace::JCS_CMYK)
    } else {
        decompress.rgb()
    }
    .map_err(corrupt)?;
    let (w, h) = (started.width() as u32, started.height() as u32);
    let header = JpegHeader {
        decoded_size: (w, h),
        source_size: (width, height),
        orientation,
    };
    sink.begin(&header)?;
    let channels = if is_cmyk { 4 } else { 3 };
    let at_a_time = sink.rows_at_a_time().max(1);
    let mut row = 0;
    while row < h {
        let count = at_a_time.min(h - row);
        let read: Vec<u8> = if count == h {
            started.read_scanlines().map_err(corrupt)?
        } else {
            let mut strip = vec![0u8; w as usize * count as usize * channels];
            started.read_scanlines_into(&mut strip).map_err(corrupt)?;
            strip
        };
        let rgb = if is_cmyk {
            read.chunks_exact(4)
                .flat_map(|px| cmyk_to_rgb([px[0], px[1], px[2], px[3]], adobe))
                .collect()
        } else {
            read
        };
        sink.rows(rgb)?;
        row += count;
    }
    started.finish().map_err(corrupt)?;
    Ok(header)
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

    // The decoder's own buffer, plus the 8-bit copy made of anything else.
    let eight_bit = matches!(
        decoder.color_type(),
        image::ColorType::Rgb8 | image::ColorType::Rgba8
    );
    let conversion = if eight_bit {
        0
    } else {
        u64::from(width) * u64::from(height) * 4
    };
    check_memory(decoder.total_bytes().saturating_add(conversion), limits)?;
    // `into_decoder` does not apply max_alloc by itself: reserve what the
    // decoder says it needs, then hand it the rest.
    let mut decoder_limits = image::Limits::no_limits();
    decoder_limits.max_alloc = Some(limits.max_decode_bytes);
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
        source_size: (width, height),
    })
}

/// Memory was checked against the header before decoding: a limit hit
/// while decoding (a GIF frame larger than its canvas, say) means the file
/// does not match its own header.
fn map_image_error(_: image::ImageError) -> ImagingError {
    ImagingError::Corrupt
}

/// More scans than this is no photo: a progressive JPEG has about ten,
/// and each scan is a pass over every block of the picture (thousands of
/// empty ones took a core for tens of seconds).
const MAX_JPEG_SCANS: usize = 100;

fn check_memory(needed: u64, limits: &ImageLimits) -> Result<(), ImagingError> {
    if needed > limits.max_decode_bytes {
        return Err(ImagingError::TooMuchMemory {
            needed,
            max: limits.max_decode_bytes,
        });
    }
    Ok(())
}

/// What a JPEG's markers say.
struct Markers {
    scans: usize,
    /// The most components a frame header declares.
    components: u8,
    /// Its end-of-image marker comes after its last start-of-scan.
    complete: bool,
    /// A progressive frame header (SOF2, 6, 10, 14) was seen.
    progressive: bool,
}

/// One pass over a JPEG's markers (memchr to each FF byte: a 12 MP file
/// is read in well under a millisecond): how many scans it has, how many
/// components its frame has, whether it is progressive, and whether it
/// is complete.
///
/// Entropy-coded data never holds an FF byte followed by a marker code, so
/// every FF DA is a start of scan (an EXIF thumbnail's count too, which
/// errs on the safe side), and the components come from the largest
/// start-of-frame header seen. libjpeg fills a truncated scan with grey
/// and only warns, so completeness is checked here: a complete file has
/// its end-of-image marker after its last start-of-scan (an EXIF
/// thumbnail's markers come earlier).
fn jpeg_markers(bytes: &[u8]) -> Markers {
    let mut scans = 0;
    let mut components = 0u8;
    let mut progressive = false;
    let (mut last_sos, mut last_eoi) = (None, None);
    for at in memchr::memchr_iter(0xFF, bytes) {
        let Some(&code) = bytes.get(at + 1) else {
            break;
        };
        match code {
            0xDA => {
                scans += 1;
                last_sos = Some(at);
            }
            0xD9 => last_eoi = Some(at),
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC):
            // length (2), precision (1), height (2), width (2), count (1).
            0xC0..=0xCF if !matches!(code, 0xC4 | 0xC8 | 0xCC) => {
                progressive |= matches!(code, 0xC2 | 0xC6 | 0xCA | 0xCE);
                if let Some(&count) = bytes.get(at + 9) {
                    components = components.max(count);
                }
            }
            _ => {}
        }
    }
    let complete = matches!((last_sos, last_eoi), (Some(sos), Some(eoi)) if eoi > sos);
    Markers {
        scans,
        components: components.max(1),
        complete,
        progressive,
    }
}

#[cfg(test)]
pub(super) fn jpeg_scans(bytes: &[u8]) -> usize {
    jpeg_markers(bytes).scans
}

/// What libjpeg allocates for a `width`×`height` JPEG decoded at
/// `numerator`/8: the output (4 bytes a pixel at most, CMYK), and, when
/// it keeps `whole_coefficients` (a progressive file, even of one scan, or
/// a baseline one with its components in separate scans), the whole
/// picture's DCT coefficients: 2 bytes each, every component at full
/// resolution at most.
fn jpeg_memory(
    width: u32,
    height: u32,
    numerator: u8,
    whole_coefficients: bool,
    components: u8,
) -> u64 {
    let scaled = |side: u32| (u64::from(side) * u64::from(numerator)).div_ceil(8);
    let output = scaled(width) * scaled(height) * 4;
    let coefficients = if whole_coefficients {
        u64::from(width).next_multiple_of(8)
            * u64::from(height).next_multiple_of(8)
            * u64::from(components)
            * 2
    } else {
        0
    };
    output + coefficients
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_and_progressive_mode_are_read_from_the_markers() {
        let mut bomb = vec![0xFF, 0xD8, 0xFF, 0xC2, 0, 0];
        for _ in 0..500 {
            bomb.extend_from_slice(&[0xFF, 0xDA, 0, 2]);
        }
        bomb.extend_from_slice(&[0xFF, 0xD9]);
        let markers = jpeg_markers(&bomb);
        assert_eq!((markers.scans, markers.progressive), (500, true));
        let limits = ImageLimits {
            max_pixels: 40_000_000,
            max_decode_bytes: 256 << 20,
        };
        // The scans are refused before libjpeg reads the header.
        assert!(matches!(
            decode_jpeg(
                &bomb,
                &limits,
                &PictureSpec::default(),
                &mut Whole::default()
            ),
            Err(ImagingError::TooManyScans { scans: 500, .. })
        ));
    }

    #[test]
    fn multi_scan_files_need_their_coefficients_in_memory() {
        assert_eq!(jpeg_memory(800, 600, 8, false, 3), 800 * 600 * 4);
        assert_eq!(
            jpeg_memory(6000, 6000, 1, true, 3),
            750 * 750 * 4 + 6000 * 6000 * 6
        );
        // Four components (CMYK) in separate scans of a baseline file.
        assert_eq!(
            jpeg_memory(8000, 5000, 1, true, 4),
            1000 * 625 * 4 + 8000 * 5000 * 8
        );
    }

    #[test]
    fn a_progressive_file_of_one_scan_counts_its_coefficients() {
        let rgb = RgbImage::from_fn(800, 600, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
            .encode_image(&rgb)
            .unwrap();
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        // Room for the output at full scale, not for the coefficients.
        let limits = ImageLimits {
            max_pixels: 40_000_000,
            max_decode_bytes: 800 * 600 * 4 + 1000,
        };
        let spec = PictureSpec {
            sizes: vec![800],
            ..PictureSpec::default()
        };
        assert!(check_jpeg(&jpeg, &limits, &spec).unwrap().single_scan);
        jpeg[sof + 1] = 0xC2;
        assert!(matches!(
            check_jpeg(&jpeg, &limits, &spec).err(),
            Some(ImagingError::TooMuchMemory { .. })
        ));
    }

    #[test]
    fn the_component_count_is_read_from_the_frame_header() {
        let cmyk = [
            0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x14, 0x08, 0x00, 0x10, 0x00, 0x10, 0x04, 1, 0x11, 0, 2,
            0x11, 0, 3, 0x11, 0, 4, 0x11, 0, 0xFF, 0xDA, 0xFF, 0xD9,
        ];
        let markers = jpeg_markers(&cmyk);
        assert_eq!(
            (
                markers.scans,
                markers.components,
                markers.complete,
                markers.progressive
            ),
            (1, 4, true, false)
        );
    }

    #[test]
    fn cmyk_conversion_handles_both_conventions() {
        assert_eq!(cmyk_to_rgb([255, 0, 0, 255], true), [255, 0, 0]);
        assert_eq!(cmyk_to_rgb([0, 255, 255, 0], false), [255, 0, 0]);
    }
}
