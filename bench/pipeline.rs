//! Criterion benches of the CPU-heavy pieces, without HTTP: the picture
//! pipeline on a 12 MP JPEG, a 4000×3000 PNG, an alpha PNG and an animated
//! GIF, and one argon2id hash. Inputs are made here, deterministically.
//! Run: cargo bench --bench pipeline

use std::io::Cursor;

use criterion::{criterion_group, criterion_main, Criterion};
use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::{Delay, DynamicImage, Frame, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use portrait::auth::password::PasswordHasher;
use portrait::imaging::{process, ImageLimits, PictureSpec};

const LIMITS: ImageLimits = ImageLimits {
    max_pixels: 40_000_000,
    max_decode_bytes: 256 << 20,
};

/// A photo-like picture: smooth shapes plus noise.
fn photo(width: u32, height: u32) -> RgbImage {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let noise = (state & 0x1F) as f32 - 16.0;
        Rgb([
            (120.0 + 90.0 * (fx * 7.0 + fy * 3.0).sin() + noise).clamp(0.0, 255.0) as u8,
            (110.0 + 80.0 * (fy * 9.0 - fx * 2.0).cos() + noise).clamp(0.0, 255.0) as u8,
            (100.0 + 70.0 * ((fx - 0.5).hypot(fy - 0.5) * 25.0).sin() + noise).clamp(0.0, 255.0)
                as u8,
        ])
    })
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Cursor::new(Vec::new());
    image.write_to(&mut bytes, format).unwrap();
    bytes.into_inner()
}

fn pictures(c: &mut Criterion) {
    let mut jpeg = Vec::new();
    JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&photo(4000, 3000))
        .unwrap();
    let png = encode(DynamicImage::ImageRgb8(photo(4000, 3000)), ImageFormat::Png);
    let alpha = RgbaImage::from_fn(1600, 1200, |x, y| {
        Rgba([
            (x % 256) as u8,
            (y % 256) as u8,
            90,
            if x < 800 { 0 } else { 255 },
        ])
    });
    let alpha_png = encode(DynamicImage::ImageRgba8(alpha), ImageFormat::Png);
    let mut gif = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut gif);
        let frames = (0..2u8).map(|i| {
            Frame::from_parts(
                RgbaImage::from_pixel(800, 600, Rgba([200, 40 * i, 30, 255])),
                0,
                0,
                Delay::from_numer_denom_ms(100, 1),
            )
        });
        encoder.encode_frames(frames).unwrap();
    }

    let mut group = c.benchmark_group("picture pipeline");
    group.sample_size(20);
    group.bench_function("12 MP JPEG", |b| {
        b.iter(|| process(&jpeg, &LIMITS, &PictureSpec::default()).unwrap())
    });
    // With a second thread, as an upload that finds a second CPU permit
    // free: the largest resize runs during the decode.
    group.bench_function("12 MP JPEG, two threads", |b| {
        let spec = PictureSpec {
            threads: 2,
            ..PictureSpec::default()
        };
        b.iter(|| process(&jpeg, &LIMITS, &spec).unwrap())
    });
    group.bench_function("4000x3000 PNG", |b| {
        b.iter(|| process(&png, &LIMITS, &PictureSpec::default()).unwrap())
    });
    group.bench_function("1600x1200 alpha PNG", |b| {
        b.iter(|| process(&alpha_png, &LIMITS, &PictureSpec::default()).unwrap())
    });
    group.bench_function("800x600 animated GIF", |b| {
        b.iter(|| process(&gif, &LIMITS, &PictureSpec::default()).unwrap())
    });
    group.finish();
}

fn passwords(c: &mut Criterion) {
    let hasher = PasswordHasher::new();
    let hash = hasher.hash("benchmark password 1").unwrap();
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(30);
    group.bench_function("verify", |b| {
        b.iter(|| assert!(hasher.verify("benchmark password 1", &hash)))
    });
    group.finish();
}

criterion_group!(benches, pictures, passwords);
criterion_main!(benches);
