//! GET /media/{path}: stored files, from MEDIA_ROOT only. Names are
//! resolved by `MediaStorage::resolve`, which refuses `..`, absolute paths,
//! hidden files and symbolic links that leave the root; directories are
//! never listed. Uploaded pictures never change under a name, so they are
//! cached forever; a CSP keeps any stored file from running script.

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::context::AppContext;
use crate::error::{ApiError, Problem};
use crate::media::PROFILE_PICS_DIR;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "public, max-age=3600";

/// A stored file.
#[utoipa::path(
    get, path = "/media/{path}", tag = "media",
    params(("path" = String, Path, description = "The stored name, as in a profile's image.url")),
    responses(
        (status = 200, description = "The file", content_type = "image/jpeg",
         headers(("Cache-Control" = String), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match / If-Modified-Since)"),
        (status = 404, description = "No such file", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn serve(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = path.into_inner();
    let not_found = || ApiError::not_found("No such file.");
    let media = ctx.media.clone();
    let lookup = name.clone();
    let file = web::block(move || media.resolve(&lookup).filter(|path| path.is_file()))
        .await?
        .ok_or_else(not_found)?;
    let file = NamedFile::open_async(&file)
        .await
        .map_err(|_| not_found())?;
    let mut response = file.disable_content_disposition().into_response(&req);
    let cache = if name.starts_with(&format!("{PROFILE_PICS_DIR}/")) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}
