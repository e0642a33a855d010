//! GET /media/{path}: stored files, from MEDIA_ROOT only. Names are
//! resolved by `LocalMediaStorage::resolve`, which refuses `..`, absolute
//! paths, hidden files and symbolic links that leave the root; directories
//! are never listed. Pictures are small, so a file is read whole in one
//! blocking call and answered with an ETag and conditional GET (larger
//! files, which portrait never stores itself, are streamed). Uploaded
//! pictures never change under a name, so they are cached forever; a CSP
//! keeps any stored file from running script.

use std::time::UNIX_EPOCH;

use actix_files::NamedFile;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::context::AppContext;
use crate::error::{ApiError, Problem};
use crate::media::PROFILE_PICS_DIR;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "public, max-age=3600";
const SANDBOX: &str = "default-src 'none'; sandbox";
/// Files up to this size are read whole.
const INLINE_LIMIT: u64 = 4 * 1024 * 1024;

/// A stored file.
#[utoipa::path(
    get, path = "/media/{path}", tag = "media",
    params(("path" = String, Path, description = "The stored name, as in a profile's image.url")),
    responses(
        (status = 200, description = "The file", content_type = "image/jpeg",
         headers(("Cache-Control" = String), ("ETag" = String))),
        (status = 304, description = "Not modified (If-None-Match)"),
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
    let (small, large) = web::block(move || match media.read_small(&lookup, INLINE_LIMIT) {
        Some(file) => (Some(file), None),
        None => (None, media.resolve(&lookup).filter(|path| path.is_file())),
    })
    .await?;
    let cache = if name.starts_with(&format!("{PROFILE_PICS_DIR}/")) {
        IMMUTABLE
    } else {
        REVALIDATE
    };

    let mut response = if let Some(file) = small {
        let modified = file
            .modified
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let etag = format!("\"{:x}-{:x}\"", file.bytes.len(), modified);
        let unchanged = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| {
                tags.split(',')
                    .any(|tag| tag.trim() == etag || tag.trim() == "*")
            });
        let mut builder = HttpResponse::build(if unchanged {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::OK
        });
        builder
            .insert_header((header::ETAG, etag))
            .insert_header((header::LAST_MODIFIED, header::HttpDate::from(file.modified)));
        if unchanged {
            builder.finish()
        } else {
            builder.content_type(content_type(&name)).body(file.bytes)
        }
    } else {
        let path = large.ok_or_else(not_found)?;
        let file = NamedFile::open_async(&path)
            .await
            .map_err(|_| not_found())?;
        file.disable_content_disposition().into_response(&req)
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SANDBOX),
    );
    Ok(response)
}

fn content_type(name: &str) -> &'static str {
    match name
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}
