//! A JPEG decoded, and its largest rendition made, on two threads, when
//! the caller's CPU budget holds a second one. A baseline JPEG (one scan,
//! most photos) is decoded by two libjpeg decoders at once, one making
//! the top rows while the other skips them and makes the rest
//! (`libjpeg::RowDecoder`), then resized in two halves at once. Any other
//! JPEG is decoded here while the second thread resizes each band of the
//! rendition as soon as the rows under it are in (`fit::BandedResize`).
//! Pure: no I/O, no waiting but on the two threads' own hand-over.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use image::RgbImage;

use super::decode::{check_jpeg, decode_checked, CheckedJpeg, JpegHeader, RowSink};
use super::fit;
use super::fit::BandedResize;
use super::libjpeg::RowDecoder;
use super::renditions::Layout;
use super::{ImageLimits, ImagingError, PictureSpec};

/// Rows handed over at a time: small enough that the last band, resized
/// after the decode ends, costs little; large enough that a hand-over
/// costs nothing beside decoding them.
const ROWS_AT_A_TIME: u32 = 32;

/// Hand-overs waiting at most: the decoder waits rather than the rows
/// piling up in memory beside the picture being assembled.
const STRIPS_IN_FLIGHT: usize = 4;

enum Strip {
    /// First, once the header is read.
    Plan {
        size: (u32, u32),
        crop_box: (f64, f64, f64, f64),
        target: (u32, u32),
    },
    Rows(Vec<u8>),
}

/// The JPEG's layout and its largest rendition as stored (not yet turned
/// upright), or None when no second thread is to be had (the caller then
/// decodes and resizes on its own).
pub(super) fn jpeg_largest(
    bytes: &[u8],
    limits: &ImageLimits,
    spec: &PictureSpec,
) -> Option<Result<(Layout, RgbImage), ImagingError>> {
    let checked = match check_jpeg(bytes, limits, spec) {
        Ok(checked) => checked,
        Err(refused) => return Some(Err(refused)),
    };
    if checked.single_scan && !checked.is_cmyk {
        decoded_in_two(bytes, checked, spec)
    } else {
        resized_as_decoded(checked, spec)
    }
}

/// Skipping a row costs well over half of decoding it (its entropy
/// decoding stays; the IDCT and the colour conversion go): the decoder
/// that skips takes the last fifth of the rows, where both finish about
/// together (measured against 5/7 and 3/4 with `cargo bench --bench
/// pipeline`).
const TOP_SHARE: (u32, u32) = (4, 5);

/// Fewer rows than this are not worth a second decoder.
const MIN_ROWS_TO_SPLIT: u32 = 64;

/// A baseline JPEG (one scan) decoded by two decoders at once: one makes
/// the top rows, the other skips them and makes the rest, each into its
/// own part of the one picture; then the largest rendition is resized in
/// two halves at once. A progressive file, or one of several scans, is
/// not split: each decoder would hold and read every scan.
fn decoded_in_two(
    bytes: &[u8],
    checked: CheckedJpeg<'_>,
    spec: &PictureSpec,
) -> Option<Result<(Layout, RgbImage), ImagingError>> {
    let (source_size, orientation, numerator) =
        (checked.source_size, checked.orientation, checked.numerator);
    // Its header was all it was for.
    drop(checked);
    let mut top = RowDecoder::start(bytes, numerator);
    let (width, height) = top.size();
    let split = (height * TOP_SHARE.0 / TOP_SHARE.1) / 16 * 16;
    if height < MIN_ROWS_TO_SPLIT || split == 0 {
        return None;
    }
    let stride = width as usize * 3;
    let mut pixels = vec![0u8; stride * height as usize];
    let (upper, lower) = pixels.split_at_mut(split as usize * stride);
    let decoded = std::thread::scope(|scope| {
        let bottom = std::thread::Builder::new()
            .spawn_scoped(scope, move || {
                let mut bottom = RowDecoder::start(bytes, numerator);
                bottom.skip(split)?;
                bottom.read(lower)
            })
            .ok()?;
        let upper_done = top.read(upper);
        // libjpeg may stop here: the rest is the other decoder's.
        drop(top);
        let lower_done = bottom.join().unwrap_or(Err(()));
        Some(upper_done.and(lower_done))
    })?;
    Some(decoded.map_err(|()| ImagingError::Corrupt).and_then(|()| {
        let layout = Layout::of(
            source_size,
            (width, height),
            orientation,
            spec.crop,
            &spec.sizes,
        );
        let image = RgbImage::from_raw(width, height, pixels).ok_or(ImagingError::Corrupt)?;
        let largest = fit::largest_in_two(image, layout.crop_box, layout.largest_stored)?;
        Ok((layout, largest))
    }))
}

/// Any other JPEG (several scans, CMYK): decoded on this thread, its rows
/// handed to the second thread, which resizes the largest rendition band
/// by band as they come.
fn resized_as_decoded(
    checked: CheckedJpeg<'_>,
    spec: &PictureSpec,
) -> Option<Result<(Layout, RgbImage), ImagingError>> {
    std::thread::scope(|scope| {
        let (to_resizer, strips) = sync_channel(STRIPS_IN_FLIGHT);
        let resizer = std::thread::Builder::new()
            .spawn_scoped(scope, move || resize_as_decoded(strips))
            .ok()?;
        let mut sink = Handover {
            spec,
            to_resizer,
            layout: None,
        };
        let decoded = decode_checked(checked, &mut sink);
        let layout = sink.layout.take();
        // Dropping the sender tells the resizer the rows have ended.
        drop(sink);
        let resized = resizer.join().unwrap_or(Err(ImagingError::Corrupt));
        Some(decoded.and_then(|_| Ok((layout.ok_or(ImagingError::Corrupt)?, resized?))))
    })
}

/// The decoder's side: the plan first, then the rows.
struct Handover<'a> {
    spec: &'a PictureSpec,
    to_resizer: SyncSender<Strip>,
    layout: Option<Layout>,
}

impl RowSink for Handover<'_> {
    fn rows_at_a_time(&self) -> u32 {
        ROWS_AT_A_TIME
    }

    fn begin(&mut self, header: &JpegHeader) -> Result<(), ImagingError> {
        let layout = Layout::of(
            header.source_size,
            header.decoded_size,
            header.orientation,
            self.spec.crop,
            &self.spec.sizes,
        );
        self.to_resizer
            .send(Strip::Plan {
                size: header.decoded_size,
                crop_box: layout.crop_box,
                target: layout.largest_stored,
            })
            .map_err(|_| ImagingError::Corrupt)?;
        self.layout = Some(layout);
        Ok(())
    }

    fn rows(&mut self, rows: Vec<u8>) -> Result<(), ImagingError> {
        // The resizer gone means it failed: its error is the one told.
        self.to_resizer
            .send(Strip::Rows(rows))
            .map_err(|_| ImagingError::Corrupt)
    }
}

/// The resizer's side, on the second thread.
fn resize_as_decoded(strips: Receiver<Strip>) -> Result<RgbImage, ImagingError> {
    let Ok(Strip::Plan {
        size,
        crop_box,
        target,
    }) = strips.recv()
    else {
        return Err(ImagingError::Corrupt);
    };
    let mut banded = BandedResize::new(size, crop_box, target);
    for strip in strips {
        let Strip::Rows(rows) = strip else {
            return Err(ImagingError::Corrupt);
        };
        banded.push(&rows)?;
    }
    banded.finish()
}
