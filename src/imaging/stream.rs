//! A JPEG's decode and its largest rendition's resize at once, on two
//! threads: the decoder hands its rows over as it makes them, and the
//! other thread resizes each band of the rendition as soon as the rows
//! under it are in (`fit::BandedResize`), so the resize hides behind the
//! decode instead of following it. Used only when the caller's CPU budget
//! holds a second thread. Pure: no I/O, no waiting but on the two threads'
//! own hand-over.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use image::RgbImage;

use super::decode::{decode_jpeg, JpegHeader, RowSink};
use super::fit::BandedResize;
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
        let decoded = decode_jpeg(bytes, limits, spec, &mut sink);
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
