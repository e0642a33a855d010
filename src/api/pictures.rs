//! PUT/POST/DELETE /profile/picture. The upload is read as a stream: the
//! moment the body crosses MAX_UPLOAD_BYTES the request ends with 413, and
//! nothing beyond the limit is held. Processing (decode, resize, encode)
//! waits for one of the CPU permits (about one per core) and runs on the
//! blocking pool, so large uploads never stall other requests; storing the
//! picture and the transaction then run without that permit, their
//! connection queued in the pool like any other database work. The form
//! may carry a `crop` text part, before or after the `image` part; a
//! stale `If-Match` is checked in the transaction, on the locked profile.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_multipart::{Multipart, MultipartError};
use actix_web::error::PayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::api::body::{body_time_limit, body_too_slow};
use crate::api::dto::ProfileBody;
use crate::api::error::{ApiError, FieldErrors, Problem};
use crate::api::extract::AuthUser;
use crate::api::profiles::{if_match, profile_answer};
use crate::api::{blocking, cpu_bound};
use crate::context::AppContext;
use crate::imaging::{Crop, ACCEPTED_TYPES};
use crate::models::User;
use crate::services::pictures;

/// The multipart form of an upload, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PictureUpload {
    /// The picture: JPEG, PNG, WebP or GIF (first frame), recognised by its bytes.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    image: Vec<u8>,
    /// The part to keep, `x,y,w,h` as fractions (0–1) of the picture after
    /// its EXIF orientation, applied before resizing; the whole picture
    /// when absent.
    #[schema(
        nullable = false,
        pattern = r"^\s*[0-9.eE+-]+\s*(,\s*[0-9.eE+-]+\s*){3}$",
        example = "0.1,0,0.8,1"
    )]
    crop: Option<String>,
}

/// The longest `crop` part read; a longer one is no crop.
const MAX_CROP_BYTES: usize = 256;

/// Upload a new profile picture (multipart/form-data, file field `image`).
#[utoipa::path(
    put, path = "/profile/picture", operation_id = "profile_picture_update", tag = "pictures",
    params(("If-Match" = Option<String>, Header, description = "The ETag of the profile as last read: the change is made only if it is still current (412 otherwise)")),
    request_body(content = PictureUpload, content_type = "multipart/form-data",
        description = "Accepted: image/jpeg, image/png, image/webp, image/gif (first frame)."),
    responses(
        (status = 200, description = "The profile with its new picture", body = ProfileBody,
         headers(("ETag" = String, description = "The profile's new version"))),
        (status = 400, description = "Not a readable multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_UPLOAD_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not name the current version: nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart, or not an accepted image type (HEIC, HEIF and AVIF are named in the detail)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No image part; a truncated or corrupt image; too many pixels; too complex (scans, decoder memory, PICTURE_TIMEOUT); or a malformed or out-of-range crop", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over UPLOAD_RATE for this user", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []))
)]
pub async fn upload(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    AuthUser(user): AuthUser,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    within_upload_rate(&ctx, &user)?;
    let form = tokio::time::timeout(
        body_time_limit(&req),
        read_form(&req, payload, ctx.settings.max_upload_bytes),
    )
    .await
    .map_err(|_| body_too_slow())??;
    let (upload, crop) = form.validated()?;
    let precondition = if_match(&req);
    let picture = processed(&ctx, upload, crop).await?;
    let (user, profile) = blocking(&ctx, move |ctx| {
        pictures::replace(ctx, &user, picture, precondition)
    })
    .await??;
    Ok(profile_answer(&ctx, &user, &profile))
}

/// The same as PUT, for clients that can only POST forms.
#[utoipa::path(
    post, path = "/profile/picture", operation_id = "profile_picture_create", tag = "pictures",
    params(("If-Match" = Option<String>, Header, description = "The ETag of the profile as last read: the change is made only if it is still current (412 otherwise)")),
    request_body(content = PictureUpload, content_type = "multipart/form-data",
        description = "Accepted: image/jpeg, image/png, image/webp, image/gif (first frame)."),
    responses(
        (status = 200, description = "The profile with its new picture", body = ProfileBody,
         headers(("ETag" = String, description = "The profile's new version"))),
        (status = 400, description = "Not a readable multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_UPLOAD_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not name the current version: nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart, or not an accepted image type (HEIC, HEIF and AVIF are named in the detail)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No image part; a truncated or corrupt image; too many pixels; too complex (scans, decoder memory, PICTURE_TIMEOUT); or a malformed or out-of-range crop", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over UPLOAD_RATE for this user", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []))
)]
pub async fn upload_post(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    user: AuthUser,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    upload(ctx, req, user, payload).await
}

/// Go back to the default picture; the uploaded file is removed.
#[utoipa::path(
    delete, path = "/profile/picture", operation_id = "profile_picture_destroy", tag = "pictures",
    params(("If-Match" = Option<String>, Header, description = "The ETag of the profile as last read: the change is made only if it is still current (412 otherwise)")),
    responses(
        (status = 200, description = "The profile, on the default picture", body = ProfileBody,
         headers(("ETag" = String, description = "The profile's new version"))),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not name the current version: nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over UPLOAD_RATE for this user", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []))
)]
pub async fn reset(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    AuthUser(user): AuthUser,
) -> Result<HttpResponse, ApiError> {
    within_upload_rate(&ctx, &user)?;
    let precondition = if_match(&req);
    let (user, profile) =
        blocking(&ctx, move |ctx| pictures::reset(ctx, &user, precondition)).await??;
    Ok(profile_answer(&ctx, &user, &profile))
}

/// UPLOAD_RATE: picture writes per user, counted before the body is read.
fn within_upload_rate(ctx: &AppContext, user: &User) -> Result<(), ApiError> {
    ctx.upload_rate
        .allow(user.id)
        .map_err(|wait| ApiError::too_many("Too many picture changes. Try again later.", wait))
}

/// What an upload form held: the first `image` part and `crop` part.
/// Decodes, crops and encodes every rendition on a CPU permit, within
/// PICTURE_TIMEOUT (422 past it).
pub(crate) async fn processed(
    ctx: &web::Data<AppContext>,
    upload: Vec<u8>,
    crop: Crop,
) -> Result<crate::imaging::Picture, ApiError> {
    let time_limit = ctx.settings.picture_timeout;
    cpu_bound(ctx, time_limit, move |ctx, threads| {
        pictures::process(ctx, &upload, crop, threads)
    })
    .await?
    .ok_or_else(|| {
        image_field_error(&format!(
            "The image is too complex: it could not be processed within {} s.",
            time_limit.as_secs()
        ))
    })?
    .map_err(ApiError::from)
}

pub(crate) struct UploadForm {
    image: Option<Vec<u8>>,
    crop: Option<Vec<u8>>,
    /// The admin's upload form carries its CSRF token as a part.
    pub(crate) csrf_token: Option<Vec<u8>>,
}

impl UploadForm {
    /// The picture's bytes and the crop, or a 422 naming every bad part.
    pub(crate) fn validated(self) -> Result<(Vec<u8>, Crop), ApiError> {
        let mut errors = FieldErrors::new();
        let image = match self.image {
            Some(bytes) if !bytes.is_empty() => Some(bytes),
            Some(_) => {
                errors.insert("image".into(), vec!["The submitted file is empty.".into()]);
                None
            }
            None => {
                errors.insert(
                    "image".into(),
                    vec!["No file was submitted in the 'image' part.".into()],
                );
                None
            }
        };
        let crop = match self.crop {
            None => Some(Crop::WHOLE),
            Some(raw) if raw.len() > MAX_CROP_BYTES => {
                errors.insert("crop".into(), vec!["The crop is too long.".into()]);
                None
            }
            Some(raw) => match std::str::from_utf8(&raw)
                .map_err(|_| String::new())
                .and_then(Crop::parse)
            {
                Ok(crop) => Some(crop),
                Err(message) => {
                    let message = if message.is_empty() {
                        "Enter the crop as x,y,w,h: four numbers from 0 to 1.".to_owned()
                    } else {
                        message
                    };
                    errors.insert("crop".into(), vec![message]);
                    None
                }
            },
        };
        match (image, crop) {
            (Some(image), Some(crop)) if errors.is_empty() => Ok((image, crop)),
            _ => Err(ApiError::validation(errors)),
        }
    }
}

/// Reads the multipart body: the first `image` part and the first `crop`
/// part, counting every byte of the body against `max_bytes` (a `crop`
/// part is kept only up to a little over its longest sensible length).
pub(crate) async fn read_form(
    req: &HttpRequest,
    payload: web::Payload,
    max_bytes: usize,
) -> Result<UploadForm, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The upload is larger than {max_bytes} bytes."),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }

    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let limited = payload.map(move |chunk| {
        let chunk = chunk?;
        if counter.fetch_add(chunk.len(), Ordering::Relaxed) + chunk.len() > max_bytes {
            return Err(PayloadError::Overflow);
        }
        Ok(chunk)
    });
    let over_limit = || received.load(Ordering::Relaxed) > max_bytes;

    let mut multipart = Multipart::new(req.headers(), limited);
    let mut form = UploadForm {
        image: None,
        crop: None,
        csrf_token: None,
    };
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|error| multipart_error(error, over_limit(), too_large))?;
        let (wanted, keep) = match field.name() {
            Some("image") if form.image.is_none() => (Some(&mut form.image), usize::MAX),
            Some("crop") if form.crop.is_none() => (Some(&mut form.crop), MAX_CROP_BYTES + 1),
            Some("csrfmiddlewaretoken") if form.csrf_token.is_none() => {
                (Some(&mut form.csrf_token), 128)
            }
            _ => (None, 0),
        };
        // Room for the whole part at once when the body's length is known
        // (never past the limit): a 10 MB photo is not copied ten times.
        let mut bytes = Vec::with_capacity(if keep == usize::MAX {
            declared.map_or(0, |length| length as usize).min(max_bytes)
        } else {
            0
        });
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|error| multipart_error(error, over_limit(), too_large))?;
            if bytes.len() < keep {
                let room = keep - bytes.len();
                bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
        if let Some(slot) = wanted {
            *slot = Some(bytes);
        }
    }
    Ok(form)
}

fn image_field_error(message: &str) -> ApiError {
    ApiError::validation(FieldErrors::from([(
        "image".to_owned(),
        vec![message.to_owned()],
    )]))
}

fn multipart_error(
    error: MultipartError,
    over_limit: bool,
    too_large: impl Fn() -> ApiError,
) -> ApiError {
    if over_limit {
        return too_large();
    }
    match error {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Send the picture as multipart/form-data with a file part named 'image' ({ACCEPTED_TYPES})."),
        ),
        _ => ApiError::bad_request("The multipart body could not be read."),
    }
}
