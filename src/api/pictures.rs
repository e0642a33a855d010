//! PUT/POST/DELETE /profile/picture. The upload is read as a stream: the
//! moment the body crosses MAX_UPLOAD_BYTES the request ends with 413, and
//! nothing beyond the limit is held. Processing (decode, resize, encode)
//! waits for one of the CPU permits (about one per core) and runs on the
//! blocking pool, so large uploads never stall other requests; storing the
//! picture and the transaction then run without that permit, their
//! connection queued in the pool like any other database work.

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
use crate::api::{blocking, cpu_bound};
use crate::context::AppContext;
use crate::imaging::ACCEPTED_TYPES;
use crate::models::User;
use crate::services::pictures;

/// The multipart form of an upload, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct PictureUpload {
    /// The picture: JPEG, PNG, WebP or GIF (first frame), recognised by its bytes.
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    image: Vec<u8>,
}

/// Upload a new profile picture (multipart/form-data, file field `image`).
#[utoipa::path(
    put, path = "/profile/picture", operation_id = "profile_picture_update", tag = "pictures",
    request_body(content = PictureUpload, content_type = "multipart/form-data",
        description = "Accepted: image/jpeg, image/png, image/webp, image/gif (first frame)."),
    responses(
        (status = 200, description = "The profile with its new picture", body = ProfileBody),
        (status = 400, description = "Not a readable multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_UPLOAD_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart, or not an accepted image type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No image part; a truncated or corrupt image; too many pixels; or too complex (scans, decoder memory, PICTURE_TIMEOUT)", body = Problem, content_type = "application/problem+json"),
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
    let upload = tokio::time::timeout(
        body_time_limit(&req),
        read_image_part(&req, payload, ctx.settings.max_upload_bytes),
    )
    .await
    .map_err(|_| body_too_slow())??;
    let time_limit = ctx.settings.picture_timeout;
    let picture = cpu_bound(&ctx, time_limit, move |ctx| pictures::process(ctx, &upload))
        .await?
        .ok_or_else(|| {
            image_field_error(&format!(
                "The image is too complex: it could not be processed within {} s.",
                time_limit.as_secs()
            ))
        })??;
    let (user, profile) =
        blocking(&ctx, move |ctx| pictures::replace(ctx, &user, picture)).await??;
    Ok(HttpResponse::Ok().json(ProfileBody::new(&user, &profile, ctx.storage.as_ref())))
}

/// The same as PUT, for clients that can only POST forms.
#[utoipa::path(
    post, path = "/profile/picture", operation_id = "profile_picture_create", tag = "pictures",
    request_body(content = PictureUpload, content_type = "multipart/form-data",
        description = "Accepted: image/jpeg, image/png, image/webp, image/gif (first frame)."),
    responses(
        (status = 200, description = "The profile with its new picture", body = ProfileBody),
        (status = 400, description = "Not a readable multipart body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over MAX_UPLOAD_BYTES", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not multipart, or not an accepted image type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No image part; a truncated or corrupt image; too many pixels; or too complex (scans, decoder memory, PICTURE_TIMEOUT)", body = Problem, content_type = "application/problem+json"),
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
    responses(
        (status = 200, description = "The profile, on the default picture", body = ProfileBody),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over UPLOAD_RATE for this user", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []))
)]
pub async fn reset(
    ctx: web::Data<AppContext>,
    AuthUser(user): AuthUser,
) -> Result<HttpResponse, ApiError> {
    within_upload_rate(&ctx, &user)?;
    let (user, profile) = blocking(&ctx, move |ctx| pictures::reset(ctx, &user)).await??;
    Ok(HttpResponse::Ok().json(ProfileBody::new(&user, &profile, ctx.storage.as_ref())))
}

/// UPLOAD_RATE: picture writes per user, counted before the body is read.
fn within_upload_rate(ctx: &AppContext, user: &User) -> Result<(), ApiError> {
    ctx.upload_rate
        .allow(user.id)
        .map_err(|wait| ApiError::too_many("Too many picture changes. Try again later.", wait))
}

/// Reads the multipart body and returns the bytes of its `image` part,
/// counting every byte of the body against `max_bytes`.
async fn read_image_part(
    req: &HttpRequest,
    payload: web::Payload,
    max_bytes: usize,
) -> Result<Vec<u8>, ApiError> {
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
    let mut image: Option<Vec<u8>> = None;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|error| multipart_error(error, over_limit(), too_large))?;
        let wanted = image.is_none() && field.name() == Some("image");
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|error| multipart_error(error, over_limit(), too_large))?;
            if wanted {
                bytes.extend_from_slice(&chunk);
            }
        }
        if wanted {
            image = Some(bytes);
        }
    }
    match image {
        Some(bytes) if !bytes.is_empty() => Ok(bytes),
        Some(_) => Err(image_field_error("The submitted file is empty.")),
        None => Err(image_field_error(
            "No file was submitted in the 'image' part.",
        )),
    }
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
