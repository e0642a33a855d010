//! The libjpeg calls the `mozjpeg` crate does not wrap, behind one safe
//! type: a decoder of a JPEG in memory, at a DCT scale, RGB out, that can
//! skip rows (`jpeg_skip_scanlines`: entropy decoding only, no IDCT, no
//! colour conversion). `stream` uses two of them on one picture. Every
//! libjpeg error unwinds (the pipeline's `catch_unwind` makes it a corrupt
//! picture) and the decoder is destroyed on every path, unwinding or not.
//! It checks no limit: the caller has already read the header with the
//! `mozjpeg` crate and checked it.

use std::marker::PhantomData;
use std::mem;
use std::os::raw::{c_int, c_ulong};

use mozjpeg_sys as ffi;

/// One JPEG being decoded, rows top to bottom.
pub(super) struct RowDecoder<'a> {
    // Boxed: libjpeg keeps pointers to both, so neither may move.
    cinfo: Box<ffi::jpeg_decompress_struct>,
    _err: Box<ffi::jpeg_error_mgr>,
    /// libjpeg reads from these bytes until the decoder is destroyed.
    _bytes: PhantomData<&'a [u8]>,
}

impl<'a> RowDecoder<'a> {
    /// Starts decoding `bytes` at `numerator`/8, in RGB. libjpeg errors
    /// unwind.
    pub fn start(bytes: &'a [u8], numerator: u8) -> Self {
        // SAFETY: both structs are plain C data that libjpeg initialises
        // (jpeg_std_error, jpeg_CreateDecompress) before any other use;
        // the error manager lives in its own box for as long as cinfo.
        let mut decoder = unsafe {
            let mut err: Box<ffi::jpeg_error_mgr> = Box::new(mem::zeroed());
            ffi::jpeg_std_error(&mut err);
            err.error_exit = Some(unwind_on_error);
            err.emit_message = Some(ignore_warning);
            let mut cinfo: Box<ffi::jpeg_decompress_struct> = Box::new(mem::zeroed());
            cinfo.common.err = &mut *err;
            ffi::jpeg_create_decompress(&mut *cinfo);
            RowDecoder {
                cinfo,
                _err: err,
                _bytes: PhantomData,
            }
        };
        // From here on an unwinding error drops `decoder`, which destroys it.
        // SAFETY: `bytes` outlives the decoder (its lifetime 'a).
        unsafe {
            ffi::jpeg_mem_src(&mut decoder.cinfo, bytes.as_ptr(), bytes.len() as c_ulong);
            ffi::jpeg_read_header(&mut decoder.cinfo, 1);
            decoder.cinfo.scale_num = u32::from(numerator);
            decoder.cinfo.scale_denom = 8;
            decoder.cinfo.out_color_space = ffi::J_COLOR_SPACE::JCS_EXT_RGB;
            ffi::jpeg_start_decompress(&mut decoder.cinfo);
        }
        decoder
    }

    /// The size rows come at.
    pub fn size(&self) -> (u32, u32) {
        (self.cinfo.output_width, self.cinfo.output_height)
    }

    /// Passes over the next `rows` rows without making their pixels.
    pub fn skip(&mut self, rows: u32) -> Result<(), ()> {
        // SAFETY: the decoder is started; libjpeg checks the count.
        let skipped = unsafe { ffi::jpeg_skip_scanlines(&mut self.cinfo, rows) };
        if skipped == rows {
            Ok(())
        } else {
            Err(())
        }
    }

    /// Fills `out` (whole rows, three bytes a pixel) with the next rows.
    pub fn read(&mut self, out: &mut [u8]) -> Result<(), ()> {
        let stride = self.cinfo.output_width as usize * 3;
        if stride == 0 || out.len() % stride != 0 {
            return Err(());
        }
        for row in out.chunks_exact_mut(stride) {
            if self.cinfo.output_scanline >= self.cinfo.output_height {
                return Err(());
            }
            let mut pointer = row.as_mut_ptr();
            // SAFETY: `row` holds one whole row of output_width RGB pixels.
            let read = unsafe { ffi::jpeg_read_scanlines(&mut self.cinfo, &mut pointer, 1) };
            if read != 1 {
                return Err(());
            }
        }
        Ok(())
    }
}

impl Drop for RowDecoder<'_> {
    fn drop(&mut self) {
        // SAFETY: created in `start`, destroyed once; destroying a
        // decoder mid-image (or after an error) is what libjpeg expects.
        unsafe { ffi::jpeg_destroy_decompress(&mut self.cinfo) };
    }
}

/// libjpeg's fatal errors unwind to the pipeline's `catch_unwind`
/// (mozjpeg-sys is built with unwinding through C).
extern "C-unwind" fn unwind_on_error(_: &mut ffi::jpeg_common_struct) {
    std::panic::resume_unwind(Box::new("libjpeg error"));
}

/// Warnings (a truncated scan, say) are not errors: libjpeg goes on.
extern "C-unwind" fn ignore_warning(_: &mut ffi::jpeg_common_struct, _level: c_int) {}
