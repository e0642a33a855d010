//! The JSON shapes of the contract, and the mapping from models to them.
//! Who sees what is decided here, once: `email`, `is_staff` and
//! `last_login` only for the user themself or staff. No password or hash
//! field exists in any of these types. Request types are here for the
//! OpenAPI document; bodies are read field by field in `body.rs`. Their
//! length limits are written into the document by `docs::FieldLimits` from
//! the constants and settings the parsers use, never as literals here.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::jwt::TokenPair;
use crate::clock::rfc3339;
use crate::context::AppContext;
use crate::models::picture::{PictureFiles, Variant};
use crate::models::{Profile, User};

/// One stored rendition of a picture.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"url": "/media/profile_pics/3f9c0e1a2b4d6f8091a2b3c4d5e6f708-64.webp", "width": 64, "height": 48, "format": "webp"}))]
pub struct VariantBody {
    pub url: String,
    pub width: i32,
    pub height: i32,
    /// `jpeg`, `png` (pictures with transparency) or `webp`.
    #[schema(value_type = String, pattern = "^(jpeg|png|webp)$")]
    pub format: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"url": "/media/profile_pics/3f9c0e1a2b4d6f8091a2b3c4d5e6f708-300.jpg", "width": 300, "height": 225, "is_default": false,
    "thumbhash": "1QcSHQRnh493V4dIh4eXh1h4kJUI",
    "variants": [{"url": "/media/profile_pics/3f9c0e1a2b4d6f8091a2b3c4d5e6f708-64.jpg", "width": 64, "height": 48, "format": "jpeg"},
                 {"url": "/media/profile_pics/3f9c0e1a2b4d6f8091a2b3c4d5e6f708-64.webp", "width": 64, "height": 48, "format": "webp"}],
    "srcset": {"jpeg": "/media/profile_pics/3f9c0e1a2b4d6f8091a2b3c4d5e6f708-64.jpg 64w", "webp": "/media/profile_pics/3f9c0e1a2b4d6f8091a2b3c4d5e6f708-64.webp 64w"}}))]
pub struct ImageBody {
    /// MEDIA_URL joined with the stored name, as Django's `ImageField.url`:
    /// the AVATAR_SIZE rendition in the primary format.
    pub url: String,
    pub width: i32,
    pub height: i32,
    /// True while the profile shows the shipped default picture.
    pub is_default: bool,
    /// The picture's ThumbHash (standard base64), a placeholder to draw
    /// while it loads; null only for a picture stored before renditions.
    #[schema(required = true)]
    pub thumbhash: Option<String>,
    /// Every rendition: each size in the primary format, then in WebP.
    #[schema(value_type = Vec<VariantBody>)]
    pub variants: Arc<Vec<VariantBody>>,
    /// `srcset` values per format (`jpeg` or `png`, and `webp`), for
    /// `<img srcset>` and `<source type="image/webp" srcset>`.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub srcset: Arc<BTreeMap<String, String>>,
}

/// What every profile on the default picture shows of it, built once per
/// answer: a page of twenty such users formatted its URLs twenty times,
/// a fifth of the page's CPU.
#[derive(Default)]
pub struct PictureMemo {
    default: Option<Renditions>,
}

#[derive(Clone)]
struct Renditions {
    url: String,
    thumbhash: Option<String>,
    variants: Arc<Vec<VariantBody>>,
    srcset: Arc<BTreeMap<String, String>>,
}

impl Renditions {
    fn of(profile: &Profile, ctx: &AppContext) -> Self {
        let media = ctx.storage.as_ref();
        let (variants, thumbhash) = if profile.has_default_image() {
            let default = &ctx.default_picture;
            (default.files.variants(), Some(default.thumbhash.clone()))
        } else {
            match PictureFiles::of_profile(profile) {
                Some(files) => (files.variants(), profile.image_thumbhash.clone()),
                // Stored before renditions: its one file.
                None => (
                    vec![Variant {
                        name: profile.image.clone(),
                        width: profile.image_width as u32,
                        height: profile.image_height as u32,
                        format: crate::services::pictures::format_of(&profile.image),
                    }],
                    None,
                ),
            }
        };
        let mut srcset = BTreeMap::<String, String>::new();
        for variant in &variants {
            let entry = srcset.entry(variant.format.name().to_owned()).or_default();
            if !entry.is_empty() {
                entry.push_str(", ");
            }
            entry.push_str(&format!("{} {}w", media.url(&variant.name), variant.width));
        }
        Self {
            url: media.url(&profile.image),
            thumbhash,
            variants: Arc::new(
                variants
                    .into_iter()
                    .map(|variant| VariantBody {
                        url: media.url(&variant.name),
                        width: variant.width as i32,
                        height: variant.height as i32,
                        format: variant.format.name().to_owned(),
                    })
                    .collect(),
            ),
            srcset: Arc::new(srcset),
        }
    }
}

impl ImageBody {
    pub(crate) fn new(profile: &Profile, ctx: &AppContext) -> Self {
        Self::remembered(profile, ctx, &mut PictureMemo::default())
    }

    /// As `new`, reusing what `memo` holds of the default picture.
    fn remembered(profile: &Profile, ctx: &AppContext, memo: &mut PictureMemo) -> Self {
        let shown = if profile.has_default_image() {
            memo.default
                .get_or_insert_with(|| Renditions::of(profile, ctx))
                .clone()
        } else {
            Renditions::of(profile, ctx)
        };
        Self {
            url: shown.url,
            width: profile.image_width,
            height: profile.image_height,
            is_default: profile.has_default_image(),
            thumbhash: shown.thumbhash,
            variants: shown.variants,
            srcset: shown.srcset,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"user_id": 1, "username": "alice", "bio": "", "image": {"url": "/media/default.jpg", "width": 300, "height": 300, "is_default": true, "thumbhash": "1QcSHQRnh493V4dIh4eXh1h4kJUI", "variants": [{"url": "/media/default-64.jpg", "width": 64, "height": 64, "format": "jpeg"}], "srcset": {"jpeg": "/media/default-64.jpg 64w"}}, "updated_at": "2026-11-24T21:00:00Z"}))]
pub struct ProfileBody {
    pub user_id: i64,
    pub username: String,
    pub bio: String,
    pub image: ImageBody,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl ProfileBody {
    pub fn new(user: &User, profile: &Profile, ctx: &AppContext) -> Self {
        Self::remembered(user, profile, ctx, &mut PictureMemo::default())
    }

    fn remembered(
        user: &User,
        profile: &Profile,
        ctx: &AppContext,
        memo: &mut PictureMemo,
    ) -> Self {
        Self {
            user_id: user.id,
            username: user.username.clone(),
            bio: profile.bio.clone(),
            image: ImageBody::remembered(profile, ctx, memo),
            updated_at: rfc3339(profile.updated_at),
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 1, "username": "alice", "date_joined": "2026-11-24T21:00:00Z", "profile": {"user_id": 1, "username": "alice", "bio": "", "image": {"url": "/media/default.jpg", "width": 300, "height": 300, "is_default": true, "thumbhash": "1QcSHQRnh493V4dIh4eXh1h4kJUI", "variants": [{"url": "/media/default-64.jpg", "width": 64, "height": 64, "format": "jpeg"}], "srcset": {"jpeg": "/media/default-64.jpg 64w"}}, "updated_at": "2026-11-24T21:00:00Z"}, "email": "alice@example.com", "is_staff": false, "last_login": null, "email_verified": false}))]
pub struct UserBody {
    pub id: i64,
    pub username: String,
    /// RFC 3339, UTC.
    #[schema(format = DateTime)]
    pub date_joined: String,
    pub profile: ProfileBody,
    /// Only for the user themself or staff: absent otherwise, never null.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, format = "email")]
    pub email: Option<String>,
    /// Only for the user themself or staff: absent otherwise, never null.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub is_staff: Option<bool>,
    /// Only for the user themself or staff (absent otherwise); null until
    /// the first sign-in. RFC 3339, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login: Option<Option<String>>,
    /// Only for the user themself or staff: absent otherwise, never null.
    /// True once a link sent to `email` was followed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email_verified: Option<bool>,
}

impl UserBody {
    /// `viewer` is who asks: the private fields show for self or staff.
    pub fn new(user: &User, profile: &Profile, viewer: Option<&User>, ctx: &AppContext) -> Self {
        Self::remembered(user, profile, viewer, ctx, &mut PictureMemo::default())
    }

    /// As `new`, for one of many users in one answer.
    pub fn remembered(
        user: &User,
        profile: &Profile,
        viewer: Option<&User>,
        ctx: &AppContext,
        memo: &mut PictureMemo,
    ) -> Self {
        let private = viewer.is_some_and(|v| v.id == user.id || v.is_staff);
        Self {
            id: user.id,
            username: user.username.clone(),
            date_joined: rfc3339(user.date_joined),
            profile: ProfileBody::remembered(user, profile, ctx, memo),
            email: private.then(|| user.email.clone()),
            is_staff: private.then_some(user.is_staff),
            last_login: private.then(|| user.last_login.map(rfc3339)),
            email_verified: private.then_some(user.email_verified),
        }
    }
}

/// A page in Django REST framework's limit/offset shape.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct UserPage {
    pub count: i64,
    /// The next page's URL, or null on the last page.
    #[schema(required = true, format = "uri")]
    pub next: Option<String>,
    /// The previous page's URL, or null on the first page.
    #[schema(required = true, format = "uri")]
    pub previous: Option<String>,
    pub results: Vec<UserBody>,
}

/// A page in Django REST framework's CursorPagination shape: no count.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCursorPage {
    /// The next page's URL (with its `cursor`), or null on the last page.
    #[schema(required = true, format = "uri")]
    pub next: Option<String>,
    /// The previous page's URL (with its `cursor`), or null on the first page.
    #[schema(required = true, format = "uri")]
    pub previous: Option<String>,
    pub results: Vec<UserBody>,
}

/// GET /users answers a limit/offset page, or a cursor page when the
/// request has a `cursor` parameter.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum UserList {
    Page(UserPage),
    Cursor(UserCursorPage),
}

#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiJ9…", "refresh_token": "eyJhbGciOiJIUzI1NiJ9…", "token_type": "Bearer", "expires_in": 900}))]
pub struct TokenBody {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl From<TokenPair> for TokenBody {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            token_type: "Bearer".into(),
            expires_in: pair.expires_in,
        }
    }
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct HealthBody {
    /// `ok` when the database answers.
    pub status: String,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"username": "alice", "email": "alice@example.com", "password": "correct horse battery"}))]
pub struct RegisterRequest {
    /// 1–150 letters, digits and `@.+-_`; unique regardless of case.
    #[schema(pattern = r"^[\w.@+-]+$")]
    pub username: String,
    /// A valid address of at most 254 characters; unique regardless of case.
    #[schema(format = "email")]
    pub email: String,
    /// At least 8 characters, not entirely numeric, not the username.
    #[schema(pattern = "[^0-9]", format = "password")]
    pub password: String,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"email": "alice@example.org"}))]
pub struct UserPatchRequest {
    #[schema(nullable = false, pattern = r"^[\w.@+-]+$")]
    pub username: Option<String>,
    #[schema(nullable = false, format = "email")]
    pub email: Option<String>,
    #[schema(nullable = false, pattern = "[^0-9]", format = "password")]
    pub password: Option<String>,
    /// Required when changing your own password.
    #[schema(nullable = false, format = "password")]
    pub current_password: Option<String>,
    /// Superusers only.
    #[schema(nullable = false)]
    pub is_staff: Option<bool>,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"bio": "I paint birds."}))]
pub struct ProfilePatchRequest {
    /// At most 500 characters (surrounding white space is trimmed).
    #[schema(nullable = false)]
    pub bio: Option<String>,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"username": "alice", "password": "correct horse battery"}))]
pub struct TokenRequest {
    pub username: String,
    #[schema(format = "password")]
    pub password: String,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LogoutRequest {
    /// A refresh token of the sign-in to end.
    pub refresh_token: String,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"email": "alice@example.com"}))]
pub struct PasswordResetRequest {
    /// The account's address. The answer is the same whether or not a
    /// user has it.
    #[schema(format = "email")]
    pub email: String,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"token": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "new_password": "a new correct horse"}))]
pub struct PasswordResetConfirmRequest {
    /// The `token` of the link in the reset email.
    pub token: String,
    /// At least 8 characters, not entirely numeric, not the username.
    #[schema(pattern = "[^0-9]", format = "password")]
    pub new_password: String,
}

// For the OpenAPI document only: bodies are read by `body::Fields`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"token": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}))]
pub struct VerifyEmailRequest {
    /// The `token` of the link in the verification email.
    pub token: String,
}
