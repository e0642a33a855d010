//! Test pictures, made here (never downloaded): solid and patterned
//! images in every accepted format, EXIF blocks with orientation, GPS and
//! camera tags, CMYK and 16-bit sources.

use std::io::Cursor;

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{Delay, DynamicImage, Frame, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

pub const RED: [u8; 3] = [220, 30, 30];
pub const BLUE: [u8; 3] = [30, 30, 220];

/// A `width`×`height` picture, red in its top-left quarter, blue elsewhere:
/// asymmetric, so every orientation can be told apart.
pub fn marked(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        if x < width / 2 && y < height / 2 {
            Rgb(RED)
        } else {
            Rgb(BLUE)
        }
    })
}

pub fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 92)
        .encode_image(image)
        .unwrap();
    bytes
}

pub fn png(image: &DynamicImage) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, ImageFormat::Png).unwrap();
    bytes.into_inner()
}

pub fn webp(image: &RgbaImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    WebPEncoder::new_lossless(&mut bytes)
        .encode(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgba8,
        )
        .unwrap();
    bytes
}

/// A two-frame animated GIF: red, then blue.
pub fn animated_gif(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        let frames = [RED, BLUE].map(|[r, g, b]| {
            Frame::from_parts(
                RgbaImage::from_pixel(width, height, Rgba([r, g, b, 255])),
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            )
        });
        encoder.encode_frames(frames).unwrap();
    }
    bytes
}

/// An alpha PNG: transparent left half, opaque red right half.
pub fn alpha_png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([RED[0], RED[1], RED[2], 255])
        }
    });
    png(&DynamicImage::ImageRgba8(image))
}

/// A 16-bit-per-channel RGB PNG of one colour.
pub fn png16(width: u32, height: u32, [r, g, b]: [u8; 3]) -> Vec<u8> {
    let wide = |c: u8| u16::from(c) * 257;
    let image = image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(
        width,
        height,
        Rgb([wide(r), wide(g), wide(b)]),
    );
    png(&DynamicImage::ImageRgb16(image))
}

/// A CMYK JPEG in Adobe's (inverted) convention, of one RGB colour.
pub fn cmyk_jpeg(width: u32, height: u32, [r, g, b]: [u8; 3]) -> Vec<u8> {
    let k = r.max(g).max(b);
    let ink = |c: u8| {
        if k == 0 {
            0
        } else {
            255 - (u32::from(c) * 255 / u32::from(k)) as u8
        }
    };
    // Inverted: stored values are 255 - ink.
    let pixel = [255 - ink(r), 255 - ink(g), 255 - ink(b), k];
    let data: Vec<u8> = std::iter::repeat_n(pixel, (width * height) as usize)
        .flatten()
        .collect();
    let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    compress.set_size(width as usize, height as usize);
    compress.set_quality(95.0);
    let mut started = compress.start_compress(Vec::new()).unwrap();
    started.write_scanlines(&data).unwrap();
    started.finish().unwrap()
}

/// An EXIF APP1 block: orientation, a camera make, a body serial number
/// and a GPS position.
pub fn exif_block(orientation: u16) -> Vec<u8> {
    // Little-endian TIFF: IFD0 with Orientation, Make and a GPS IFD pointer.
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    let entries: u16 = 3;
    let ifd0_size = 2 + 12 * entries as u32 + 4;
    let make_offset = 8 + ifd0_size;
    let make = b"SECRETCAM-MAKE\0";
    let gps_offset = make_offset + make.len() as u32;
    tiff.extend(entries.to_le_bytes());
    // Orientation (SHORT)
    tiff.extend(0x0112u16.to_le_bytes());
    tiff.extend(3u16.to_le_bytes());
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(orientation.to_le_bytes());
    tiff.extend([0, 0]);
    // Make (ASCII)
    tiff.extend(0x010Fu16.to_le_bytes());
    tiff.extend(2u16.to_le_bytes());
    tiff.extend((make.len() as u32).to_le_bytes());
    tiff.extend(make_offset.to_le_bytes());
    // GPS IFD pointer (LONG)
    tiff.extend(0x8825u16.to_le_bytes());
    tiff.extend(4u16.to_le_bytes());
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(gps_offset.to_le_bytes());
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(make);
    // GPS IFD: GPSLatitudeRef "N", and a serial-looking GPSProcessingMethod.
    let gps_entries: u16 = 2;
    let method = b"GPS-SECRET-SERIAL-123\0";
    let method_offset = gps_offset + 2 + 12 * gps_entries as u32 + 4;
    tiff.extend(gps_entries.to_le_bytes());
    tiff.extend(0x0001u16.to_le_bytes());
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(2u32.to_le_bytes());
    tiff.extend([b'N', 0, 0, 0]);
    tiff.extend(0x001Bu16.to_le_bytes());
    tiff.extend(7u16.to_le_bytes());
    tiff.extend((method.len() as u32).to_le_bytes());
    tiff.extend(method_offset.to_le_bytes());
    tiff.extend(0u32.to_le_bytes());
    tiff.extend(method);

    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(tiff);
    payload
}

/// `jpeg` with an EXIF block inserted right after its SOI marker.
pub fn with_exif(jpeg: &[u8], exif: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend([0xFF, 0xE1]);
    out.extend(((exif.len() + 2) as u16).to_be_bytes());
    out.extend(exif);
    out.extend(&jpeg[2..]);
    out
}

/// What a viewer should see, stored so that EXIF `orientation` restores it.
pub fn stored_for_orientation(shown: &RgbImage, orientation: u8) -> RgbImage {
    // The inverse of each EXIF transform: 6 and 8 swap, the rest undo themselves.
    let inverse = match orientation {
        6 => 8,
        8 => 6,
        other => other,
    };
    let mut image = DynamicImage::ImageRgb8(shown.clone());
    image.apply_orientation(image::metadata::Orientation::from_exif(inverse).unwrap());
    image.into_rgb8()
}

pub fn close_to(pixel: [u8; 3], expected: [u8; 3]) -> bool {
    pixel.iter().zip(expected).all(|(a, b)| a.abs_diff(b) <= 40)
}

/// A few hundred bytes of PNG that declare a `side`×`side` 16-bit RGBA
/// picture: its pixels would need side² × 8 bytes of decoder memory.
pub fn png_bomb(side: u32) -> Vec<u8> {
    let header = rgba16_header(side);
    // One stored deflate block of zeros: a real, if short, zlib stream.
    let zeros = [0u8; 64];
    let mut idat = vec![0x78, 0x01, 0x01];
    idat.extend_from_slice(&(zeros.len() as u16).to_le_bytes());
    idat.extend_from_slice(&(!(zeros.len() as u16)).to_le_bytes());
    idat.extend_from_slice(&zeros);
    idat.extend_from_slice(&adler32(&zeros).to_be_bytes());
    png_file(&header, &idat)
}

/// A JPEG whose markers announce `scans` progressive scans: what a scan
/// bomb looks like to a decoder that counts them.
pub fn jpeg_scan_bomb(scans: usize) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xC2, 0x00, 0x11, 0x08, 0x17, 0x70, 0x17, 0x70, 0x03,
    ];
    bytes.extend_from_slice(&[1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    for _ in 0..scans {
        bytes.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00]);
    }
    bytes.extend_from_slice(&[0xFF, 0xD9]);
    bytes
}

/// IHDR of a `side`×`side` picture, 16 bits per channel, colour type 6
/// (RGBA), deflate, no filter, no interlace.
fn rgba16_header(side: u32) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&side.to_be_bytes());
    header.extend_from_slice(&[16, 6, 0, 0, 0]);
    header
}

/// A PNG file of one IHDR, one IDAT and the IEND chunk.
fn png_file(header: &[u8], idat: &[u8]) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", header), (b"IDAT", idat), (b"IEND", &[][..])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A real, valid PNG of `side`×`side` 16-bit RGBA pixels, all zero, a few
/// hundred kilobytes long (a hand-made deflate stream of long runs): it
/// passes every limit checked from the header, and takes a debug build
/// seconds to decode.
pub fn slow_png(side: u32) -> Vec<u8> {
    let row = 1 + side as usize * 8;
    let total = row * side as usize;
    let mut bits = BitWriter::default();
    bits.write(1, 1); // the final block
    bits.write(1, 2); // fixed Huffman codes
    bits.write_code(0x30, 8); // the literal 0
    let mut left = total - 1;
    while left >= 258 {
        bits.write_code(0xC5, 8); // length 258 (code 285)
        bits.write_code(0, 5); // distance 1
        left -= 258;
    }
    for _ in 0..left {
        bits.write_code(0x30, 8);
    }
    bits.write_code(0, 7); // end of block
    let mut idat = vec![0x78, 0x01];
    idat.extend_from_slice(&bits.finish());
    let b = (total % 65521) as u32;
    idat.extend_from_slice(&((b << 16) | 1).to_be_bytes());

    let header = rgba16_header(side);
    png_file(&header, &idat)
}

/// Deflate's bit order: values least significant bit first, Huffman codes
/// most significant bit first.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    current: u32,
    used: u32,
}

impl BitWriter {
    fn write(&mut self, value: u32, count: u32) {
        for i in 0..count {
            self.current |= ((value >> i) & 1) << self.used;
            self.used += 1;
            if self.used == 8 {
                self.bytes.push(self.current as u8);
                self.current = 0;
                self.used = 0;
            }
        }
    }

    fn write_code(&mut self, code: u32, count: u32) {
        for i in (0..count).rev() {
            self.write((code >> i) & 1, 1);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.bytes.push(self.current as u8);
        }
        self.bytes
    }
}

/// A GIF whose first frame (40×40) is larger than its canvas (10×10).
pub fn gif_frame_outside_canvas() -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let palette = [200, 30, 30, 30, 30, 200];
        let mut encoder = gif::Encoder::new(&mut bytes, 10, 10, &palette).unwrap();
        let frame = gif::Frame {
            width: 40,
            height: 40,
            buffer: std::borrow::Cow::Owned(vec![0; 1600]),
            ..gif::Frame::default()
        };
        encoder.write_frame(&frame).unwrap();
    }
    bytes
}
