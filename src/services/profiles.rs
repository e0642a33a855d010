//! Profiles: reading one and changing its bio, and the profile's version
//! (`etag`) that `If-Match` is checked against: a change asked for with a
//! stale version is refused inside the transaction, on the locked row. A
//! profile is never created or deleted here: the `create_profile` receiver
//! makes it with its user, and the database's cascade removes it with its
//! user.

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::context::AppContext;
use crate::db::schema::profiles;
use crate::db::transaction::atomic;
use crate::domain::Bio;
use crate::error::ServiceError;
use crate::models::{Profile, User, UserWithProfile};
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

/// A strong entity tag of the profile as clients see it: it changes with
/// every change of the profile (each one sets `updated_at`) and of the
/// username it shows.
pub fn etag(user: &User, profile: &Profile) -> String {
    let mut hash = Sha256::new();
    hash.update(user.id.to_be_bytes());
    hash.update(user.username.as_bytes());
    hash.update([0]);
    hash.update(
        profile
            .updated_at
            .and_utc()
            .timestamp_micros()
            .to_be_bytes(),
    );
    hash.update(profile.image.as_bytes());
    hash.update([0]);
    hash.update(profile.bio.as_bytes());
    format!("\"{}\"", hex::encode(&hash.finalize()[..16]))
}

/// An `If-Match` a change must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfMatch {
    /// `*`: any current version.
    Any,
    /// Entity tags as sent, quotes included; weak ones never match.
    Tags(Vec<String>),
}

impl IfMatch {
    /// `If-Match`'s value: `*`, or a comma-separated list of entity tags.
    pub fn parse(raw: &str) -> Self {
        if raw.trim() == "*" {
            return Self::Any;
        }
        Self::Tags(
            raw.split(',')
                .map(|tag| tag.trim().to_owned())
                .filter(|tag| !tag.is_empty())
                .collect(),
        )
    }

    fn allows(&self, current: &str) -> bool {
        match self {
            Self::Any => true,
            // Strong comparison (RFC 9110): a weak tag never matches.
            Self::Tags(tags) => tags.iter().any(|tag| tag == current),
        }
    }
}

/// Refuses a change unless `precondition` (if any) matches the profile as
/// it is: call it inside the change's transaction, on the locked row.
pub fn check_precondition(
    precondition: Option<&IfMatch>,
    user: &User,
    profile: &Profile,
) -> Result<(), ServiceError> {
    match precondition {
        Some(wanted) if !wanted.allows(&etag(user, profile)) => {
            Err(ServiceError::PreconditionFailed)
        }
        _ => Ok(()),
    }
}

/// Changes what was given (only the bio, for now); whoever may manage the
/// user (`users::may_manage`), and only while `precondition` holds.
pub fn update(
    ctx: &AppContext,
    actor: &User,
    user_id: i64,
    bio: Option<Bio>,
    precondition: Option<IfMatch>,
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
    atomic(&mut conn, |work| -> Result<_, ServiceError> {
        let profile = Profile::of_user_for_update(work.conn, user_id)?
            .ok_or(ServiceError::NotFound("No profile for this user id."))?;
        let (owner, _) = find(work.conn, user_id).map_err(as_missing_profile)?;
        check_precondition(precondition.as_ref(), &owner, &profile)?;
        let Some(bio) = bio else {
            return Ok((owner, profile));
        };
        diesel::update(profiles::table.filter(profiles::user_id.eq(user_id)))
            .set((
                profiles::bio.eq(bio.as_str()),
                profiles::updated_at.eq(crate::clock::now()),
            ))
            .execute(work.conn)?;
        find(work.conn, user_id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_strongly() {
        assert_eq!(IfMatch::parse(" * "), IfMatch::Any);
        let tags = IfMatch::parse("\"a\", W/\"b\",\"c\"");
        assert!(tags.allows("\"a\"") && tags.allows("\"c\""));
        assert!(!tags.allows("\"b\""), "a weak tag never matches");
        assert!(!IfMatch::parse("").allows("\"a\""));
        assert!(IfMatch::Any.allows("\"anything\""));
    }
}
