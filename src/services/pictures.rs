//! Profile pictures: process an upload, store it under a new name, point
//! the profile at it in one transaction, and only then remove the old file.
//! If anything fails after the new file is written, the guard removes it:
//! a failed upload leaves neither a new file nor a changed profile.
//! Processing (`process`) is CPU work alone, run under a CPU permit the
//! caller holds; storing and the transaction (`replace`) hold none. The
//! rule "the default picture is never deleted" lives here.

use std::sync::Arc;

use diesel::prelude::*;

use crate::context::AppContext;
use crate::db::schema::profiles;
use crate::db::transaction::{atomic, UnitOfWork};
use crate::error::{FieldErrors, ServiceError};
use crate::imaging::{self, ImageLimits, ImagingError, Picture};
use crate::models::profile::{DEFAULT_IMAGE, DEFAULT_IMAGE_SIZE};
use crate::models::{Profile, User, UserWithProfile};
use crate::services::connection;
use crate::services::users::find;
use crate::storage::{self, NewFile, Storage, PROFILE_PICS_DIR};

/// The shipped default picture, put into the store at start when missing.
pub const DEFAULT_IMAGE_BYTES: &[u8] = include_bytes!("../../media/default.jpg");

/// Puts the default picture into the store unless it is there already.
pub fn install_default(storage: &dyn Storage) -> std::io::Result<()> {
    if storage.exists(DEFAULT_IMAGE)? {
        return Ok(());
    }
    storage.save_all(&[NewFile {
        name: DEFAULT_IMAGE.to_owned(),
        content_type: "image/jpeg",
        bytes: DEFAULT_IMAGE_BYTES,
    }])
}

/// The pipeline for an upload, with the configured limits: CPU only, no
/// database, no files.
pub fn process(ctx: &AppContext, upload: &[u8]) -> Result<Picture, ServiceError> {
    let limits = ImageLimits {
        max_pixels: ctx.settings.max_image_pixels,
        avatar_size: ctx.settings.avatar_size,
        max_decode_bytes: ctx.settings.max_decode_bytes,
    };
    imaging::process(upload, &limits).map_err(picture_error)
}

/// Stores `picture` and makes it `user`'s.
pub fn replace(
    ctx: &AppContext,
    user: &User,
    picture: Picture,
) -> Result<UserWithProfile, ServiceError> {
    let name = storage::new_name(PROFILE_PICS_DIR, picture.format.extension());
    ctx.storage
        .save_all(&[NewFile {
            name: name.clone(),
            content_type: picture.format.content_type(),
            bytes: &picture.bytes,
        }])
        .map_err(|error| ServiceError::internal(format!("cannot store a picture: {error}")))?;
    let stored = StoredFileGuard {
        storage: Arc::clone(&ctx.storage),
        name: Some(name),
    };

    let mut conn = connection(ctx)?;
    let result = atomic(&mut conn, |work| {
        let dimensions = (picture.width as i32, picture.height as i32);
        point_profile_at(ctx, work, user.id, stored.name(), dimensions)
    })?;
    stored.keep();
    Ok(result)
}

/// Puts `user`'s profile back on the default picture.
pub fn reset(ctx: &AppContext, user: &User) -> Result<UserWithProfile, ServiceError> {
    let mut conn = connection(ctx)?;
    atomic(&mut conn, |work| {
        point_profile_at(ctx, work, user.id, DEFAULT_IMAGE, DEFAULT_IMAGE_SIZE)
    })
}

/// Deletes the picture `image` once the transaction commits, unless it is
/// the default picture, which is never deleted.
pub fn delete_after_commit(work: &mut UnitOfWork<'_>, storage: &Arc<dyn Storage>, image: &str) {
    if image == DEFAULT_IMAGE {
        return;
    }
    let storage = Arc::clone(storage);
    let image = image.to_owned();
    work.on_commit(move || delete_now(storage.as_ref(), &image));
}

/// Deletes a stored picture now (the default one never); a failure is
/// logged, and `portrait check` will find the file as a stray.
pub fn delete_now(storage: &dyn Storage, image: &str) {
    if image == DEFAULT_IMAGE {
        return;
    }
    if let Err(error) = storage.delete(image) {
        tracing::warn!(%image, %error, "could not delete a stored picture");
    }
}

fn point_profile_at(
    ctx: &AppContext,
    work: &mut UnitOfWork<'_>,
    user_id: i64,
    image: &str,
    (width, height): (i32, i32),
) -> Result<UserWithProfile, ServiceError> {
    // Locked: two uploads at once must not both delete the same old file
    // and leave the first one's new file behind.
    let old: Profile = Profile::of_user_for_update(work.conn, user_id)?.ok_or(
        ServiceError::Unauthenticated("This account no longer exists."),
    )?;
    diesel::update(profiles::table.filter(profiles::user_id.eq(user_id)))
        .set((
            profiles::image.eq(image),
            profiles::image_width.eq(width),
            profiles::image_height.eq(height),
            profiles::updated_at.eq(crate::clock::now()),
        ))
        .execute(work.conn)?;
    if old.image != image {
        delete_after_commit(work, &ctx.storage, &old.image);
    }
    find(work.conn, user_id)
}

fn picture_error(error: ImagingError) -> ServiceError {
    match error {
        ImagingError::Unsupported => ServiceError::UnsupportedMediaType(format!(
            "Unsupported image type. Accepted types: {}.",
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

/// Removes a freshly stored file unless `keep` is called: whatever fails
/// between writing the file and committing the row, no stray file stays.
struct StoredFileGuard {
    storage: Arc<dyn Storage>,
    name: Option<String>,
}

impl StoredFileGuard {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    fn keep(mut self) {
        self.name = None;
    }
}

impl Drop for StoredFileGuard {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            delete_now(self.storage.as_ref(), &name);
        }
    }
}
