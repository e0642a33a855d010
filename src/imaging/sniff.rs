//! Which accepted format a picture is, from its first bytes only: the
//! file's name and the Content-Type a client claims are never trusted.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFormat {
    Jpeg,
    Png,
    WebP,
    Gif,
}

/// Recognises an accepted format from the first bytes only.
pub fn sniff(bytes: &[u8]) -> Option<SourceFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(SourceFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(SourceFormat::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(SourceFormat::Gif)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(SourceFormat::WebP)
    } else {
        None
    }
}

/// A format recognised but not accepted (phones' HEIC, and AVIF), from
/// the ISO-BMFF `ftyp` box's brands: its name and media type, for the 415.
pub fn refused_format(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = size.clamp(16, bytes.len());
    // The major brand, then the compatible brands (after the version).
    let brands = std::iter::once(&bytes[8..12]).chain(bytes[16..end].chunks_exact(4));
    let mut found = None;
    for brand in brands {
        let format = match brand {
            b"avif" | b"avis" => Some(("AVIF", "image/avif")),
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => {
                Some(("HEIC", "image/heic"))
            }
            b"mif1" | b"msf1" => Some(("HEIF", "image/heif")),
            _ => None,
        };
        // AVIF and HEIC say more than the generic HEIF brands.
        match (found, format) {
            (_, Some(("AVIF", _))) => return format,
            (None | Some(("HEIF", _)), Some(_)) => found = format,
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut bytes = (size as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(major);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        for brand in compatible {
            bytes.extend_from_slice(*brand);
        }
        bytes.extend_from_slice(b"\0\0\0\x08mdat");
        bytes
    }

    #[test]
    fn heic_heif_and_avif_are_recognised_by_their_brands() {
        assert_eq!(
            refused_format(&ftyp(b"heic", &[b"mif1", b"heic"]))
                .unwrap()
                .0,
            "HEIC"
        );
        assert_eq!(
            refused_format(&ftyp(b"mif1", &[b"heic"])).unwrap().0,
            "HEIC"
        );
        assert_eq!(
            refused_format(&ftyp(b"avif", &[b"mif1"])).unwrap().0,
            "AVIF"
        );
        assert_eq!(
            refused_format(&ftyp(b"mif1", &[b"avif"])).unwrap().0,
            "AVIF"
        );
        assert_eq!(refused_format(&ftyp(b"mif1", &[])).unwrap().1, "image/heif");
        assert_eq!(refused_format(&ftyp(b"isom", &[b"mp41"])), None);
        assert_eq!(refused_format(b"\xFF\xD8\xFF\xE0rest-of-a-jpeg"), None);
    }

    #[test]
    fn sniffing_uses_bytes_only() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(SourceFormat::Jpeg));
        assert_eq!(sniff(b"GIF89a..."), Some(SourceFormat::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(SourceFormat::WebP));
        assert_eq!(sniff(b"<svg xmlns="), None);
        assert_eq!(sniff(b""), None);
    }
}
