//! Decoding image files into 8-bit RGB.
//!
//! Networks want three 8-bit channels, whatever the file holds: greyscale, grey+alpha, RGBA,
//! 16-bit PNGs, palette images and CMYK/YCCK JPEGs are all converted to RGB8 here (alpha is
//! dropped, as PIL's `convert("RGB")` does, so kiln and PyTorch see the same pixels). The
//! format is sniffed from the bytes, not trusted from the extension. JPEG goes straight to
//! zune-jpeg (SIMD IDCT and colour conversion); the rest goes through the `image` crate.
//! Images over [`MAX_PIXELS`] are refused before any pixel buffer is allocated, so a
//! decompression bomb in a scraped folder is an error, not an out-of-memory kill.

use std::io::Cursor;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

pub use image::RgbImage;

/// Largest accepted image, in pixels: PIL's decompression-bomb error limit (2 × 89,478,485).
pub const MAX_PIXELS: u64 = 178_956_970;

/// Container format of an image file, identified from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// JPEG (JFIF/EXIF).
    Jpeg,
    /// PNG.
    Png,
    /// Windows bitmap.
    Bmp,
    /// WebP.
    Webp,
    /// GIF (recognised for reporting, not decoded).
    Gif,
    /// TIFF (recognised for reporting, not decoded).
    Tiff,
}

impl FileFormat {
    /// Whether kiln-data can decode this format.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            FileFormat::Jpeg | FileFormat::Png | FileFormat::Bmp | FileFormat::Webp
        )
    }
}

/// Identifies the format from magic bytes.
pub fn sniff_format(bytes: &[u8]) -> Option<FileFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(FileFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(FileFormat::Png)
    } else if bytes.starts_with(b"BM") && bytes.len() >= 26 {
        Some(FileFormat::Bmp)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(FileFormat::Webp)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(FileFormat::Gif)
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some(FileFormat::Tiff)
    } else {
        None
    }
}

/// The format a file's extension claims (case-insensitive), if it is an image extension.
pub fn format_from_extension(path: &Path) -> Option<FileFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" | "jfif" => Some(FileFormat::Jpeg),
        "png" => Some(FileFormat::Png),
        "bmp" => Some(FileFormat::Bmp),
        "webp" => Some(FileFormat::Webp),
        "gif" => Some(FileFormat::Gif),
        "tif" | "tiff" => Some(FileFormat::Tiff),
        _ => None,
    }
}

/// Pixel layout stored in the file, before conversion to RGB8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelMode {
    /// 8-bit greyscale.
    L8,
    /// 8-bit greyscale with alpha.
    La8,
    /// 8-bit RGB (the expected mode).
    Rgb8,
    /// 8-bit RGB with alpha.
    Rgba8,
    /// 16-bit greyscale.
    L16,
    /// 16-bit greyscale with alpha.
    La16,
    /// 16-bit RGB.
    Rgb16,
    /// 16-bit RGB with alpha.
    Rgba16,
    /// 32-bit float RGB(A).
    Float,
    /// CMYK or YCCK JPEG (print files; colours shift when converted naively).
    Cmyk,
    /// Anything else.
    Other,
}

impl PixelMode {
    fn from_color_type(ct: image::ColorType) -> Self {
        use image::ColorType as C;
        match ct {
            C::L8 => PixelMode::L8,
            C::La8 => PixelMode::La8,
            C::Rgb8 => PixelMode::Rgb8,
            C::Rgba8 => PixelMode::Rgba8,
            C::L16 => PixelMode::L16,
            C::La16 => PixelMode::La16,
            C::Rgb16 => PixelMode::Rgb16,
            C::Rgba16 => PixelMode::Rgba16,
            C::Rgb32F | C::Rgba32F => PixelMode::Float,
            _ => PixelMode::Other,
        }
    }

    fn from_zune(cs: zune_core::colorspace::ColorSpace) -> Self {
        use zune_core::colorspace::ColorSpace as Z;
        match cs {
            Z::Luma => PixelMode::L8,
            Z::LumaA => PixelMode::La8,
            Z::RGB | Z::YCbCr | Z::BGR => PixelMode::Rgb8,
            Z::RGBA | Z::BGRA | Z::ARGB => PixelMode::Rgba8,
            Z::CMYK | Z::YCCK => PixelMode::Cmyk,
            _ => PixelMode::Other,
        }
    }
}

/// What a file holds, as read from its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Container format, sniffed from the bytes.
    pub format: FileFormat,
    /// Pixel layout in the file.
    pub mode: PixelMode,
}

/// A decoded image with what the file said about itself.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The pixels, converted to RGB8.
    pub image: RgbImage,
    /// Header facts (size, format, original mode).
    pub info: ImageInfo,
    /// A JPEG without its end-of-image marker: decoders fill the missing part, so the image
    /// "works" but its bottom is grey. Reported by the audit.
    pub truncated: bool,
}

/// Reads a whole file, mapping the error to [`DataError::Io`].
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}

/// Reads and decodes `path` to RGB8.
pub fn decode_rgb8(path: &Path) -> Result<RgbImage> {
    let bytes = read_file(path)?;
    Ok(decode_bytes(&bytes, path)?.image)
}

/// Decodes in-memory file bytes (`path` is only used in error messages).
///
/// A decoder panic on hostile input is caught and returned as [`DataError::Decode`]: one bad
/// file in a scraped folder must not take a training run down.
pub fn decode_bytes(bytes: &[u8], path: &Path) -> Result<Decoded> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        decode_bytes_inner(bytes, path)
    }))
    .unwrap_or_else(|_| Err(DataError::decode(path, "decoder panicked on this file")))
}

fn decode_bytes_inner(bytes: &[u8], path: &Path) -> Result<Decoded> {
    if bytes.is_empty() {
        return Err(DataError::decode(path, "empty file (0 bytes)"));
    }
    let format = sniff_format(bytes)
        .ok_or_else(|| DataError::decode(path, "not an image: unrecognised file signature"))?;
    if !format.is_supported() {
        return Err(DataError::decode(
            path,
            format!("unsupported format {format:?}"),
        ));
    }
    if format == FileFormat::Jpeg {
        decode_jpeg(bytes, path)
    } else {
        decode_generic(bytes, format, path)
    }
}

fn check_size(w: u64, h: u64, path: &Path) -> Result<()> {
    if w == 0 || h == 0 {
        return Err(DataError::decode(path, format!("degenerate size {w}x{h}")));
    }
    if w * h > MAX_PIXELS {
        return Err(DataError::decode(
            path,
            format!("{w}x{h} exceeds the {MAX_PIXELS}-pixel limit (decompression bomb?)"),
        ));
    }
    Ok(())
}

/// Whether JPEG bytes lack the end-of-image marker near their end.
pub fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    // Entropy-coded data stuffs 0xFF as FF 00, so FF D9 only appears as a marker. Some
    // writers append padding after EOI, hence the search over a tail window.
    let tail = &bytes[bytes.len().saturating_sub(2048)..];
    !tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn decode_jpeg(bytes: &[u8], path: &Path) -> Result<Decoded> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;

    let options = DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(u16::MAX as usize)
        .set_max_height(u16::MAX as usize)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    dec.decode_headers()
        .map_err(|e| DataError::decode(path, format!("JPEG header: {e:?}")))?;
    let (w, h) = dec
        .dimensions()
        .ok_or_else(|| DataError::decode(path, "JPEG without dimensions"))?;
    check_size(w as u64, h as u64, path)?;
    let mode = dec
        .input_colorspace()
        .map(PixelMode::from_zune)
        .unwrap_or(PixelMode::Other);
    let pixels = dec
        .decode()
        .map_err(|e| DataError::decode(path, format!("JPEG data: {e:?}")))?;
    let image = RgbImage::from_raw(w as u32, h as u32, pixels)
        .ok_or_else(|| DataError::decode(path, "JPEG decoder returned a short buffer"))?;
    Ok(Decoded {
        image,
        info: ImageInfo {
            width: w as u32,
            height: h as u32,
            format: FileFormat::Jpeg,
            mode,
        },
        truncated: jpeg_is_truncated(bytes),
    })
}

fn decode_generic(bytes: &[u8], format: FileFormat, path: &Path) -> Result<Decoded> {
    use image::ImageDecoder;
    let img_format = match format {
        FileFormat::Png => image::ImageFormat::Png,
        FileFormat::Bmp => image::ImageFormat::Bmp,
        FileFormat::Webp => image::ImageFormat::WebP,
        _ => return Err(DataError::decode(path, "unsupported format")),
    };
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), img_format);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 8);
    reader.limits(limits);
    let decoder = reader
        .into_decoder()
        .map_err(|e| DataError::decode(path, e))?;
    let (w, h) = decoder.dimensions();
    check_size(w as u64, h as u64, path)?;
    let mode = PixelMode::from_color_type(decoder.color_type());
    let dynamic =
        image::DynamicImage::from_decoder(decoder).map_err(|e| DataError::decode(path, e))?;
    let image = dynamic.into_rgb8();
    Ok(Decoded {
        image,
        info: ImageInfo {
            width: w,
            height: h,
            format,
            mode,
        },
        truncated: false,
    })
}

/// Reads only the header of `path`: size, format and pixel mode, without decoding pixels.
pub fn probe(path: &Path) -> Result<ImageInfo> {
    use std::io::Read;
    let mut head = Vec::with_capacity(64);
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    file.take(64)
        .read_to_end(&mut head)
        .map_err(|e| DataError::io(path, e))?;
    if head.is_empty() {
        return Err(DataError::decode(path, "empty file (0 bytes)"));
    }
    let format = sniff_format(&head)
        .ok_or_else(|| DataError::decode(path, "not an image: unrecognised file signature"))?;
    if !format.is_supported() {
        return Err(DataError::decode(
            path,
            format!("unsupported format {format:?}"),
        ));
    }
    if format == FileFormat::Jpeg {
        // JPEG headers can sit behind large EXIF blocks; read the file (cheap next to a decode).
        use zune_core::bytestream::ZCursor;
        let bytes = read_file(path)?;
        let mut dec = zune_jpeg::JpegDecoder::new(ZCursor::new(bytes.as_slice()));
        dec.decode_headers()
            .map_err(|e| DataError::decode(path, format!("JPEG header: {e:?}")))?;
        let (w, h) = dec
            .dimensions()
            .ok_or_else(|| DataError::decode(path, "JPEG without dimensions"))?;
        let mode = dec
            .input_colorspace()
            .map(PixelMode::from_zune)
            .unwrap_or(PixelMode::Other);
        return Ok(ImageInfo {
            width: w as u32,
            height: h as u32,
            format,
            mode,
        });
    }
    use image::ImageDecoder;
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let decoder = reader
        .into_decoder()
        .map_err(|e| DataError::decode(path, e))?;
    let (width, height) = decoder.dimensions();
    Ok(ImageInfo {
        width,
        height,
        format,
        mode: PixelMode::from_color_type(decoder.color_type()),
    })
}
