//! /admin/: the lesson's `admin.site.register(Profile)`, as server-rendered
//! pages for staff, usable without JavaScript. Handlers here only read
//! forms, check the session and its CSRF token, call the same services as
//! the API (`services::users`, `profiles`, `pictures`, and
//! `services::admin` for sessions and the change log) and render a page;
//! a service's refusal (403, 409, 422) is shown as a message on the page.
//! Every page carries a strict CSP and `X-Frame-Options: DENY`; cookies
//! are HttpOnly and SameSite=Strict (Secure under https). No rule lives
//! here, and no SQL.

mod pages;

use std::collections::HashMap;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{middleware, web, HttpRequest, HttpResponse};
use minijinja::context;
use serde::Serialize;

use crate::api::client::{client_ip, origin};
use crate::api::dto::ImageBody;
use crate::api::error::ApiError;
use crate::api::{blocking, hashing};
use crate::context::AppContext;
use crate::domain::{Bio, Email, Password, Username};
use crate::error::ServiceError;
use crate::models::{User, UserWithProfile};
use crate::services::admin::{self as rules, AdminSession};
use crate::services::{pictures, profiles, users};

pub use pages::STYLESHEET;

const SESSION_COOKIE: &str = "portrait_admin_session";
const LOGIN_CSRF_COOKIE: &str = "portrait_admin_csrf";
const CSRF_FIELD: &str = "csrfmiddlewaretoken";
const PAGE_SIZE: i64 = 50;
/// The largest urlencoded admin form read.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The pages' CSP: only this site, and the origin pictures come from when
/// MEDIA_URL is a CDN's address (else the thumbnails would be blocked).
pub fn content_security_policy(media_url: &str) -> String {
    let media_origin = url::Url::parse(media_url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(|url| url.origin().ascii_serialization());
    match media_origin {
        Some(origin) => {
            format!("default-src 'self'; img-src 'self' {origin}; frame-ancestors 'none'")
        }
        None => "default-src 'self'; frame-ancestors 'none'".to_owned(),
    }
}

/// Registers /admin and everything under it.
pub fn routes(cfg: &mut web::ServiceConfig, media_url: &str) {
    cfg.service(web::resource("/admin").to(|| async { redirect("/admin/") }))
        .service(
            web::scope("/admin")
                .wrap(
                    middleware::DefaultHeaders::new()
                        .add((
                            header::CONTENT_SECURITY_POLICY,
                            content_security_policy(media_url),
                        ))
                        .add((header::X_FRAME_OPTIONS, "DENY"))
                        .add((header::REFERRER_POLICY, "same-origin"))
                        .add((header::CACHE_CONTROL, "no-store")),
                )
                .route("/", web::get().to(index))
                .route("/static/admin.css", web::get().to(stylesheet))
                .route("/login/", web::get().to(login_form))
                .route("/login/", web::post().to(login))
                .route("/logout/", web::post().to(logout))
                .route("/users/", web::get().to(user_list))
                .route("/users/add/", web::get().to(add_form))
                .route("/users/add/", web::post().to(add))
                .route("/users/{id}/change/", web::get().to(change_form))
                .route("/users/{id}/change/", web::post().to(change))
                .route("/users/{id}/picture/", web::post().to(picture_upload))
                .route("/users/{id}/picture/reset/", web::post().to(picture_reset))
                .route("/users/{id}/delete/", web::get().to(delete_form))
                .route("/users/{id}/delete/", web::post().to(delete))
                .route("/users/{id}/history/", web::get().to(history))
                .default_service(web::to(not_found)),
        );
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .finish()
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// A page of the admin's own look for an error.
fn error_page(status: StatusCode, message: &str, session: Option<&AdminSession>) -> HttpResponse {
    html(
        status,
        pages::render(
            "error.html",
            context! {
                title => status.canonical_reason().unwrap_or("Error"),
                status => status.as_u16(),
                message => message,
                staff => session.map(StaffView::of),
            },
        ),
    )
}

async fn not_found(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    let session = current_session(&ctx, &req).await.ok().flatten();
    error_page(
        StatusCode::NOT_FOUND,
        "The page you asked for is not here.",
        session.as_ref(),
    )
}

/// Who is signed in, as the pages show it.
#[derive(Serialize)]
struct StaffView {
    username: String,
    is_superuser: bool,
    csrf_token: String,
}

impl StaffView {
    fn of(session: &AdminSession) -> Self {
        Self {
            username: session.user.username.clone(),
            is_superuser: session.user.is_superuser,
            csrf_token: session.csrf_token.clone(),
        }
    }
}

/// A user as the change list and the forms show it.
#[derive(Serialize)]
struct UserView {
    id: i64,
    username: String,
    email: String,
    is_staff: bool,
    is_superuser: bool,
    is_active: bool,
    date_joined: String,
    last_login: Option<String>,
    bio: String,
    thumbnail: String,
    picture: String,
    is_default_picture: bool,
    files: Vec<String>,
}

impl UserView {
    fn of(ctx: &AppContext, (user, profile): &UserWithProfile) -> Self {
        let image = ImageBody::new(profile, ctx);
        let thumbnail = image
            .variants
            .first()
            .map_or_else(|| image.url.clone(), |v| v.url.clone());
        Self {
            id: user.id,
            username: user.username.clone(),
            email: user.email.clone(),
            is_staff: user.is_staff,
            is_superuser: user.is_superuser,
            is_active: user.is_active,
            date_joined: user.date_joined.format("%Y-%m-%d %H:%M").to_string(),
            last_login: user
                .last_login
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string()),
            bio: profile.bio.clone(),
            thumbnail,
            picture: image.url,
            is_default_picture: image.is_default,
            files: pictures::files_of(profile),
        }
    }
}

/// The session the request's cookie names, if it is still good.
async fn current_session(
    ctx: &web::Data<AppContext>,
    req: &HttpRequest,
) -> Result<Option<AdminSession>, ApiError> {
    let Some(raw) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    Ok(blocking(ctx, move |ctx| rules::session(ctx, &raw)).await??)
}

/// The signed-in staff member, or the sign-in page to go to.
async fn staff(
    ctx: &web::Data<AppContext>,
    req: &HttpRequest,
) -> Result<AdminSession, HttpResponse> {
    match current_session(ctx, req).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => {
            let next = req.uri().path_and_query().map_or("/admin/", |p| p.as_str());
            Err(redirect(&format!(
                "/admin/login/?next={}",
                url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            )))
        }
        Err(error) => Err(failure(error, None)),
    }
}

/// A service error as a page: readable, never a crash page.
fn failure(error: impl Into<ApiError>, session: Option<&AdminSession>) -> HttpResponse {
    let error = error.into();
    let status =
        StatusCode::from_u16(error.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_page(status, &error.problem.detail, session)
}

/// A urlencoded form, read within MAX_FORM_BYTES.
fn form(body: &[u8]) -> HashMap<String, String> {
    if body.len() > MAX_FORM_BYTES {
        return HashMap::new();
    }
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The signed-in staff member, for a form they sent with `sent` as its CSRF
/// token; otherwise the page to answer with (sign in, or 403).
async fn staff_posting(
    ctx: &web::Data<AppContext>,
    req: &HttpRequest,
    sent: Option<&String>,
) -> Result<AdminSession, HttpResponse> {
    let session = staff(ctx, req).await?;
    if csrf_ok(&session, sent.map(String::as_str)) {
        Ok(session)
    } else {
        Err(csrf_refused(Some(&session)))
    }
}

/// Blocking service work's two error layers (the pool, the service) as one.
fn settled<T>(outcome: Result<Result<T, ServiceError>, ApiError>) -> Result<T, ApiError> {
    outcome.and_then(|result| result.map_err(ApiError::from))
}

fn csrf_ok(session: &AdminSession, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| rules::same_token(sent, &session.csrf_token))
}

fn csrf_refused(session: Option<&AdminSession>) -> HttpResponse {
    error_page(
        StatusCode::FORBIDDEN,
        "CSRF verification failed: the form was not sent by this site, or the page was too old. Go back, reload it and try again.",
        session,
    )
}

fn secure(ctx: &AppContext, req: &HttpRequest) -> bool {
    origin(req, &ctx.settings.trusted_proxies).starts_with("https://")
}

fn cookie<'a>(ctx: &AppContext, req: &HttpRequest, name: &'a str, value: String) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/admin/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(ctx, req))
        .finish()
}

fn removal<'a>(ctx: &AppContext, req: &HttpRequest, name: &'a str) -> Cookie<'a> {
    let mut gone = cookie(ctx, req, name, String::new());
    gone.make_removal();
    gone
}

async fn index(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    match staff(&ctx, &req).await {
        Ok(_) => redirect("/admin/users/"),
        Err(response) => response,
    }
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

/// Only a local path: a `next` naming another site is ignored.
fn safe_next(next: Option<&String>) -> String {
    next.filter(|n| {
        n.starts_with("/admin/") && !n.contains('\\') && !n.chars().any(char::is_control)
    })
    .cloned()
    .unwrap_or_else(|| "/admin/users/".into())
}

fn login_page(
    ctx: &AppContext,
    req: &HttpRequest,
    status: StatusCode,
    username: &str,
    next: &str,
    error: Option<&str>,
) -> HttpResponse {
    // A cookie already set is kept: two sign-in tabs both work.
    let token = req
        .cookie(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(rules::new_csrf_token);
    let mut response = html(
        status,
        pages::render(
            "login.html",
            context! {
                title => "Log in",
                username => username,
                next => next,
                error => error,
                csrf_token => &token,
            },
        ),
    );
    let _ = response.add_cookie(&cookie(ctx, req, LOGIN_CSRF_COOKIE, token));
    response
}

async fn login_form(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    if let Ok(Some(_)) = current_session(&ctx, &req).await {
        return redirect(&safe_next(query.get("next")));
    }
    login_page(
        &ctx,
        &req,
        StatusCode::OK,
        "",
        &safe_next(query.get("next")),
        None,
    )
}

async fn login(ctx: web::Data<AppContext>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let fields = form(&body);
    // Before a session there is no token of its own: the form's must match
    // the cookie set with it (double submit; SameSite=Strict keeps other
    // sites' forms from sending the cookie at all).
    let cookie_token = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned());
    let sent = fields.get(CSRF_FIELD);
    let csrf_good = matches!((&cookie_token, sent), (Some(c), Some(s)) if rules::same_token(c, s));
    if !csrf_good {
        return csrf_refused(None);
    }
    let username = fields.get("username").cloned().unwrap_or_default();
    let password = fields.get("password").cloned().unwrap_or_default();
    let next = safe_next(fields.get("next"));
    let client = client_ip(&req, &ctx.settings.trusted_proxies);
    let ttl = ctx.settings.admin_session_ttl;
    let attempt = {
        let username = username.clone();
        hashing(&ctx, move |ctx| {
            rules::sign_in(ctx, client, &username, &password, ttl)
        })
        .await
    };
    match attempt {
        Ok(Ok(raw)) => {
            let mut response = redirect(&next);
            let _ = response.add_cookie(&cookie(&ctx, &req, SESSION_COOKIE, raw));
            let _ = response.add_removal_cookie(&removal(&ctx, &req, LOGIN_CSRF_COOKIE));
            response
        }
        Ok(Err(ServiceError::Throttled { retry_after })) => login_page(
            &ctx,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &username,
            &next,
            Some(&format!(
                "Too many failed login attempts. Try again in {} seconds.",
                retry_after.as_secs().max(1)
            )),
        ),
        Ok(Err(ServiceError::Unauthenticated(message))) => {
            login_page(&ctx, &req, StatusCode::OK, &username, &next, Some(message))
        }
        Ok(Err(error)) => failure(error, None),
        Err(error) => failure(error, None),
    }
}

async fn logout(ctx: web::Data<AppContext>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let session = match staff_posting(&ctx, &req, form(&body).get(CSRF_FIELD)).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let raw = req
        .cookie(SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if let Err(error) = blocking(&ctx, move |ctx| rules::sign_out(ctx, &raw)).await {
        return failure(error, Some(&session));
    }
    let mut response = html(
        StatusCode::OK,
        pages::render("logged_out.html", context! { title => "Logged out" }),
    );
    let _ = response.add_removal_cookie(&removal(&ctx, &req, SESSION_COOKIE));
    response
}

async fn user_list(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let session = match staff(&ctx, &req).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let search = query
        .get("q")
        .map(|q| q.trim().to_owned())
        .unwrap_or_default();
    let order = rules::Order::parse(query.get("o").map(String::as_str));
    let after = query
        .get("after")
        .and_then(|a| a.parse::<i64>().ok())
        .map(|id| rules::Cursor {
            id,
            username_normalized: query.get("name").cloned().unwrap_or_default(),
        });
    let paged = after.is_some();
    let term = search.clone();
    let listed = blocking(&ctx, move |ctx| {
        rules::list_users(ctx, &term, order, after, PAGE_SIZE)
    })
    .await;
    let (rows, more, total) = match settled(listed) {
        Ok(page) => page,
        Err(error) => return failure(error, Some(&session)),
    };
    let next = if more {
        rows.last().map(|(user, _)| {
            format!(
                "?q={}&o={}&after={}&name={}",
                encode(&search),
                order.code(),
                user.id,
                encode(&user.username_normalized)
            )
        })
    } else {
        None
    };
    let users: Vec<UserView> = rows.iter().map(|row| UserView::of(&ctx, row)).collect();
    html(
        StatusCode::OK,
        pages::render(
            "user_list.html",
            context! {
                title => "Select user to change",
                staff => StaffView::of(&session),
                users => users,
                search => &search,
                order => order.code(),
                total => total,
                next => next,
                paged => paged,
                first => format!("?q={}&o={}", encode(&search), order.code()),
                sort_id => format!("?q={}&o={}", encode(&search), if order.code() == "id" { "-id" } else { "id" }),
                sort_username => format!("?q={}&o={}", encode(&search), if order.code() == "username" { "-username" } else { "username" }),
            },
        ),
    )
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn field_errors(error: &ApiError) -> (String, HashMap<String, Vec<String>>) {
    let errors = error
        .problem
        .errors
        .clone()
        .map(|errors| errors.into_iter().collect())
        .unwrap_or_default();
    (error.problem.detail.clone(), errors)
}

async fn add_form(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    let session = match staff(&ctx, &req).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    add_page(
        &session,
        StatusCode::OK,
        &HashMap::new(),
        None,
        &HashMap::new(),
    )
}

fn add_page(
    session: &AdminSession,
    status: StatusCode,
    values: &HashMap<String, String>,
    message: Option<&str>,
    errors: &HashMap<String, Vec<String>>,
) -> HttpResponse {
    html(
        status,
        pages::render(
            "user_add.html",
            context! {
                title => "Add user",
                staff => StaffView::of(session),
                username => values.get("username").cloned().unwrap_or_default(),
                email => values.get("email").cloned().unwrap_or_default(),
                message => message,
                errors => errors,
            },
        ),
    )
}

async fn add(ctx: web::Data<AppContext>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let fields = form(&body);
    let session = match staff_posting(&ctx, &req, fields.get(CSRF_FIELD)).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let mut errors: HashMap<String, Vec<String>> = HashMap::new();
    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let username = Username::parse(&get("username"))
        .map_err(|e| errors.insert("username".into(), vec![e]))
        .ok();
    let email = Email::parse(&get("email"))
        .map_err(|e| errors.insert("email".into(), vec![e]))
        .ok();
    let password = if get("password") != get("password2") {
        errors.insert(
            "password2".into(),
            vec!["The two password fields didn't match.".into()],
        );
        None
    } else {
        Password::parse(
            &get("password"),
            &get("username"),
            ctx.settings.max_password_length,
        )
        .map_err(|e| errors.insert("password".into(), e))
        .ok()
    };
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return add_page(
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &fields,
            Some("Please correct the errors below."),
            &errors,
        );
    };
    let actor = session.user.clone();
    let made = hashing(&ctx, move |ctx| -> Result<i64, ServiceError> {
        let (user, _) = users::register(
            ctx,
            users::Registration {
                username,
                email,
                password,
                is_staff: false,
                is_superuser: false,
                email_verified: false,
            },
        )?;
        rules::record(ctx, &actor, user.id, &user.username, "add", "Added.")?;
        Ok(user.id)
    })
    .await;
    match made {
        Ok(Ok(id)) => redirect(&format!("/admin/users/{id}/change/?added=1")),
        Ok(Err(error)) => {
            let error = ApiError::from(error);
            let (detail, errors) = field_errors(&error);
            let status = StatusCode::from_u16(error.problem.status)
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            add_page(&session, status, &fields, Some(&detail), &errors)
        }
        Err(error) => failure(error, Some(&session)),
    }
}

/// The user `id` with their profile, or a page saying why not.
async fn target(
    ctx: &web::Data<AppContext>,
    session: &AdminSession,
    id: &str,
) -> Result<UserWithProfile, HttpResponse> {
    let Ok(id) = id.parse::<i64>() else {
        return Err(error_page(
            StatusCode::NOT_FOUND,
            "No user with this id.",
            Some(session),
        ));
    };
    settled(blocking(ctx, move |ctx| users::get(ctx, id)).await)
        .map_err(|error| failure(error, Some(session)))
}

fn change_page(
    ctx: &AppContext,
    session: &AdminSession,
    status: StatusCode,
    found: &UserWithProfile,
    message: Option<&str>,
    notice: Option<&str>,
    errors: &HashMap<String, Vec<String>>,
) -> HttpResponse {
    html(
        status,
        pages::render(
            "user_change.html",
            context! {
                title => format!("Change user {}", found.0.username),
                staff => StaffView::of(session),
                user => UserView::of(ctx, found),
                message => message,
                notice => notice,
                errors => errors,
            },
        ),
    )
}

async fn change_form(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let session = match staff(&ctx, &req).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let found = match target(&ctx, &session, &path).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let notice = if query.contains_key("added") {
        Some("The user was added. You may edit it again below.")
    } else if query.contains_key("saved") {
        Some("The user was changed successfully.")
    } else {
        None
    };
    change_page(
        &ctx,
        &session,
        StatusCode::OK,
        &found,
        None,
        notice,
        &HashMap::new(),
    )
}

async fn change(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let fields = form(&body);
    let session = match staff_posting(&ctx, &req, fields.get(CSRF_FIELD)).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let found = match target(&ctx, &session, &path).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (before, profile_before) = (&found.0, &found.1);
    let get = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let checked = |name: &str| fields.contains_key(name);
    // A field changes only if it differs from what the form showed (its
    // `initial-` twin), not from the row as it is now: a form opened
    // before someone else's change must not undo it.
    let shown = |name: &str, now: String| {
        fields
            .get(&format!("initial-{name}"))
            .cloned()
            .unwrap_or(now)
    };
    let shown_box = |name: &str, now: bool| {
        fields
            .get(&format!("initial-{name}"))
            .map_or(now, |value| value == "on")
    };
    let lines = |text: String| text.replace("\r\n", "\n");
    let mut errors: HashMap<String, Vec<String>> = HashMap::new();
    let mut changed: Vec<&str> = Vec::new();
    let username = if get("username") != shown("username", before.username.clone()) {
        changed.push("username");
        Username::parse(&get("username"))
            .map_err(|e| errors.insert("username".into(), vec![e]))
            .ok()
    } else {
        None
    };
    let email = if get("email") != shown("email", before.email.clone()) {
        changed.push("email");
        Email::parse(&get("email"))
            .map_err(|e| errors.insert("email".into(), vec![e]))
            .ok()
    } else {
        None
    };
    let is_active = (checked("is_active") != shown_box("is_active", before.is_active))
        .then(|| checked("is_active"));
    if is_active.is_some() {
        changed.push("active");
    }
    let is_staff = (checked("is_staff") != shown_box("is_staff", before.is_staff))
        .then(|| checked("is_staff"));
    if is_staff.is_some() {
        changed.push("staff status");
    }
    let bio = if lines(get("bio")) != lines(shown("bio", profile_before.bio.clone())) {
        changed.push("bio");
        Bio::parse(&lines(get("bio")))
            .map_err(|e| errors.insert("bio".into(), vec![e]))
            .ok()
    } else {
        None
    };
    if !errors.is_empty() {
        return change_page(
            &ctx,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &found,
            Some("Please correct the errors below."),
            None,
            &errors,
        );
    }
    let actor = session.user.clone();
    let id = before.id;
    let client = client_ip(&req, &ctx.settings.trusted_proxies);
    let message = if changed.is_empty() {
        "No fields changed.".to_owned()
    } else {
        format!("Changed {}.", changed.join(", "))
    };
    let nothing = changed.is_empty();
    let saved = blocking(&ctx, move |ctx| -> Result<(), ServiceError> {
        if nothing {
            return Ok(());
        }
        if username.is_some() || email.is_some() || is_staff.is_some() || is_active.is_some() {
            users::update(
                ctx,
                &actor,
                id,
                users::UserUpdate {
                    username,
                    email,
                    password: None,
                    current_password: None,
                    is_staff,
                    is_active,
                    client,
                },
            )?;
        }
        if bio.is_some() {
            profiles::update(ctx, &actor, id, bio, None)?;
        }
        let (user, _) = users::get(ctx, id)?;
        rules::record(ctx, &actor, id, &user.username, "change", &message)
    })
    .await;
    match saved {
        Ok(Ok(())) => redirect(&format!("/admin/users/{id}/change/?saved=1")),
        Ok(Err(error)) => {
            let error = ApiError::from(error);
            let (detail, errors) = field_errors(&error);
            let status =
                StatusCode::from_u16(error.problem.status).unwrap_or(StatusCode::BAD_REQUEST);
            // Shown against the user as it now is.
            let found = target(&ctx, &session, &path).await.unwrap_or(found);
            change_page(&ctx, &session, status, &found, Some(&detail), None, &errors)
        }
        Err(error) => failure(error, Some(&session)),
    }
}

/// Whether the actor may change the target's picture (the API's rule).
fn may_manage(actor: &User, target: &User) -> Result<(), ServiceError> {
    if users::may_manage(actor, target) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "Only a superuser may change the picture of a staff user or a superuser.",
        ))
    }
}

async fn picture_upload(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let session = match staff(&ctx, &req).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let form = match tokio::time::timeout(
        crate::api::body::body_time_limit(&req),
        crate::api::pictures::read_form(&req, payload, ctx.settings.max_upload_bytes),
    )
    .await
    {
        Ok(Ok(form)) => form,
        Ok(Err(error)) => return failure(error, Some(&session)),
        Err(_) => return failure(crate::api::body::body_too_slow(), Some(&session)),
    };
    let sent = form
        .csrf_token
        .as_deref()
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .map(str::to_owned);
    if !csrf_ok(&session, sent.as_deref()) {
        return csrf_refused(Some(&session));
    }
    let found = match target(&ctx, &session, &path).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if let Err(error) = may_manage(&session.user, &found.0) {
        return failure(error, Some(&session));
    }
    let outcome = async {
        let (upload, crop) = form.validated()?;
        let picture = crate::api::pictures::processed(&ctx, upload, crop).await?;
        let actor = session.user.clone();
        let owner = found.0.clone();
        blocking(&ctx, move |ctx| -> Result<(), ServiceError> {
            pictures::replace(ctx, &owner, picture, None)?;
            rules::record(
                ctx,
                &actor,
                owner.id,
                &owner.username,
                "change",
                "Changed picture.",
            )
        })
        .await??;
        Ok::<_, ApiError>(())
    }
    .await;
    match outcome {
        Ok(()) => redirect(&format!("/admin/users/{}/change/?saved=1", found.0.id)),
        Err(error) => {
            let (detail, errors) = field_errors(&error);
            let status = StatusCode::from_u16(error.problem.status)
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            change_page(&ctx, &session, status, &found, Some(&detail), None, &errors)
        }
    }
}

async fn picture_reset(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let session = match staff_posting(&ctx, &req, form(&body).get(CSRF_FIELD)).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let found = match target(&ctx, &session, &path).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let actor = session.user.clone();
    let owner = found.0.clone();
    let reset = blocking(&ctx, move |ctx| -> Result<(), ServiceError> {
        may_manage(&actor, &owner)?;
        pictures::reset(ctx, &owner, None)?;
        rules::record(
            ctx,
            &actor,
            owner.id,
            &owner.username,
            "change",
            "Reset picture to the default.",
        )
    })
    .await;
    match settled(reset) {
        Ok(()) => redirect(&format!("/admin/users/{}/change/?saved=1", found.0.id)),
        Err(error) => failure(error, Some(&session)),
    }
}

async fn delete_form(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let session = match staff(&ctx, &req).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let found = match target(&ctx, &session, &path).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    html(
        StatusCode::OK,
        pages::render(
            "user_delete.html",
            context! {
                title => "Are you sure?",
                staff => StaffView::of(&session),
                user => UserView::of(&ctx, &found),
            },
        ),
    )
}

async fn delete(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let session = match staff_posting(&ctx, &req, form(&body).get(CSRF_FIELD)).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let found = match target(&ctx, &session, &path).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let actor = session.user.clone();
    let (id, name) = (found.0.id, found.0.username.clone());
    let deleted = blocking(&ctx, move |ctx| -> Result<(), ServiceError> {
        users::delete(ctx, &actor, id)?;
        rules::record(ctx, &actor, id, &name, "delete", "Deleted.")
    })
    .await;
    match settled(deleted) {
        Ok(()) => {
            // A staff member who deleted themself has no session left.
            if found.0.id == session.user.id {
                return redirect("/admin/login/");
            }
            html(
                StatusCode::OK,
                pages::render(
                    "user_deleted.html",
                    context! {
                        title => "User deleted",
                        staff => StaffView::of(&session),
                        username => &found.0.username,
                        id => found.0.id,
                    },
                ),
            )
        }
        Err(error) => failure(error, Some(&session)),
    }
}

async fn history(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let session = match staff(&ctx, &req).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let Ok(id) = path.parse::<i64>() else {
        return error_page(
            StatusCode::NOT_FOUND,
            "No user with this id.",
            Some(&session),
        );
    };
    let entries = match settled(blocking(&ctx, move |ctx| rules::history(ctx, id)).await) {
        Ok(entries) => entries,
        Err(error) => return failure(error, Some(&session)),
    };
    if entries.is_empty() {
        if let Err(response) = target(&ctx, &session, &path).await {
            return response;
        }
    }
    let name = entries
        .last()
        .map(|e| e.object_repr.clone())
        .unwrap_or_default();
    #[derive(Serialize)]
    struct EntryView {
        when: String,
        who: String,
        action: String,
        message: String,
    }
    let entries: Vec<EntryView> = entries
        .into_iter()
        .map(|e| EntryView {
            when: e.action_time.format("%Y-%m-%d %H:%M:%S").to_string(),
            who: e.actor_username,
            action: e.action,
            message: e.change_message,
        })
        .collect();
    html(
        StatusCode::OK,
        pages::render(
            "user_history.html",
            context! {
                title => format!("Change history: {name}"),
                staff => StaffView::of(&session),
                id => id,
                entries => entries,
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_pictures_come_from_a_cdn_and_nothing_else() {
        assert_eq!(
            content_security_policy("/media/"),
            "default-src 'self'; frame-ancestors 'none'"
        );
        assert_eq!(
            content_security_policy("https://cdn.example.com/portrait/"),
            "default-src 'self'; img-src 'self' https://cdn.example.com; frame-ancestors 'none'"
        );
    }

    #[test]
    fn next_stays_inside_the_admin() {
        let next = |raw: &str| safe_next(Some(&raw.to_owned()));
        assert_eq!(next("/admin/users/?q=a"), "/admin/users/?q=a");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/admin/\\x",
            "/admin/\r\nX: y",
        ] {
            assert_eq!(next(bad), "/admin/users/", "{bad:?}");
        }
    }
}
