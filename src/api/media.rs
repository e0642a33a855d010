//! GET /media/{path}: stored files, from the store only. Names are checked
//! by the store, which refuses `..`, absolute paths, hidden files and
//! (on disk) symbolic links that leave MEDIA_ROOT; nothing is ever listed.
//! Pictures are small, so a file is read whole in one blocking call and
//! answered with an ETag and conditional GET (larger files, which portrait
//! never stores itself, are streamed in chunks). Uploaded pictures never
//! change under a name, so they are cached forever; a CSP keeps any stored
//! file from running script.

use std::io::Read;
use std::time::UNIX_EPOCH;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::Stream;

use crate::api::error::{ApiError, Problem};
use crate::context::AppContext;
use crate::storage::{content_type_of, ObjectBody, StoredObject, PROFILE_PICS_DIR};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "public, max-age=3600";
const SANDBOX: &str = "default-src 'none'; sandbox";
/// Files up to this size are read whole.
const INLINE_LIMIT: u64 = 4 * 1024 * 1024;
/// What one blocking read of a streamed file takes.
const CHUNK: usize = 64 * 1024;

/// A stored file.
#[utoipa::path(
    get, path = "/media/{path}", operation_id = "media_retrieve", tag = "media",
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
    let storage = ctx.storage.clone();
    let lookup = name.clone();
    let opened = web::block(move || storage.open(&lookup, INLINE_LIMIT)).await?;
    let StoredObject {
        len,
        modified,
        body,
    } = match opened {
        Ok(Some(object)) => object,
        Ok(None) => return Err(ApiError::not_found("No such file.")),
        Err(error) => {
            crate::metrics::metrics().storage_error("open");
            tracing::error!(%error, "cannot read a stored file");
            return Err(ApiError::internal());
        }
    };
    let cache = if name.starts_with(&format!("{PROFILE_PICS_DIR}/")) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let stamp = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{len:x}-{stamp:x}\"");
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
        .insert_header((header::LAST_MODIFIED, header::HttpDate::from(modified)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(SANDBOX),
        ));
    if unchanged {
        return Ok(builder.finish());
    }
    builder.content_type(content_type_of(&name));
    Ok(match body {
        ObjectBody::Bytes(bytes) => builder.body(bytes),
        ObjectBody::Reader(reader) => builder.no_chunking(len).streaming(chunks(reader)),
    })
}

/// A reader's bytes, one blocking read per chunk, off the async workers.
fn chunks(reader: Box<dyn Read + Send>) -> impl Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some(reader), |state| async move {
        let mut reader = state?;
        let read = web::block(move || {
            let mut buffer = vec![0; CHUNK];
            let n = reader.read(&mut buffer)?;
            buffer.truncate(n);
            Ok::<_, std::io::Error>((reader, buffer))
        })
        .await;
        match read {
            Ok(Ok((_, buffer))) if buffer.is_empty() => None,
            Ok(Ok((reader, buffer))) => Some((Ok(Bytes::from(buffer)), Some(reader))),
            Ok(Err(error)) => Some((Err(error.into()), None)),
            Err(error) => Some((Err(error.into()), None)),
        }
    })
}
