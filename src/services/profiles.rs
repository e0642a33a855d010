//! Profiles: reading one and changing its bio. A profile is never created
//! or deleted here: the `create_profile` receiver makes it with its user,
//! and the database's cascade removes it with its user.

use diesel::prelude::*;

use crate::context::AppContext;
use crate::db::schema::profiles;
use crate::db::transaction::atomic;
use crate::domain::Bio;
use crate::error::ServiceError;
use crate::models::{User, UserWithProfile};
use crate::services::connection;
use crate::services::users::{find, may_manage};

pub fn get(ctx: &AppContext, user_id: i64) -> Result<UserWithProfile, ServiceError> {
    find(&mut *connection(ctx)?, user_id).map_err(as_missing_profile)
}

fn as_missing_profile(error: ServiceError) -> ServiceError {
    match error {
        ServiceError::NotFound(_) => ServiceError::NotFound("No profile for this user id."),
        other => other,
    }
}

/// Changes what was given (only the bio, for now); whoever may manage the
/// user (`users::may_manage`).
pub fn update(
    ctx: &AppContext,
    actor: &User,
    user_id: i64,
    bio: Option<Bio>,
) -> Result<UserWithProfile, ServiceError> {
    let mut conn = connection(ctx)?;
    let (owner, _) = find(&mut conn, user_id).map_err(as_missing_profile)?;
    if !may_manage(actor, &owner) {
        return Err(ServiceError::Forbidden(if actor.is_staff {
            "Only a superuser may change the profile of a staff user or a superuser."
        } else {
            "You may only change your own profile."
        }));
    }
    let Some(bio) = bio else {
        return find(&mut conn, user_id);
    };
    atomic(&mut conn, |work| -> Result<_, ServiceError> {
        diesel::update(profiles::table.filter(profiles::user_id.eq(user_id)))
            .set((
                profiles::bio.eq(bio.as_str()),
                profiles::updated_at.eq(crate::clock::now()),
            ))
            .execute(work.conn)?;
        find(work.conn, user_id)
    })
}
