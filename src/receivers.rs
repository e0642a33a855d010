//! What the application connects to its signals at start: Django's
//! `signals.py` plus the `AppConfig.ready()` that imports it. This is the
//! one place to look for "what happens when a user is saved". Receivers
//! write only through the unit of work they are given; file work waits for
//! the commit.

use std::sync::Arc;

use diesel::prelude::*;

use crate::db::schema::profiles;
use crate::models::profile::{DEFAULT_IMAGE, DEFAULT_IMAGE_SIZE};
use crate::models::NewProfile;
use crate::services::pictures;
use crate::signals::Signals;
use crate::storage::Storage;

/// Connects portrait's receivers to `signals`.
pub fn connect_default_receivers(signals: &mut Signals, storage: Arc<dyn Storage>) {
    signals
        .post_save_user
        .connect("create_profile", |work, event| {
            if !event.created {
                return Ok(());
            }
            diesel::insert_into(profiles::table)
                .values(NewProfile {
                    user_id: event.instance.id,
                    image: DEFAULT_IMAGE,
                    image_width: DEFAULT_IMAGE_SIZE.0,
                    image_height: DEFAULT_IMAGE_SIZE.1,
                    bio: "",
                    updated_at: crate::clock::now(),
                })
                .execute(work.conn)?;
            Ok(())
        });

    signals
        .post_delete_profile
        .connect("delete_picture_file", move |work, event| {
            pictures::delete_after_commit(work, &storage, &event.instance);
            Ok(())
        });
}
