//! Geometry: the crop and the resize (Lanczos3, by fast_image_resize) to
//! the largest rendition, whole or band by band as rows arrive
//! (`BandedResize`), the EXIF orientation applied to it, then each smaller
//! rendition resized from the next larger; aspect kept, never enlarged.
//! Pure: no I/O, no threads of its own.

use fast_image_resize::images::{Image as ResizeImage, ImageRef};
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

/// The largest rendition: the `crop_box` (in pixels) of `pixels`, as
/// stored and not yet turned, resized to `target`; `pixels` themselves
/// when that is all of them at their own size.
pub(super) fn largest(
    pixels: Pixels,
    crop_box: (f64, f64, f64, f64),
    target: (u32, u32),
) -> Result<Pixels, ImagingError> {
    let geometry = Geometry {
        size: pixels.dimensions(),
        crop_box,
        target,
    };
    if geometry.is_whole() {
        return Ok(pixels);
    }
    resize(&pixels, target, Some(crop_box))
}

/// The smaller renditions, at `targets` (smallest first, all smaller than
/// `largest`): each resized from the next larger, a cascade of small steps
/// that keeps Lanczos's quality and costs less than each from the source.
pub(super) fn smaller(
    largest: &Pixels,
    targets: &[(u32, u32)],
) -> Result<Vec<Pixels>, ImagingError> {
    let mut made: Vec<Pixels> = Vec::with_capacity(targets.len());
    for &target in targets.iter().rev() {
        let next = resize(made.last().unwrap_or(largest), target, None)?;
        made.push(next);
    }
    made.reverse();
    Ok(made)
}

/// Lanczos3's support, in source pixels at scale 1.
const LANCZOS3_SUPPORT: f64 = 3.0;

/// The largest rendition of an RGB picture resized band by band while its
/// decoder is still producing rows, so that a second core does the resize
/// during the decode rather than after it. A band of output rows is made
/// once every source row under its filter window has arrived, and reads
/// the rows around it as the whole picture's resize would: the bands join
/// into the same picture, not a stitch of pieces filtered apart.
pub(super) struct BandedResize {
    geometry: Geometry,
    /// The rows received so far; the whole picture at the end.
    source: Vec<u8>,
    out: Vec<u8>,
    /// Output rows made so far.
    done: u32,
    resizer: Resizer,
}

impl BandedResize {
    pub fn new(size: (u32, u32), crop_box: (f64, f64, f64, f64), target: (u32, u32)) -> Self {
        Self {
            geometry: Geometry {
                size,
                crop_box,
                target,
            },
            source: Vec::with_capacity(size.0 as usize * size.1 as usize * 3),
            out: Vec::new(),
            done: 0,
            resizer: Resizer::new(),
        }
    }

    fn stride(&self) -> usize {
        self.geometry.size.0 as usize * 3
    }

    fn rows_received(&self) -> u32 {
        (self.source.len() / self.stride()) as u32
    }

    /// The next whole rows, top to bottom; makes every band they complete.
    pub fn push(&mut self, rows: &[u8]) -> Result<(), ImagingError> {
        if rows.len() % self.stride() != 0
            || self.source.len() + rows.len() > self.source.capacity()
        {
            return Err(ImagingError::Corrupt);
        }
        self.source.extend_from_slice(rows);
        if self.geometry.is_whole() {
            return Ok(());
        }
        let received = self.rows_received();
        let geometry = self.geometry;
        let mut end = self.done;
        while end < geometry.target.1 && geometry.window(end).1 <= received {
            end += 1;
        }
        self.band(end)
    }

    /// Output rows `done..end`, from the source rows under them.
    fn band(&mut self, end: u32) -> Result<(), ImagingError> {
        if end <= self.done {
            return Ok(());
        }
        let out_stride = self.geometry.target.0 as usize * 3;
        if self.out.is_empty() {
            self.out = vec![0; out_stride * self.geometry.target.1 as usize];
        }
        let out = &mut self.out[self.done as usize * out_stride..end as usize * out_stride];
        self.geometry
            .resize_rows(&mut self.resizer, &self.source, self.done..end, out)?;
        self.done = end;
        Ok(())
    }

    /// Once every row has come: the largest rendition. Too few rows is a
    /// corrupt picture.
    pub fn finish(mut self) -> Result<RgbImage, ImagingError> {
        let Geometry { size, target, .. } = self.geometry;
        if self.rows_received() != size.1 {
            return Err(ImagingError::Corrupt);
        }
        let ((width, height), pixels) = if self.geometry.is_whole() {
            (size, self.source)
        } else {
            self.band(target.1)?;
            (target, self.out)
        };
        RgbImage::from_raw(width, height, pixels).ok_or(ImagingError::Corrupt)
    }
}

/// One resize: a `crop_box` of a `size` picture to `target`, made a range
/// of output rows at a time, each range from the source rows under it
/// (and the rows around them, as the whole resize reads them).
#[derive(Clone, Copy)]
struct Geometry {
    size: (u32, u32),
    crop_box: (f64, f64, f64, f64),
    target: (u32, u32),
}

impl Geometry {
    /// Whether the rendition is the whole picture at its own size.
    fn is_whole(&self) -> bool {
        let (width, height) = self.size;
        self.target == self.size && self.crop_box == (0.0, 0.0, f64::from(width), f64::from(height))
    }

    /// Source rows per output row.
    fn scale(&self) -> f64 {
        self.crop_box.3 / f64::from(self.target.1)
    }

    fn radius(&self) -> f64 {
        LANCZOS3_SUPPORT * self.scale().max(1.0)
    }

    /// The source rows output row `row` reads: from the first, up to the
    /// last (exclusive), with a row to spare each side for rounding.
    fn window(&self, row: u32) -> (u32, u32) {
        let center = self.crop_box.1 + (f64::from(row) + 0.5) * self.scale();
        let first = ((center - self.radius()).floor() - 1.0).max(0.0);
        let end = ((center + self.radius()).ceil() + 1.0).min(f64::from(self.size.1));
        (first as u32, end as u32)
    }

    /// Output `rows` into `out` (exactly those rows), from `source`, which
    /// holds at least every source row they read.
    fn resize_rows(
        &self,
        resizer: &mut Resizer,
        source: &[u8],
        rows: std::ops::Range<u32>,
        out: &mut [u8],
    ) -> Result<(), ImagingError> {
        let scale = self.scale();
        let (first, _) = self.window(rows.start);
        let (_, last) = self.window(rows.end - 1);
        let stride = self.size.0 as usize * 3;
        let under = source
            .get(first as usize * stride..last as usize * stride)
            .ok_or(ImagingError::Corrupt)?;
        let source = ImageRef::new(self.size.0, last - first, under, PixelType::U8x3)
            .map_err(|_| ImagingError::Corrupt)?;
        let mut target =
            ResizeImage::from_slice_u8(self.target.0, rows.end - rows.start, out, PixelType::U8x3)
                .map_err(|_| ImagingError::Corrupt)?;
        let (left, top, width, _) = self.crop_box;
        let band_top = top + f64::from(rows.start) * scale - f64::from(first);
        // The picture's last band ends on its last row: rounding must not
        // take it past.
        let band_height =
            (f64::from(rows.end - rows.start) * scale).min(f64::from(last - first) - band_top);
        let options = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
            .crop(left, band_top, width, band_height);
        resizer
            .resize(&source, &mut target, &options)
            .map_err(|_| ImagingError::Corrupt)
    }
}

/// The largest rendition of a whole RGB picture, as `largest` makes it,
/// with its lower half of rows made on a second thread at once.
pub(super) fn largest_in_two(
    pixels: RgbImage,
    crop_box: (f64, f64, f64, f64),
    target: (u32, u32),
) -> Result<RgbImage, ImagingError> {
    let geometry = Geometry {
        size: pixels.dimensions(),
        crop_box,
        target,
    };
    if geometry.is_whole() {
        return Ok(pixels);
    }
    let out_stride = target.0 as usize * 3;
    let mut out = vec![0u8; out_stride * target.1 as usize];
    let half = target.1 / 2;
    let (upper, lower) = out.split_at_mut(half as usize * out_stride);
    let source = pixels.as_raw();
    let halves = std::thread::scope(|scope| {
        if half == 0 {
            return None;
        }
        let thread = std::thread::Builder::new()
            .spawn_scoped(scope, move || {
                geometry.resize_rows(&mut Resizer::new(), source, half..target.1, lower)
            })
            .ok()?;
        let upper_half = geometry.resize_rows(&mut Resizer::new(), source, 0..half, upper);
        let lower_half = thread.join().unwrap_or(Err(ImagingError::Corrupt));
        Some(upper_half.and(lower_half))
    });
    match halves {
        Some(made) => {
            made?;
            RgbImage::from_raw(target.0, target.1, out).ok_or(ImagingError::Corrupt)
        }
        // One row, or no thread to be had: all of it here.
        None => match largest(Pixels::Rgb(pixels), crop_box, target)? {
            Pixels::Rgb(image) => Ok(image),
            Pixels::Rgba(_) => Err(ImagingError::Corrupt),
        },
    }
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

    /// A picture with detail at every scale: a band seam would show.
    fn detailed(width: u32, height: u32) -> RgbImage {
        RgbImage::from_fn(width, height, |x, y| {
            let v = (x * 7 + y * 13) ^ (x * y);
            image::Rgb([
                (v % 251) as u8,
                ((x + 3 * y) % 256) as u8,
                ((v >> 3) % 256) as u8,
            ])
        })
    }

    /// The banded resize, fed `rows_at_a_time` rows at a time, against
    /// the whole picture's resize: the same picture, not a stitch.
    fn banded_matches_whole(
        (width, height): (u32, u32),
        crop_box: (f64, f64, f64, f64),
        target: (u32, u32),
        rows_at_a_time: u32,
    ) {
        let picture = detailed(width, height);
        let Pixels::Rgb(whole) =
            resize(&Pixels::Rgb(picture.clone()), target, Some(crop_box)).unwrap()
        else {
            unreachable!()
        };
        let mut banded = BandedResize::new((width, height), crop_box, target);
        for rows in picture
            .as_raw()
            .chunks(width as usize * 3 * rows_at_a_time as usize)
        {
            banded.push(rows).unwrap();
        }
        let banded = banded.finish().unwrap();
        assert_eq!(banded.dimensions(), target);
        let differing = whole
            .as_raw()
            .iter()
            .zip(banded.as_raw())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing, 0,
            "{crop_box:?} → {target:?}, {rows_at_a_time} rows at a time"
        );
    }

    #[test]
    fn a_resize_made_band_by_band_is_the_whole_resize() {
        banded_matches_whole((1000, 750), (0.0, 0.0, 1000.0, 750.0), (600, 450), 32);
        banded_matches_whole((1000, 750), (0.0, 0.0, 1000.0, 750.0), (600, 450), 7);
        // A fractional crop, and a shrink by more than the filter's reach.
        banded_matches_whole((1000, 750), (120.4, 77.7, 603.3, 512.9), (300, 255), 32);
        banded_matches_whole((1000, 750), (0.0, 10.5, 1000.0, 700.0), (64, 45), 5);
        // Rows in one go, and a target as tall as the picture.
        banded_matches_whole((400, 300), (0.0, 0.0, 400.0, 300.0), (200, 150), 300);
        banded_matches_whole((400, 300), (50.0, 0.0, 300.0, 300.0), (200, 300), 16);
    }

    #[test]
    fn a_banded_resize_refuses_rows_that_do_not_fit() {
        let mut banded = BandedResize::new((10, 10), (0.0, 0.0, 10.0, 10.0), (5, 5));
        assert_eq!(banded.push(&[0; 31]), Err(ImagingError::Corrupt));
        let mut banded = BandedResize::new((10, 10), (0.0, 0.0, 10.0, 10.0), (5, 5));
        banded.push(&[0; 30 * 9]).unwrap();
        // Nine rows of ten: the picture is cut short.
        assert_eq!(banded.finish().err(), Some(ImagingError::Corrupt));
        let mut banded = BandedResize::new((10, 10), (0.0, 0.0, 10.0, 10.0), (10, 10));
        banded.push(&[7; 300]).unwrap();
        assert_eq!(banded.push(&[0; 30]), Err(ImagingError::Corrupt));
    }

    #[test]
    fn fitted_size_keeps_aspect_and_never_enlarges() {
        assert_eq!(fitted_size(4000, 3000, 300), (300, 225));
        assert_eq!(fitted_size(3000, 4000, 300), (225, 300));
        assert_eq!(fitted_size(120, 80, 300), (120, 80));
        assert_eq!(fitted_size(10000, 1, 300), (300, 1));
        assert_eq!(fitted_size(300, 300, 300), (300, 300));
    }
}
