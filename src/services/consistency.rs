//! The consistency check behind `portrait check [--fix]`: every user has a
//! profile, every rendition of every profile's picture exists (a picture
//! missing some is made anew from the largest one left, one stored before
//! renditions gets them, one with none left goes back to the default),
//! and every file under MEDIA_ROOT/profile_pics belongs to a profile (by
//! its stem). Files younger than the
//! grace period are uploads in flight, never strays. Memory stays bounded
//! at any size: profiles are read in batches (only those not on the
//! default picture, and only their names), the store's listing is visited
//! one name at a time and looked up in batches. Repairs go through
//! the same paths as the API (a missing profile is made by the
//! `post_save<User>` signal), and only what is safe: a stray file is
//! deleted only while no profile names it. Usernames stored before NFKC
//! normalisation are reported, and with `--fix` normalised unless that
//! would clash with another user's, which stays for a person to decide.

use std::collections::HashSet;
use std::time::Duration;

use diesel::prelude::*;
use unicode_normalization::UnicodeNormalization;

use crate::context::AppContext;
use crate::db::schema::{profiles, users};
use crate::db::transaction::atomic;
use crate::db::AnyConnection;
use crate::domain::{is_nfkc, normalize_username};
use crate::error::ServiceError;
use crate::models::picture::{stem_of, PictureFiles};
use crate::models::profile::DEFAULT_IMAGE;
use crate::models::{Profile, User};
use crate::services::pictures;
use crate::signals::PostSave;
use crate::storage::{older_than, Storage, PROFILE_PICS_DIR};

/// What the check found (and, with `fix`, what it repaired).
#[derive(Debug, Default)]
pub struct Report {
    pub users_without_profile: Vec<i64>,
    pub profiles_missing_file: Vec<(i64, String)>,
    /// Pictures some of whose renditions are missing: (user, the missing).
    pub renditions_missing: Vec<(i64, Vec<String>)>,
    /// Pictures stored before renditions existed: (user, its file).
    pub without_renditions: Vec<(i64, String)>,
    pub stray_files: Vec<String>,
    pub default_image_missing: bool,
    /// Users whose stored username is not in its NFKC form (made before
    /// usernames were normalised); `--fix` normalises them.
    pub usernames_not_normalised: Vec<(i64, String)>,
    /// Of those, the ones whose normal form another user already has:
    /// never fixed, only reported, for a person to decide.
    pub username_clashes: Vec<(i64, String)>,
    /// Unreferenced files still inside the grace period: not problems.
    pub young_files: usize,
    pub fixed: bool,
}

impl Report {
    pub fn is_consistent(&self) -> bool {
        self.users_without_profile.is_empty()
            && self.profiles_missing_file.is_empty()
            && self.renditions_missing.is_empty()
            && self.without_renditions.is_empty()
            && self.stray_files.is_empty()
            && !self.default_image_missing
            && self.usernames_not_normalised.is_empty()
            && self.username_clashes.is_empty()
    }

    /// One line per finding, for people and scripts.
    pub fn lines(&self) -> Vec<String> {
        let verb = if self.fixed { "fixed" } else { "found" };
        let mut lines = Vec::new();
        for id in &self.users_without_profile {
            lines.push(format!("{verb}: user {id} has no profile"));
        }
        for (user_id, image) in &self.profiles_missing_file {
            lines.push(format!(
                "{verb}: profile of user {user_id} names missing file {image}"
            ));
        }
        for (user_id, missing) in &self.renditions_missing {
            lines.push(format!(
                "{verb}: picture of user {user_id} is missing renditions {}",
                missing.join(", ")
            ));
        }
        for (user_id, image) in &self.without_renditions {
            lines.push(format!(
                "{verb}: picture of user {user_id} ({image}) has no renditions"
            ));
        }
        for name in &self.stray_files {
            lines.push(format!("{verb}: stray file {name}"));
        }
        if self.default_image_missing {
            lines.push(format!(
                "{verb}: {DEFAULT_IMAGE} or one of its renditions is missing from MEDIA_ROOT"
            ));
        }
        for (id, username) in &self.usernames_not_normalised {
            lines.push(format!(
                "{verb}: username of user {id} ({username:?}) is not NFKC-normalised"
            ));
        }
        for (id, username) in &self.username_clashes {
            lines.push(format!(
                "found: username of user {id} ({username:?}) is not NFKC-normalised, \
                 and another user has its normal form (or it is too long): rename one of them"
            ));
        }
        if self.young_files > 0 {
            lines.push(format!(
                "ignored: {} unreferenced file(s) younger than the grace period (uploads in flight)",
                self.young_files
            ));
        }
        lines
    }
}

/// Checks, and with `fix` repairs, the database and MEDIA_ROOT.
pub fn check(
    conn: &mut AnyConnection,
    ctx: &AppContext,
    grace: Duration,
    fix: bool,
) -> Result<Report, ServiceError> {
    let (signals, storage) = (&ctx.signals, ctx.storage.as_ref());
    let default = &ctx.default_picture;
    let mut report = Report {
        fixed: fix,
        ..Report::default()
    };

    let orphans: Vec<User> = users::table
        .left_join(profiles::table)
        .filter(profiles::id.is_null())
        .select(User::as_select())
        .load(conn)?;
    report.users_without_profile = orphans.iter().map(|u| u.id).collect();
    if fix {
        for user in orphans {
            atomic(conn, |work| {
                signals.post_save_user.send(
                    work,
                    &PostSave {
                        instance: user,
                        created: true,
                    },
                )
            })?;
        }
    }

    check_usernames(conn, &mut report, fix)?;

    report.default_image_missing =
        !pictures::default_installed(storage, default).map_err(ServiceError::internal)?;
    if fix && report.default_image_missing {
        pictures::install_default(storage, default).map_err(ServiceError::internal)?;
    }

    check_picture_files(conn, ctx, &mut report, fix)?;
    check_stray_files(conn, storage, &mut report, grace, fix)?;
    Ok(report)
}

/// How many rows or names one step of the check holds: memory stays
/// bounded however many users and files there are.
const BATCH: usize = 1000;

/// Profiles whose picture files are missing, in whole or in part, read
/// in batches for the profiles not on the default picture only.
fn check_picture_files(
    conn: &mut AnyConnection,
    ctx: &AppContext,
    report: &mut Report,
    fix: bool,
) -> Result<(), ServiceError> {
    let storage = ctx.storage.as_ref();
    let mut after = 0i64;
    loop {
        let batch: Vec<Profile> = profiles::table
            .filter(profiles::id.gt(after))
            .filter(profiles::image.ne(DEFAULT_IMAGE))
            .order(profiles::id.asc())
            .limit(BATCH as i64)
            .select(Profile::as_select())
            .load(conn)?;
        let Some(last) = batch.last() else {
            return Ok(());
        };
        after = last.id;
        for profile in batch {
            let files = pictures::files_of(&profile);
            let mut present = Vec::new();
            let mut missing = Vec::new();
            for name in files {
                if storage.exists(&name).map_err(ServiceError::internal)? {
                    present.push(name);
                } else {
                    missing.push(name);
                }
            }
            let legacy = PictureFiles::of_profile(&profile).is_none();
            if present.is_empty() {
                if fix {
                    pictures::reset_if_unchanged(ctx, &profile)?;
                }
                report
                    .profiles_missing_file
                    .push((profile.user_id, profile.image.clone()));
                continue;
            }
            if missing.is_empty() && !legacy {
                continue;
            }
            if fix {
                // The largest one left (the names run smallest first, the
                // primary format before WebP).
                let source = present
                    .iter()
                    .rev()
                    .max_by_key(|name| size_in_name(name))
                    .cloned()
                    .unwrap_or_default();
                pictures::regenerate(ctx, &profile, &source)?;
            }
            if legacy {
                report
                    .without_renditions
                    .push((profile.user_id, profile.image.clone()));
            } else {
                report.renditions_missing.push((profile.user_id, missing));
            }
        }
    }
}

/// The width a rendition's name says (`<stem>-<width>.<ext>`); 0 for a
/// name without one.
fn size_in_name(name: &str) -> u32 {
    let stem = stem_of(name);
    name.get(stem.len() + 1..)
        .and_then(|rest| rest.split('.').next())
        .and_then(|width| width.parse().ok())
        .unwrap_or(0)
}

/// Files under profile_pics that no profile names, older than `grace`.
/// The store's listing is visited one name at a time; names are looked up
/// in batches by stem (the `profiles_image_stem` index), never all held
/// at once.
fn check_stray_files(
    conn: &mut AnyConnection,
    storage: &dyn Storage,
    report: &mut Report,
    grace: Duration,
    fix: bool,
) -> Result<(), ServiceError> {
    let mut pending: Vec<String> = Vec::with_capacity(BATCH);
    let mut failure: Option<ServiceError> = None;
    let settle = |conn: &mut AnyConnection, names: &mut Vec<String>, report: &mut Report| {
        let result = unreferenced(conn, names).and_then(|strays| {
            for name in strays {
                if fix && !is_referenced(conn, &name)? {
                    pictures::delete_now(storage, std::slice::from_ref(&name));
                }
                report.stray_files.push(name);
            }
            Ok(())
        });
        names.clear();
        result
    };
    storage
        .list(&format!("{PROFILE_PICS_DIR}/"), &mut |object| {
            if failure.is_some() {
                return;
            }
            if !older_than(object.modified, grace) {
                // Not yet known to be unreferenced: counted only if it is.
                pending_young(conn, &object.name, report, &mut failure);
                return;
            }
            pending.push(object.name);
            if pending.len() >= BATCH {
                if let Err(error) = settle(conn, &mut pending, report) {
                    failure = Some(error);
                }
            }
        })
        .map_err(ServiceError::internal)?;
    if let Some(error) = failure {
        return Err(error);
    }
    settle(conn, &mut pending, report)
}

/// Counts a young file that no profile names: an upload in flight.
fn pending_young(
    conn: &mut AnyConnection,
    name: &str,
    report: &mut Report,
    failure: &mut Option<ServiceError>,
) {
    match is_referenced(conn, name) {
        Ok(false) => report.young_files += 1,
        Ok(true) => {}
        Err(error) => *failure = Some(error),
    }
}

/// Of `names`, those whose stem no profile has (one indexed query).
fn unreferenced(conn: &mut AnyConnection, names: &[String]) -> Result<Vec<String>, ServiceError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let stems: Vec<&str> = names.iter().map(|name| stem_of(name)).collect();
    let referenced: HashSet<String> = profiles::table
        .filter(profiles::image_stem.eq_any(&stems))
        .select(profiles::image_stem)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    Ok(names
        .iter()
        .filter(|name| !referenced.contains(stem_of(name)))
        .cloned()
        .collect())
}

/// Usernames stored before NFKC normalisation, read in batches (memory
/// stays bounded at any number of users). With `fix`, each is rewritten in
/// its normal form unless that form is taken, which is reported instead.
fn check_usernames(
    conn: &mut AnyConnection,
    report: &mut Report,
    fix: bool,
) -> Result<(), ServiceError> {
    let mut after = 0i64;
    loop {
        let batch: Vec<(i64, String, String)> = users::table
            .filter(users::id.gt(after))
            .order(users::id.asc())
            .limit(BATCH as i64)
            .select((users::id, users::username, users::username_normalized))
            .load(conn)?;
        let Some(&(last, _, _)) = batch.last() else {
            return Ok(());
        };
        after = last;
        for (id, username, stored_key) in batch {
            let key = normalize_username(&username);
            if is_nfkc(&username) && key == stored_key {
                continue;
            }
            if !fix {
                report.usernames_not_normalised.push((id, username));
                continue;
            }
            let normal: String = username.nfkc().collect();
            let renamed = atomic(conn, |work| {
                diesel::update(users::table.find(id))
                    .set((
                        users::username.eq(&normal),
                        users::username_normalized.eq(&key),
                    ))
                    .execute(work.conn)
            });
            match renamed {
                Ok(_) => report.usernames_not_normalised.push((id, username)),
                // Taken, or too long once normalised: a person decides.
                Err(diesel::result::Error::DatabaseError(..)) => {
                    report.username_clashes.push((id, username))
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// Asked again right before a deletion: the list above may be stale.
fn is_referenced(conn: &mut AnyConnection, name: &str) -> Result<bool, ServiceError> {
    let count: i64 = profiles::table
        .filter(profiles::image_stem.eq(stem_of(name)))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}
