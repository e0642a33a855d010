//! /users handlers: extract, call one service on the blocking pool (pages
//! of the directory on the listing threads), shape the answer. Rules live
//! in `services::users`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::body::{path_id, Fields, JsonObject};
use crate::api::client::client_ip;
use crate::api::dto::{PictureMemo, UserBody, UserCursorPage, UserList, UserPage};
use crate::api::error::{ApiError, Problem};
use crate::api::extract::{AuthUser, MaybeAuthUser};
use crate::api::pagination::PageRequest;
use crate::api::{blocking, hashing, listing};
use crate::auth::throttle::ClientKey;
use crate::context::AppContext;
use crate::domain::{Email, Password, Username};
use crate::models::{Profile, User};
use crate::services::directory;
use crate::services::users::{self, Registration, UserUpdate};

/// Register a user; the profile is created with it.
#[utoipa::path(
    post, path = "/users", operation_id = "users_create", tag = "users",
    request_body = crate::api::dto::RegisterRequest,
    responses(
        (status = 201, description = "Created; the new user's own view", body = UserBody,
         headers(("Location" = String, description = "/users/{id}"))),
        (status = 400, description = "Not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A token was sent but is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or email taken", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over REGISTER_RATE for this client", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Too many password hashes waiting", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn register(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    // Unused, but a bad token is 401 on public routes too (as DRF).
    _: MaybeAuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let client = ClientKey::from(client_ip(&req, &ctx.settings.trusted_proxies));
    ctx.register_rate.allow(client).map_err(|wait| {
        ApiError::too_many(
            "Too many registrations from this address. Try again later.",
            wait,
        )
    })?;
    let mut fields = Fields::new(body);
    let raw_username = fields.required_string("username");
    let username = fields.parse("username", raw_username.clone(), Username::parse);
    let email = fields.required_string("email");
    let email = fields.parse("email", email, Email::parse);
    let password = fields.required_string("password").and_then(|raw| {
        let name = raw_username.as_deref().unwrap_or("");
        Password::parse(&raw, name.trim(), ctx.settings.max_password_length)
            .map_err(|problems| {
                problems
                    .into_iter()
                    .for_each(|p| fields.error("password", p))
            })
            .ok()
    });
    fields.finish()?;
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return Err(ApiError::internal());
    };
    let registration = Registration {
        username,
        email,
        password,
        is_staff: false,
        is_superuser: false,
        email_verified: false,
    };
    let (user, profile) = hashing(&ctx, move |ctx| users::register(ctx, registration)).await??;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/users/{}", user.id)))
        .json(UserBody::new(&user, &profile, Some(&user), &ctx)))
}

/// List users, ordered by id.
#[utoipa::path(
    get, path = "/users", operation_id = "users_list", tag = "users",
    params(
        ("limit" = Option<i64>, Query, description = "Page size (default 20); over 100 is treated as 100", minimum = 1),
        ("offset" = Option<i64>, Query, description = "Items to skip (default 0)", minimum = 0),
        ("search" = Option<String>, Query, description = "Case-insensitive substring of the username"),
        ("cursor" = Option<String>, Query, description = "Cursor pagination: empty for the first page, then the opaque value from `next` or `previous`; the answer then has no `count`"),
    ),
    responses(
        (status = 200, description = "One page of users: limit/offset (with `count`), or by cursor", body = UserList),
        (status = 400, description = "limit or offset is not a whole number in range, or the cursor is not one this service made", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    AuthUser(viewer): AuthUser,
) -> Result<HttpResponse, ApiError> {
    let page = PageRequest::from_request(&req)?;
    // The query and the JSON of the whole page are made on the listing
    // threads, which yield the cores to point reads.
    let body = listing(&ctx, move |ctx| page_body(ctx, &page, &viewer)).await??;
    Ok(HttpResponse::Ok()
        .insert_header(header::ContentType::json())
        .body(body))
}

/// One page of the directory, as the JSON a client receives.
fn page_body(ctx: &AppContext, page: &PageRequest, viewer: &User) -> Result<Vec<u8>, ApiError> {
    let search = page.param("search");
    let body = |rows: &[(User, Profile)]| -> Vec<UserBody> {
        let mut memo = PictureMemo::default();
        rows.iter()
            .map(|(user, profile)| {
                UserBody::remembered(user, profile, Some(viewer), ctx, &mut memo)
            })
            .collect()
    };
    let json = if let Some(position) = page.cursor {
        let (from, backward) = (position.map(|p| p.id), position.is_some_and(|p| p.backward));
        let found = directory::list_by_position(ctx, search, page.limit, from, backward)?;
        let ends = (
            found.rows.first().map(|(user, _)| user.id),
            found.rows.last().map(|(user, _)| user.id),
        );
        let (next, previous) = page.cursor_links(
            ctx.jwt.cursor_key(),
            ends,
            found.more_after,
            found.more_before,
        );
        serde_json::to_vec(&UserCursorPage {
            next,
            previous,
            results: body(&found.rows),
        })
    } else {
        let (rows, count) = directory::list(ctx, search, page.limit, page.offset)?;
        let (next, previous) = page.links(count);
        serde_json::to_vec(&UserPage {
            count,
            next,
            previous,
            results: body(&rows),
        })
    };
    json.map_err(|_| ApiError::internal())
}

/// Read a user; private fields only for the user themself or staff.
#[utoipa::path(
    get, path = "/users/{id}", operation_id = "users_retrieve", tag = "users",
    params(("id" = i64, Path, description = "The user's id", minimum = 1)),
    responses(
        (status = 200, description = "The user", body = UserBody),
        (status = 401, description = "A token was sent but is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security((), ("bearer" = []))
)]
pub async fn get(
    ctx: web::Data<AppContext>,
    id: web::Path<String>,
    MaybeAuthUser(viewer): MaybeAuthUser,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "user")?;
    let (user, profile) = blocking(&ctx, move |ctx| users::get(ctx, id)).await??;
    Ok(HttpResponse::Ok().json(UserBody::new(&user, &profile, viewer.as_ref(), &ctx)))
}

/// Change a user: the user themself or staff; `is_staff` by superusers only.
#[utoipa::path(
    patch, path = "/users/{id}", operation_id = "users_partial_update", tag = "users",
    params(("id" = i64, Path, description = "The user's id", minimum = 1)),
    request_body = crate::api::dto::UserPatchRequest,
    responses(
        (status = 200, description = "The changed user", body = UserBody),
        (status = 400, description = "Not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not this user, not staff, or is_staff without being a superuser", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or email taken", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    id: web::Path<String>,
    AuthUser(actor): AuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "user")?;
    let mut fields = Fields::new(body);
    let username = fields.optional_string("username");
    let username = fields.parse("username", username, Username::parse);
    let email = fields.optional_string("email");
    let email = fields.parse("email", email, Email::parse);
    let update = UserUpdate {
        is_active: None,
        username,
        email,
        password: fields.optional_string("password"),
        current_password: fields.optional_string("current_password"),
        is_staff: fields.optional_bool("is_staff"),
        client: client_ip(&req, &ctx.settings.trusted_proxies),
    };
    fields.finish()?;
    let viewer = actor.clone();
    let changes_password = update.password.is_some();
    let run = move |ctx: &AppContext| users::update(ctx, &actor, id, update);
    let (user, profile) = if changes_password {
        hashing(&ctx, run).await??
    } else {
        blocking(&ctx, run).await??
    };
    // After changing their own password the actor's view is their new self.
    let viewer = if viewer.id == user.id {
        user.clone()
    } else {
        viewer
    };
    Ok(HttpResponse::Ok().json(UserBody::new(&user, &profile, Some(&viewer), &ctx)))
}

/// Delete a user, its profile (by the database's cascade) and its picture.
#[utoipa::path(
    delete, path = "/users/{id}", operation_id = "users_destroy", tag = "users",
    params(("id" = i64, Path, description = "The user's id", minimum = 1)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not this user and not staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete(
    ctx: web::Data<AppContext>,
    id: web::Path<String>,
    AuthUser(actor): AuthUser,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "user")?;
    blocking(&ctx, move |ctx| users::delete(ctx, &actor, id)).await??;
    Ok(HttpResponse::NoContent().finish())
}
