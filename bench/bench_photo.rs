//! Writes the benchmark's test photo: a deterministic 4000×3000 JPEG of
//! about 3.3 MB (smooth shapes plus sensor-like noise, as a phone photo),
//! with an EXIF orientation tag so the pipeline's orientation step runs.
//! With KIND `flat` it is a picture of flat areas with sharp edges (shapes
//! on a plain background, light noise), as a screenshot or a logo is.
//! Usage: cargo run --release --features bench-tools --bin bench_photo -- OUT.jpg [WIDTH HEIGHT NOISE KIND]

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};

fn main() {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .expect("usage: bench_photo OUT.jpg [WIDTH HEIGHT NOISE]");
    let width: u32 = args.next().map_or(4000, |v| v.parse().unwrap());
    let height: u32 = args.next().map_or(3000, |v| v.parse().unwrap());
    let noise: u32 = args.next().map_or(18, |v| v.parse().unwrap());
    let flat = args.next().is_some_and(|kind| kind == "flat");
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let image = RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let base = if flat {
            flat_shapes(fx, fy)
        } else {
            [
                120.0 + 90.0 * (fx * 7.0 + fy * 3.0).sin(),
                110.0 + 80.0 * (fy * 9.0 - fx * 2.0).cos(),
                100.0 + 70.0 * ((fx - 0.5).hypot(fy - 0.5) * 25.0).sin(),
            ]
        };
        let r = next();
        let jitter =
            |shift: u32| ((r >> shift) & 0xFF) as f32 / 255.0 * noise as f32 - noise as f32 / 2.0;
        Rgb([
            (base[0] + jitter(0)).clamp(0.0, 255.0) as u8,
            (base[1] + jitter(8)).clamp(0.0, 255.0) as u8,
            (base[2] + jitter(16)).clamp(0.0, 255.0) as u8,
        ])
    });
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&image)
        .unwrap();
    // EXIF APP1 with Orientation = 6 right after SOI.
    let mut exif =
        b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0\0\0\0\0".to_vec();
    exif.truncate(6 + 8 + 2 + 12 + 4);
    let mut out_bytes = jpeg[..2].to_vec();
    out_bytes.extend([0xFF, 0xE1]);
    out_bytes.extend(((exif.len() + 2) as u16).to_be_bytes());
    out_bytes.extend(&exif);
    out_bytes.extend(&jpeg[2..]);
    std::fs::write(&out, &out_bytes).unwrap();
    eprintln!("{out}: {width}x{height}, {} bytes", out_bytes.len());
}

/// Plain shapes with hard edges on a plain background.
fn flat_shapes(fx: f32, fy: f32) -> [f32; 3] {
    if (fx - 0.3).hypot(fy - 0.4) < 0.2 {
        [200.0, 40.0, 40.0]
    } else if (0.55..0.9).contains(&fx) && (0.15..0.45).contains(&fy) {
        [30.0, 90.0, 200.0]
    } else if fy > 0.7 && (fx * 12.0) as u32 % 2 == 0 {
        [250.0, 210.0, 30.0]
    } else if (fx - fy).abs() < 0.01 {
        [10.0, 10.0, 10.0]
    } else {
        [235.0, 235.0, 228.0]
    }
}
