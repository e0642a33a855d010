//! How a profile's picture files are named and recorded: every rendition
//! of one picture shares a random stem, `<stem>-<width>.<ext>`, once in the
//! primary format (JPEG or PNG) and once in WebP; the row keeps the stem,
//! the rendition sizes (`64x48,128x96,…`), the URL rendition's name and
//! size, and the ThumbHash. Pure: names and text, no I/O. A row from before
//! renditions (no sizes) is one file, its `image`.

use crate::imaging::StoredFormat;
use crate::models::Profile;

/// Every file of one stored picture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PictureFiles {
    pub stem: String,
    pub primary: StoredFormat,
    /// Each rendition's (width, height), smallest first.
    pub sizes: Vec<(u32, u32)>,
}

/// One file of a picture: its stored name, size and format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub format: StoredFormat,
}

impl PictureFiles {
    /// The stored name of the `width` rendition in `format`.
    pub fn name(&self, width: u32, format: StoredFormat) -> String {
        format!("{}-{width}.{}", self.stem, format.extension())
    }

    /// Every file: each size in the primary format, then in WebP.
    pub fn variants(&self) -> Vec<Variant> {
        [self.primary, StoredFormat::WebP]
            .into_iter()
            .flat_map(|format| {
                self.sizes.iter().map(move |&(width, height)| Variant {
                    name: self.name(width, format),
                    width,
                    height,
                    format,
                })
            })
            .collect()
    }

    /// The rendition `image.url` shows: the largest that fits AVATAR_SIZE,
    /// or the smallest when none does.
    pub fn url_size(&self, avatar_size: u32) -> (u32, u32) {
        self.sizes
            .iter()
            .rev()
            .find(|(w, h)| (*w).max(*h) <= avatar_size)
            .or(self.sizes.first())
            .copied()
            .unwrap_or((0, 0))
    }

    /// The sizes as the row keeps them: `64x48,128x96`.
    pub fn sizes_column(&self) -> String {
        self.sizes
            .iter()
            .map(|(w, h)| format!("{w}x{h}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The files of an uploaded picture with renditions; `None` for the
    /// default picture and for a row from before renditions.
    pub fn of_profile(profile: &Profile) -> Option<Self> {
        let sizes = parse_sizes(&profile.image_variants)?;
        let extension = profile.image.rsplit_once('.')?.1;
        Some(Self {
            stem: profile.image_stem.clone(),
            primary: StoredFormat::of_extension(extension)?,
            sizes,
        })
    }
}

fn parse_sizes(column: &str) -> Option<Vec<(u32, u32)>> {
    if column.is_empty() {
        return None;
    }
    column
        .split(',')
        .map(|pair| {
            let (w, h) = pair.split_once('x')?;
            Some((w.parse().ok()?, h.parse().ok()?))
        })
        .collect()
}

/// The stem a stored file name belongs to: `<stem>-<width>.<ext>` gives
/// `<stem>`; any other name is its own stem (a file from before
/// renditions).
pub fn stem_of(name: &str) -> &str {
    let Some((base, extension)) = name.rsplit_once('.') else {
        return name;
    };
    if StoredFormat::of_extension(extension).is_none() {
        return name;
    }
    match base.rsplit_once('-') {
        Some((stem, width))
            if !stem.is_empty()
                && !width.is_empty()
                && width.bytes().all(|b| b.is_ascii_digit()) =>
        {
            stem
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> PictureFiles {
        PictureFiles {
            stem: "profile_pics/ab12".into(),
            primary: StoredFormat::Jpeg,
            sizes: vec![(64, 48), (128, 96), (300, 225), (600, 450)],
        }
    }

    #[test]
    fn every_rendition_shares_the_stem() {
        let names: Vec<String> = files().variants().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 8);
        assert_eq!(names[0], "profile_pics/ab12-64.jpg");
        assert_eq!(names[7], "profile_pics/ab12-600.webp");
        for name in &names {
            assert_eq!(stem_of(name), "profile_pics/ab12");
        }
        assert_eq!(stem_of("profile_pics/0f0f.jpg"), "profile_pics/0f0f.jpg");
        assert_eq!(stem_of("profile_pics/x-y.jpg"), "profile_pics/x-y.jpg");
    }

    #[test]
    fn the_url_rendition_is_the_largest_within_avatar_size() {
        assert_eq!(files().url_size(300), (300, 225));
        assert_eq!(files().url_size(1000), (600, 450));
        assert_eq!(files().url_size(10), (64, 48));
        assert_eq!(files().sizes_column(), "64x48,128x96,300x225,600x450");
        assert_eq!(parse_sizes("64x48,128x96"), Some(vec![(64, 48), (128, 96)]));
        assert_eq!(parse_sizes(""), None);
        assert_eq!(parse_sizes("64x"), None);
    }
}
