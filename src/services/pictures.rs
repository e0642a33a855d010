//! Profile pictures: process an upload, store it under a new name, point
//! the profile at it in one transaction, and only then remove the old file.
//! If anything fails after the new file is written, the guard removes it:
//! a failed upload leaves neither a new file nor a changed profile. The
//! default picture is never removed.

use std::sync::Arc;

use diesel::prelude::*;

use crate::context::AppContext;
use crate::db::schema::profiles;
use crate::error::{FieldErrors, ServiceError};
use crate::imaging::{self, ImageLimits, ImagingError};
use crate::media::{LocalMediaStorage, MediaStorage, PROFILE_PICS_DIR};
use crate::models::profile::{DEFAULT_IMAGE, DEFAULT_IMAGE_SIZE};
use crate::models::{Profile, User};
use crate::services::users::{find, UserWithProfile};
use crate::services::{atomic, connection, UnitOfWork};

/// Replaces `user`'s picture with the uploaded bytes.
pub fn replace(
    ctx: &AppContext,
    user: &User,
    upload: &[u8],
) -> Result<UserWithProfile, ServiceError> {
    let limits = ImageLimits {
        max_pixels: ctx.settings.max_image_pixels,
        avatar_size: ctx.settings.avatar_size,
    };
    let picture = imaging::process(upload, &limits).map_err(picture_error)?;
    let name = ctx
        .media
        .save(PROFILE_PICS_DIR, picture.format.extension(), &picture.bytes)
        .map_err(|error| ServiceError::internal(format!("cannot store a picture: {error}")))?;
    let stored = StoredFileGuard::new(Arc::clone(&ctx.media), name);

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

fn point_profile_at(
    ctx: &AppContext,
    work: &mut UnitOfWork<'_>,
    user_id: i64,
    image: &str,
    (width, height): (i32, i32),
) -> Result<UserWithProfile, ServiceError> {
    let old: Profile = profiles::table
        .filter(profiles::user_id.eq(user_id))
        .select(Profile::as_select())
        .first(work.conn)
        .optional()?
        .ok_or(ServiceError::Unauthenticated(
            "This account no longer exists.",
        ))?;
    diesel::update(profiles::table.filter(profiles::user_id.eq(user_id)))
        .set((
            profiles::image.eq(image),
            profiles::image_width.eq(width),
            profiles::image_height.eq(height),
            profiles::updated_at.eq(crate::clock::now()),
        ))
        .execute(work.conn)?;
    if old.image != image && !old.has_default_image() {
        let media = Arc::clone(&ctx.media);
        work.on_commit(move || media.delete(&old.image));
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
    media: Arc<LocalMediaStorage>,
    name: Option<String>,
}

impl StoredFileGuard {
    fn new(media: Arc<LocalMediaStorage>, name: String) -> Self {
        Self {
            media,
            name: Some(name),
        }
    }

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
            self.media.delete(&name);
        }
    }
}
