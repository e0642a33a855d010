//! Profile pictures: process an upload into its renditions, store them all
//! under one new stem, point the profile at them in one transaction (after
//! checking `If-Match` on the locked row), and only then remove the old
//! picture's files. If anything fails after the new files are written, the
//! guard removes them all: a failed upload leaves neither a new file nor a
//! changed profile, and keeps every old one. Processing (`process`) is CPU
//! work alone, run under a CPU permit the caller holds; storing and the
//! transaction (`replace`) hold none. The rule "the default picture is
//! never deleted" lives here, and so does the default picture's own set of
//! renditions, made at start from the shipped file.

use std::sync::Arc;

use diesel::prelude::*;

use crate::context::AppContext;
use crate::db::schema::profiles;
use crate::db::transaction::{atomic, UnitOfWork};
use crate::error::{FieldErrors, ServiceError};
use crate::imaging::{self, Crop, ImageLimits, ImagingError, Picture, PictureSpec, StoredFormat};
use crate::models::picture::PictureFiles;
use crate::models::profile::{DEFAULT_IMAGE, DEFAULT_IMAGE_SIZE};
use crate::models::{Profile, User, UserWithProfile};
use crate::services::connection;
use crate::services::profiles::{check_precondition, IfMatch};
use crate::services::users::find;
use crate::settings::Settings;
use crate::storage::{self, NewFile, Storage, PROFILE_PICS_DIR};

/// The shipped default picture, put into the store at start when missing.
pub const DEFAULT_IMAGE_BYTES: &[u8] = include_bytes!("../../media/default.jpg");
/// The stem of the default picture's renditions (`default-64.jpg`, …).
const DEFAULT_STEM: &str = "default";

/// The default picture's renditions at the configured sizes: its files and
/// ThumbHash for every profile that shows it, and the bytes to install.
pub struct DefaultPicture {
    pub files: PictureFiles,
    pub thumbhash: String,
    picture: Picture,
}

/// Makes the default picture's renditions (CPU only: no store touched).
pub fn default_picture(settings: &Settings) -> Result<DefaultPicture, ServiceError> {
    let picture = imaging::process(
        DEFAULT_IMAGE_BYTES,
        &limits(settings),
        &spec(settings, Crop::WHOLE),
    )
    .map_err(|error| ServiceError::internal(format!("the default picture: {error}")))?;
    Ok(DefaultPicture {
        files: PictureFiles {
            stem: DEFAULT_STEM.into(),
            primary: picture.primary,
            sizes: picture.sizes.clone(),
        },
        thumbhash: picture.thumbhash.clone(),
        picture,
    })
}

/// Puts the default picture and its renditions into the store, each only
/// if it is missing: replicas starting together write the same bytes.
pub fn install_default(storage: &dyn Storage, default: &DefaultPicture) -> std::io::Result<()> {
    let mut missing = Vec::new();
    if !storage.exists(DEFAULT_IMAGE)? {
        missing.push(NewFile {
            name: DEFAULT_IMAGE.to_owned(),
            content_type: "image/jpeg",
            bytes: DEFAULT_IMAGE_BYTES,
        });
    }
    for rendition in &default.picture.renditions {
        let name = default.files.name(rendition.width, rendition.format);
        if !storage.exists(&name)? {
            missing.push(NewFile {
                name,
                content_type: rendition.format.content_type(),
                bytes: &rendition.bytes,
            });
        }
    }
    // One file at a time: replicas starting together write the same
    // bytes under the same names, and a failed set must never take back a
    // file another replica put and already serves.
    missing
        .iter()
        .try_for_each(|file| storage.save_all(std::slice::from_ref(file)))
}

/// Whether the default picture and every rendition of it are stored.
pub fn default_installed(storage: &dyn Storage, default: &DefaultPicture) -> std::io::Result<bool> {
    if !storage.exists(DEFAULT_IMAGE)? {
        return Ok(false);
    }
    for variant in default.files.variants() {
        if !storage.exists(&variant.name)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Every stored file of the picture `profile` shows; none for the default
/// picture, which is never deleted.
pub fn files_of(profile: &Profile) -> Vec<String> {
    if profile.has_default_image() {
        return Vec::new();
    }
    match PictureFiles::of_profile(profile) {
        Some(files) => files.variants().into_iter().map(|v| v.name).collect(),
        // Stored before renditions: one file.
        None => vec![profile.image.clone()],
    }
}

fn limits(settings: &Settings) -> ImageLimits {
    ImageLimits {
        max_pixels: settings.max_image_pixels,
        max_decode_bytes: settings.max_decode_bytes,
    }
}

/// What an upload is made into, with the configured sizes and qualities.
pub fn spec(settings: &Settings, crop: Crop) -> PictureSpec {
    PictureSpec {
        sizes: settings.avatar_sizes.clone(),
        crop,
        jpeg_quality: settings.jpeg_quality,
        webp_quality: settings.webp_quality,
        threads: 1,
    }
}

/// The pipeline for an upload, with the configured limits: CPU only, no
/// database, no files. `threads` is the CPU budget the caller holds.
pub fn process(
    ctx: &AppContext,
    upload: &[u8],
    crop: Crop,
    threads: usize,
) -> Result<Picture, ServiceError> {
    let spec = PictureSpec {
        threads,
        ..spec(&ctx.settings, crop)
    };
    imaging::process(upload, &limits(&ctx.settings), &spec).map_err(picture_error)
}

/// What a profile row records of its picture.
struct Shown<'a> {
    image: &'a str,
    size: (i32, i32),
    stem: &'a str,
    variants: &'a str,
    thumbhash: Option<&'a str>,
}

/// Stores every rendition of `picture` and makes it `user`'s, if the
/// profile still matches `precondition`.
pub fn replace(
    ctx: &AppContext,
    user: &User,
    picture: Picture,
    precondition: Option<IfMatch>,
) -> Result<UserWithProfile, ServiceError> {
    let files = PictureFiles {
        stem: storage::new_stem(PROFILE_PICS_DIR),
        primary: picture.primary,
        sizes: picture.sizes.clone(),
    };
    let new_files: Vec<NewFile<'_>> = picture
        .renditions
        .iter()
        .map(|rendition| NewFile {
            name: files.name(rendition.width, rendition.format),
            content_type: rendition.format.content_type(),
            bytes: &rendition.bytes,
        })
        .collect();
    ctx.storage.save_all(&new_files).map_err(|error| {
        crate::metrics::metrics().storage_error("save");
        ServiceError::internal(format!("cannot store a picture: {error}"))
    })?;
    let stored = StoredFilesGuard {
        storage: Arc::clone(&ctx.storage),
        names: new_files.into_iter().map(|file| file.name).collect(),
    };

    let (width, height) = files.url_size(ctx.settings.avatar_size);
    let image = files.name(width, files.primary);
    let variants = files.sizes_column();
    let shown = Shown {
        image: &image,
        size: (width as i32, height as i32),
        stem: &files.stem,
        variants: &variants,
        thumbhash: Some(&picture.thumbhash),
    };
    let mut conn = connection(ctx)?;
    let result = atomic(&mut conn, |work| {
        point_profile_at(ctx, work, user.id, &shown, precondition.as_ref())
    })?;
    stored.keep();
    Ok(result)
}

/// `portrait check --fix`: makes every rendition of `profile`'s picture
/// anew from its stored file `source` (the largest one left, or the one
/// file of a picture stored before renditions), under a new stem, and
/// points the profile at them if it still shows that picture; the old
/// files go after the commit.
pub fn regenerate(ctx: &AppContext, profile: &Profile, source: &str) -> Result<(), ServiceError> {
    let unreadable = |error: std::io::Error| ServiceError::internal(format!("{source}: {error}"));
    let Some(object) = ctx.storage.open(source, u64::MAX).map_err(unreadable)? else {
        return Ok(());
    };
    let bytes = match object.body {
        storage::ObjectBody::Bytes(bytes) => bytes,
        storage::ObjectBody::Reader(mut reader) => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut bytes).map_err(unreadable)?;
            bytes
        }
    };
    let picture = process(ctx, &bytes, Crop::WHOLE, 1)?;
    let (user, current) = unchanged(ctx, profile)?;
    match replace(ctx, &user, picture, Some(current)) {
        Ok(_) | Err(ServiceError::PreconditionFailed) => Ok(()),
        Err(error) => Err(error),
    }
}

/// `portrait check --fix`: a profile whose picture files are all gone goes
/// back to the default picture, if it still shows that picture.
pub fn reset_if_unchanged(ctx: &AppContext, profile: &Profile) -> Result<(), ServiceError> {
    let (user, current) = unchanged(ctx, profile)?;
    match reset(ctx, &user, Some(current)) {
        Ok(_) | Err(ServiceError::PreconditionFailed) => Ok(()),
        Err(error) => Err(error),
    }
}

/// The owner of `profile`, and the condition "the profile is still as the
/// check read it" (an upload may have replaced it since).
fn unchanged(ctx: &AppContext, profile: &Profile) -> Result<(User, IfMatch), ServiceError> {
    let user = User::find(&mut *connection(ctx)?, profile.user_id)?
        .ok_or(ServiceError::NotFound("No user with this id."))?;
    let current = IfMatch::Tags(vec![crate::services::profiles::etag(&user, profile)]);
    Ok((user, current))
}

/// Puts `user`'s profile back on the default picture, if it still matches
/// `precondition`.
pub fn reset(
    ctx: &AppContext,
    user: &User,
    precondition: Option<IfMatch>,
) -> Result<UserWithProfile, ServiceError> {
    let shown = Shown {
        image: DEFAULT_IMAGE,
        size: DEFAULT_IMAGE_SIZE,
        stem: DEFAULT_STEM,
        variants: "",
        thumbhash: None,
    };
    let mut conn = connection(ctx)?;
    atomic(&mut conn, |work| {
        point_profile_at(ctx, work, user.id, &shown, precondition.as_ref())
    })
}

/// Deletes every file of the picture `profile` showed once the
/// transaction commits (the default picture never).
pub fn delete_after_commit(
    work: &mut UnitOfWork<'_>,
    storage: &Arc<dyn Storage>,
    profile: &Profile,
) {
    let names = files_of(profile);
    if names.is_empty() {
        return;
    }
    let storage = Arc::clone(storage);
    work.on_commit(move || delete_now(storage.as_ref(), &names));
}

/// Deletes stored picture files now (the default one never); a failure is
/// logged, and `portrait check` will find the file as a stray.
pub fn delete_now(storage: &dyn Storage, names: &[String]) {
    for name in names {
        if name == DEFAULT_IMAGE || crate::models::picture::stem_of(name) == DEFAULT_STEM {
            continue;
        }
        if let Err(error) = storage.delete(name) {
            crate::metrics::metrics().storage_error("delete");
            tracing::warn!(%name, %error, "could not delete a stored picture");
        }
    }
}

fn point_profile_at(
    ctx: &AppContext,
    work: &mut UnitOfWork<'_>,
    user_id: i64,
    shown: &Shown<'_>,
    precondition: Option<&IfMatch>,
) -> Result<UserWithProfile, ServiceError> {
    // Locked: two uploads at once must not both delete the same old files
    // and leave the first one's new files behind, and If-Match is checked
    // against the version that is really replaced.
    let old: Profile = Profile::of_user_for_update(work.conn, user_id)?.ok_or(
        ServiceError::Unauthenticated("This account no longer exists."),
    )?;
    let (owner, _) = find(work.conn, user_id)?;
    check_precondition(precondition, &owner, &old)?;
    diesel::update(profiles::table.filter(profiles::user_id.eq(user_id)))
        .set((
            profiles::image.eq(shown.image),
            profiles::image_width.eq(shown.size.0),
            profiles::image_height.eq(shown.size.1),
            profiles::image_stem.eq(shown.stem),
            profiles::image_variants.eq(shown.variants),
            profiles::image_thumbhash.eq(shown.thumbhash),
            profiles::updated_at.eq(crate::clock::now()),
        ))
        .execute(work.conn)?;
    if old.image_stem != shown.stem {
        delete_after_commit(work, &ctx.storage, &old);
    }
    find(work.conn, user_id)
}

fn picture_error(error: ImagingError) -> ServiceError {
    match error {
        ImagingError::Unsupported => ServiceError::UnsupportedMediaType(format!(
            "Unsupported image type. Accepted types: {}.",
            imaging::ACCEPTED_TYPES
        )),
        ImagingError::Refused(name, media_type) => ServiceError::UnsupportedMediaType(format!(
            "{name} images ({media_type}) are not accepted. Accepted types: {}.",
            imaging::ACCEPTED_TYPES
        )),
        other => ServiceError::Invalid(FieldErrors::from([(
            "image".to_owned(),
            vec![capitalised(&other.to_string())],
        )])),
    }
}

fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// Removes freshly stored files unless `keep` is called: whatever fails
/// between writing the files and committing the row, no stray file stays.
struct StoredFilesGuard {
    storage: Arc<dyn Storage>,
    names: Vec<String>,
}

impl StoredFilesGuard {
    fn keep(mut self) {
        self.names.clear();
    }
}

impl Drop for StoredFilesGuard {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            delete_now(self.storage.as_ref(), &self.names);
        }
    }
}

/// The format of a stored name, from its extension (for pictures stored
/// before renditions, whose row records no format).
pub fn format_of(name: &str) -> StoredFormat {
    name.rsplit_once('.')
        .and_then(|(_, extension)| StoredFormat::of_extension(extension))
        .unwrap_or(StoredFormat::Jpeg)
}
