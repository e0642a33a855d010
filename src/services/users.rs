//! Users: registration, reading, listing, changing and deleting. This is
//! the one save path for users: every insert and update sends
//! `post_save<User>` inside its transaction (the `create_profile` receiver
//! makes the profile there), and the CLI's `createsuperuser` comes through
//! `register` too. Permission rules: a user may change or delete
//! themself; staff, users who are neither staff nor superusers; a
//! superuser, anyone; only a superuser may change `is_staff`.

use std::net::IpAddr;

use diesel::prelude::*;

use crate::context::AppContext;
use crate::db::schema::users;
use crate::db::transaction::atomic;
use crate::db::AnyConnection;
use crate::domain::{Email, Password, Username};
use crate::error::{FieldErrors, ServiceError};
use crate::models::user::{UNIQUE_EMAIL, UNIQUE_USERNAME};
use crate::models::{NewUser, Profile, User, UserChanges, UserWithProfile};
use crate::services::mailing::Job;
use crate::services::{connection, sessions};
use crate::signals::{PostDelete, PostSave, Signals};

pub struct Registration {
    pub username: Username,
    pub email: Email,
    pub password: Password,
    pub is_staff: bool,
    pub is_superuser: bool,
    /// Whoever registers knows the address is theirs (the CLI's
    /// operator); otherwise a verification email is sent.
    pub email_verified: bool,
}

/// What a PATCH asks to change; `None` leaves a field alone. The password
/// comes raw: whether it is acceptable depends on the user it is for.
pub struct UserUpdate {
    pub username: Option<Username>,
    pub email: Option<Email>,
    pub password: Option<String>,
    pub current_password: Option<String>,
    pub is_staff: Option<bool>,
    /// The admin's "active" box (the API's PATCH never sets it). An
    /// inactive user cannot sign in; their tokens and sessions stop working.
    pub is_active: Option<bool>,
    /// Who sent it: a wrong `current_password` counts as a failed sign-in
    /// from this client.
    pub client: IpAddr,
}

/// Registers a user. Hashes the password: the caller holds an argon2 turn
/// (`auth::password::HashQueue`).
pub fn register(
    ctx: &AppContext,
    registration: Registration,
) -> Result<UserWithProfile, ServiceError> {
    // Hash before the transaction: the write lock is not held for argon2.
    let password_hash = ctx
        .passwords
        .hash(registration.password.expose())
        .map_err(ServiceError::internal)?;
    let mut conn = connection(ctx)?;
    let created = create_user(&mut conn, &ctx.signals, &registration, &password_hash)?;
    if !registration.email_verified {
        ctx.outbox.send(Job::VerifyEmail {
            user_id: created.0.id,
        });
    }
    Ok(created)
}

/// Inserts a user and sends `post_save<User>{created: true}` in the same
/// transaction; a failing receiver leaves no user behind.
fn create_user(
    conn: &mut AnyConnection,
    signals: &Signals,
    registration: &Registration,
    password_hash: &str,
) -> Result<UserWithProfile, ServiceError> {
    let username_normalized = registration.username.normalized();
    let email_normalized = registration.email.normalized();
    atomic(conn, |work| -> Result<_, ServiceError> {
        let id: i64 = diesel::insert_into(users::table)
            .values(NewUser {
                username: registration.username.as_str(),
                username_normalized: &username_normalized,
                email: registration.email.as_str(),
                email_normalized: &email_normalized,
                password_hash,
                is_active: true,
                is_staff: registration.is_staff,
                is_superuser: registration.is_superuser,
                date_joined: crate::clock::now(),
                email_verified: registration.email_verified,
            })
            .returning(users::id)
            .get_result(work.conn)
            .map_err(taken)?;
        let user: User = users::table
            .find(id)
            .select(User::as_select())
            .first(work.conn)?;
        signals.post_save_user.send(
            work,
            &PostSave {
                instance: user.clone(),
                created: true,
            },
        )?;
        let profile = Profile::of_user(work.conn, user.id)?
            .ok_or_else(|| ServiceError::internal(format!("user {} has no profile", user.id)))?;
        Ok((user, profile))
    })
}

/// A write refused by a UNIQUE constraint is a 409 on the field it guards.
fn taken(error: diesel::result::Error) -> ServiceError {
    let field = if UNIQUE_USERNAME.violated_by(&error) {
        "username"
    } else if UNIQUE_EMAIL.violated_by(&error) {
        "email"
    } else {
        return error.into();
    };
    ServiceError::Conflict(ServiceError::field(
        field,
        format!("A user with that {field} already exists."),
    ))
}

pub fn get(ctx: &AppContext, id: i64) -> Result<UserWithProfile, ServiceError> {
    find(&mut *connection(ctx)?, id)
}

/// The user `id` with its profile, or `NotFound`.
pub fn find(conn: &mut AnyConnection, id: i64) -> Result<UserWithProfile, ServiceError> {
    User::with_profile(conn, id)?.ok_or(ServiceError::NotFound("No user with this id."))
}

/// Changes a user. A new password is hashed here, with no connection
/// held (the caller holds an argon2 turn); the permission is checked again
/// inside the transaction, on the row as it is then.
pub fn update(
    ctx: &AppContext,
    actor: &User,
    id: i64,
    update: UserUpdate,
) -> Result<UserWithProfile, ServiceError> {
    let (target, _) = find(&mut *connection(ctx)?, id)?;
    let forbidden = || {
        ServiceError::Forbidden(if actor.is_staff {
            "Only a superuser may change a staff user or a superuser."
        } else {
            "You may only change your own account."
        })
    };
    if !may_manage(actor, &target) {
        return Err(forbidden());
    }
    if update.is_staff.is_some() && !actor.is_superuser {
        return Err(ServiceError::Forbidden(
            "Only a superuser may change is_staff.",
        ));
    }

    let mut changes = UserChanges {
        username_normalized: update.username.as_ref().map(Username::normalized),
        username: update.username.as_ref().map(|u| u.as_str().to_owned()),
        email_normalized: update.email.as_ref().map(Email::normalized),
        email: update.email.as_ref().map(|e| e.as_str().to_owned()),
        is_staff: update.is_staff,
        is_active: update.is_active,
        ..UserChanges::default()
    };
    if let Some(password) = &update.password {
        let username = changes.username.as_deref().unwrap_or(&target.username);
        let password = check_password_change(
            ctx,
            actor,
            &target,
            password,
            username,
            update.current_password.as_deref(),
            update.client,
        )?;
        changes.password_hash = Some(
            ctx.passwords
                .hash(password.expose())
                .map_err(ServiceError::internal)?,
        );
    }
    if changes.is_empty() {
        return find(&mut *connection(ctx)?, id);
    }

    let password_changed = changes.password_hash.is_some();
    atomic(&mut *connection(ctx)?, |work| {
        let (current, _) = find(work.conn, id)?;
        if !may_manage(actor, &current) {
            return Err(forbidden());
        }
        // A new address (not only its case) must be proved again; the old
        // one hears of the change.
        let email_changed = changes
            .email_normalized
            .as_ref()
            .is_some_and(|new| *new != current.email_normalized);
        let changes = UserChanges {
            email_verified: email_changed.then_some(false),
            ..changes
        };
        diesel::update(users::table.find(id))
            .set(&changes)
            .execute(work.conn)
            .map_err(taken)?;
        if password_changed {
            // Every older session ends: access tokens carry the version
            // bumped here, refresh tokens are revoked.
            sessions::revoke_all(work.conn, id)?;
        }
        if email_changed {
            let outbox = std::sync::Arc::clone(&ctx.outbox);
            let old_address = current.email.clone();
            // The change itself is never refused for it, but its emails
            // count against the addresses' rate like any other: a loop of
            // changes cannot flood the outbox or someone's mailbox.
            let client = crate::auth::throttle::ClientKey::from(update.client);
            let rates = std::sync::Arc::clone(&ctx.email_rates);
            let new_address = changes.email_normalized.clone().unwrap_or_default();
            let old_normalized = current.email_normalized.clone();
            work.on_commit(move || {
                if rates.allow(client, &new_address).is_ok() {
                    outbox.send(Job::VerifyEmail { user_id: id });
                }
                if rates.allow(client, &old_normalized).is_ok() {
                    outbox.send(Job::EmailChanged {
                        user_id: id,
                        old_address,
                    });
                }
            });
        }
        let (user, profile) = find(work.conn, id)?;
        ctx.signals.post_save_user.send(
            work,
            &PostSave {
                instance: user.clone(),
                created: false,
            },
        )?;
        Ok((user, profile))
    })
}

/// Whether `actor` may change or delete `target` (and its profile):
/// themself; staff, a user who is neither staff nor superuser; a
/// superuser, anyone.
pub(crate) fn may_manage(actor: &User, target: &User) -> bool {
    actor.id == target.id
        || actor.is_superuser
        || (actor.is_staff && !target.is_staff && !target.is_superuser)
}

/// A user changing their own password must prove they know the current
/// one; staff changing someone else's need not.
fn check_password_change(
    ctx: &AppContext,
    actor: &User,
    target: &User,
    new_password: &str,
    username: &str,
    current_password: Option<&str>,
    client: IpAddr,
) -> Result<Password, ServiceError> {
    let mut errors = FieldErrors::new();
    let password = Password::parse(new_password, username, ctx.settings.max_password_length)
        .map_err(|problems| errors.insert("password".into(), problems))
        .ok();
    if actor.id == target.id {
        match current_password {
            None => {
                errors.insert(
                    "current_password".into(),
                    vec!["This field is required to change your own password.".into()],
                );
            }
            Some(current) => {
                // A guess at the current password is a sign-in attempt.
                let attempt = ctx.throttle.begin(client, &target.username_normalized)?;
                if ctx.passwords.verify(current, &target.password_hash) {
                    attempt.succeeded();
                } else {
                    errors.insert(
                        "current_password".into(),
                        vec!["Your current password was entered incorrectly.".into()],
                    );
                }
            }
        }
    }
    match password {
        Some(password) if errors.is_empty() => Ok(password),
        _ => Err(ServiceError::Invalid(errors)),
    }
}

/// Deletes a user; the database cascades to the profile, and the picture
/// file goes once the deletion has committed (`post_delete<Profile>`).
pub fn delete(ctx: &AppContext, actor: &User, id: i64) -> Result<(), ServiceError> {
    let mut conn = connection(ctx)?;
    let (target, _) = find(&mut conn, id)?;
    if !may_manage(actor, &target) {
        return Err(ServiceError::Forbidden(if actor.is_staff {
            "Only a superuser may delete a staff user or a superuser."
        } else {
            "You may only delete your own account."
        }));
    }
    atomic(&mut conn, |work| {
        // Locked: an upload committing meanwhile must not leave its new
        // files behind the cascade.
        let profile = Profile::of_user_for_update(work.conn, id)?;
        let deleted = diesel::delete(users::table.find(id)).execute(work.conn)?;
        if deleted == 0 {
            return Err(ServiceError::NotFound("No user with this id."));
        }
        if let Some(profile) = profile {
            ctx.signals
                .post_delete_profile
                .send(work, &PostDelete { instance: profile })?;
        }
        Ok(())
    })
}
