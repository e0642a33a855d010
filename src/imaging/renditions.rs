//! Which renditions a picture gets, and the crop: pure arithmetic on sizes
//! and fractions, no pixels. Each size of AVATAR_SIZES not larger than the
//! picture's longer side (after EXIF orientation and crop) gives one
//! rendition fitted in that square; a picture smaller than every size
//! gives one, at its own size. The JPEG decoder's scale is chosen here so
//! that the largest rendition is still covered.

use image::metadata::Orientation;

use super::fit::fitted_size;

/// A part of the oriented picture, as fractions of its width and height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crop {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// Rounding slack for fractions a client computed (0.1 + 0.9 is not 1.0).
const SLACK: f64 = 1e-9;

impl Crop {
    pub const WHOLE: Crop = Crop {
        x: 0.0,
        y: 0.0,
        w: 1.0,
        h: 1.0,
    };

    /// `x,y,w,h`: four fractions of the oriented picture; the box must lie
    /// inside it and not be empty.
    pub fn parse(raw: &str) -> Result<Crop, String> {
        let shape = || "Enter the crop as x,y,w,h: four numbers from 0 to 1.".to_owned();
        let numbers: Vec<f64> = raw
            .split(',')
            .map(|part| part.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| shape())?;
        let [x, y, w, h] = numbers[..] else {
            return Err(shape());
        };
        if !numbers
            .iter()
            .all(|n| n.is_finite() && (0.0..=1.0).contains(n))
        {
            return Err("Each crop value must be from 0 to 1.".into());
        }
        if w <= 0.0 || h <= 0.0 {
            return Err("The crop's width and height must be above 0.".into());
        }
        if x + w > 1.0 + SLACK || y + h > 1.0 + SLACK {
            return Err(
                "The crop must lie inside the picture: x + w and y + h may be at most 1.".into(),
            );
        }
        Ok(Crop {
            x,
            y,
            w: w.min(1.0 - x),
            h: h.min(1.0 - y),
        })
    }

    /// This crop of the oriented picture as a crop of the picture as
    /// stored, before `orientation` turns it: the pixels are cropped and
    /// resized first, and only the small renditions are then turned.
    pub fn unoriented(&self, orientation: Orientation) -> Crop {
        let Crop { x, y, w, h } = *self;
        let (x, y, w, h) = match orientation {
            Orientation::NoTransforms => (x, y, w, h),
            Orientation::FlipHorizontal => (1.0 - x - w, y, w, h),
            Orientation::FlipVertical => (x, 1.0 - y - h, w, h),
            Orientation::Rotate180 => (1.0 - x - w, 1.0 - y - h, w, h),
            // rotate90 sends stored (x, y) to (H-1-y, x).
            Orientation::Rotate90 => (y, 1.0 - x - w, h, w),
            // rotate270 sends stored (x, y) to (y, W-1-x).
            Orientation::Rotate270 => (1.0 - y - h, x, h, w),
            // Turned, then mirrored: the mirror undone first.
            Orientation::Rotate90FlipH => (y, x, h, w),
            Orientation::Rotate270FlipH => (1.0 - y - h, 1.0 - x - w, h, w),
        };
        Crop {
            x: x.max(0.0),
            y: y.max(0.0),
            w,
            h,
        }
    }

    /// The box in pixels of a `width`×`height` picture: (left, top, width,
    /// height), at least one pixel.
    pub fn in_pixels(&self, width: u32, height: u32) -> (f64, f64, f64, f64) {
        let (width, height) = (f64::from(width), f64::from(height));
        let left = (self.x * width).min(width - 1.0).max(0.0);
        let top = (self.y * height).min(height - 1.0).max(0.0);
        (
            left,
            top,
            (self.w * width).clamp(1.0, width - left),
            (self.h * height).clamp(1.0, height - top),
        )
    }

    /// The cropped size of a `width`×`height` picture, in whole pixels.
    pub fn size_of(&self, width: u32, height: u32) -> (u32, u32) {
        let (_, _, w, h) = self.in_pixels(width, height);
        (w.round().max(1.0) as u32, h.round().max(1.0) as u32)
    }
}

/// The renditions of a `width`×`height` picture (oriented and cropped):
/// (width, height) each, smallest first, no two of the same width (their
/// names would clash).
pub fn plan(width: u32, height: u32, sizes: &[u32]) -> Vec<(u32, u32)> {
    let longer = width.max(height);
    let mut sizes: Vec<u32> = sizes.iter().copied().filter(|&s| s <= longer).collect();
    sizes.sort_unstable();
    let mut planned: Vec<(u32, u32)> = sizes
        .into_iter()
        .map(|size| fitted_size(width, height, size))
        .collect();
    planned.dedup_by_key(|(w, _)| *w);
    if planned.is_empty() {
        planned.push((width, height));
    }
    planned
}

/// Where a picture's renditions come from, once its decoded size is known.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Layout {
    /// Each rendition's size, upright, smallest first (never empty).
    pub sizes: Vec<(u32, u32)>,
    /// The largest rendition's size as stored, before it is turned upright.
    pub largest_stored: (u32, u32),
    /// The crop, in pixels of the decoded picture as stored.
    pub crop_box: (f64, f64, f64, f64),
    pub orientation: Orientation,
}

impl Layout {
    /// For a picture `source` in size as stored, decoded at `decoded`
    /// (smaller for a JPEG decoded at a DCT scale), turned by
    /// `orientation`: the sizes come from its real size, the crop box from
    /// the decoded one.
    pub fn of(
        source: (u32, u32),
        decoded: (u32, u32),
        orientation: Orientation,
        crop: Crop,
        sizes: &[u32],
    ) -> Layout {
        let swap = |(w, h): (u32, u32)| {
            if swaps_axes(orientation) {
                (h, w)
            } else {
                (w, h)
            }
        };
        let (oriented_w, oriented_h) = swap(source);
        let (cropped_w, cropped_h) = crop.size_of(oriented_w, oriented_h);
        let sizes = plan(cropped_w, cropped_h, sizes);
        let largest = sizes.last().copied().unwrap_or((cropped_w, cropped_h));
        Layout {
            largest_stored: swap(largest),
            crop_box: crop.unoriented(orientation).in_pixels(decoded.0, decoded.1),
            sizes,
            orientation,
        }
    }
}

/// Whether the orientation turns the picture a quarter.
pub fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// The smallest libjpeg scale (n/8) at which a `width`×`height` JPEG (as
/// stored, before orientation) still covers its largest rendition once
/// oriented and cropped: resizing then only ever shrinks.
pub fn jpeg_scale_numerator(
    width: u32,
    height: u32,
    orientation: Orientation,
    crop: Crop,
    sizes: &[u32],
) -> u8 {
    let (oriented_w, oriented_h) = if swaps_axes(orientation) {
        (height, width)
    } else {
        (width, height)
    };
    let (crop_w, crop_h) = crop.size_of(oriented_w, oriented_h);
    let Some(&(target_w, target_h)) = plan(crop_w, crop_h, sizes).last() else {
        return 8;
    };
    (1..=8u8)
        .find(|&n| {
            let scaled = |side: u32| (u64::from(side) * u64::from(n)).div_ceil(8) as f64;
            scaled(oriented_w) * crop.w + SLACK >= f64::from(target_w)
                && scaled(oriented_h) * crop.h + SLACK >= f64::from(target_h)
        })
        .unwrap_or(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: [u32; 4] = [64, 128, 300, 600];

    #[test]
    fn each_size_not_larger_than_the_picture_gives_a_rendition() {
        assert_eq!(
            plan(4000, 3000, &SIZES),
            vec![(64, 48), (128, 96), (300, 225), (600, 450)]
        );
        assert_eq!(plan(3000, 4000, &SIZES)[3], (450, 600));
        assert_eq!(
            plan(400, 300, &SIZES),
            vec![(64, 48), (128, 96), (300, 225)]
        );
        // Smaller than every size: one rendition, its own size.
        assert_eq!(plan(50, 40, &SIZES), vec![(50, 40)]);
        // A sliver: widths would clash, so only the first stays.
        assert_eq!(plan(1, 5000, &SIZES), vec![(1, 64)]);
    }

    #[test]
    fn crops_are_fractions_inside_the_picture() {
        let crop = Crop::parse("0.25, 0, 0.5,1").unwrap();
        assert_eq!(crop.size_of(4000, 3000), (2000, 3000));
        assert_eq!(Crop::parse("0.1,0.1,0.9,0.9").unwrap().w, 0.9);
        for bad in [
            "",
            "0,0,1",
            "0,0,1,1,1",
            "a,b,c,d",
            "-0.1,0,0.5,0.5",
            "0,0,0,1",
            "0.5,0,0.6,1",
            "0,0,1.5,1",
            "NaN,0,1,1",
            "inf,0,1,1",
        ] {
            assert!(Crop::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_crop_of_the_turned_picture_is_the_same_pixels_cropped_before_turning() {
        use image::{DynamicImage, GenericImageView, RgbImage};
        let stored = DynamicImage::ImageRgb8(RgbImage::from_fn(8, 4, |x, y| {
            image::Rgb([x as u8 * 30, y as u8 * 60, (x * 7 + y * 13) as u8])
        }));
        for exif in 1..=8u8 {
            let orientation = Orientation::from_exif(exif).unwrap();
            let mut oriented = stored.clone();
            oriented.apply_orientation(orientation);
            let (ow, oh) = oriented.dimensions();
            // Boxes on whole pixels of the oriented picture.
            for (x, y, w, h) in [
                (0, 0, ow, oh),
                (1, 0, 2, 3),
                (0, 1, ow - 1, 1),
                (2, 2, 1, 1),
            ] {
                let crop = Crop {
                    x: f64::from(x) / f64::from(ow),
                    y: f64::from(y) / f64::from(oh),
                    w: f64::from(w) / f64::from(ow),
                    h: f64::from(h) / f64::from(oh),
                };
                let want = oriented.crop_imm(x, y, w, h);
                let (sw, sh) = stored.dimensions();
                let (left, top, width, height) = crop.unoriented(orientation).in_pixels(sw, sh);
                let mut got = stored.crop_imm(
                    left.round() as u32,
                    top.round() as u32,
                    width.round() as u32,
                    height.round() as u32,
                );
                got.apply_orientation(orientation);
                assert_eq!(
                    got.to_rgb8(),
                    want.to_rgb8(),
                    "orientation {exif}, box {:?}",
                    (x, y, w, h)
                );
            }
        }
    }

    #[test]
    fn the_jpeg_scale_covers_the_largest_rendition_after_orientation_and_crop() {
        let whole = Crop::WHOLE;
        let upright = Orientation::NoTransforms;
        // 4000×3000 → 600×450 needs 1/4 (1000×750); 1/8 (500×375) is short.
        assert_eq!(jpeg_scale_numerator(4000, 3000, upright, whole, &SIZES), 2);
        assert_eq!(jpeg_scale_numerator(4000, 3000, upright, whole, &[300]), 1);
        // A quarter of the width kept: 1000×3000 → 200×600 needs 2/8 of 4000 × 0.25 ≥ 200.
        let strip = Crop::parse("0,0,0.25,1").unwrap();
        assert_eq!(jpeg_scale_numerator(4000, 3000, upright, strip, &SIZES), 2);
        let corner = Crop::parse("0,0,0.1,0.1").unwrap();
        // 400×300 → 300×225 needs 6/8 of 4000 × 0.1 = 300.
        assert_eq!(jpeg_scale_numerator(4000, 3000, upright, corner, &SIZES), 6);
        // 200×100 → 128×64 (no size fits 200): 6/8 of 200 ≥ 128.
        assert_eq!(jpeg_scale_numerator(200, 100, upright, whole, &SIZES), 6);
        assert_eq!(jpeg_scale_numerator(50, 40, upright, whole, &SIZES), 8);
        // Turned a quarter: the stored height is the picture's width.
        let turned = Orientation::Rotate90;
        assert_eq!(jpeg_scale_numerator(3000, 4000, turned, whole, &SIZES), 2);
    }
}
