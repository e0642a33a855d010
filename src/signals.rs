//! The signal dispatcher, as Django's `django.dispatch` meant it but done
//! safely: a `Signal<E>` holds receivers connected once at start
//! (`receivers.rs`), and `send` calls them inside the sender's transaction,
//! so a failing receiver rolls the whole save back. Receivers that touch
//! anything but the database (files) must defer that work with
//! `UnitOfWork::on_commit`.
//!
//! Only the service layer sends signals, and every save of a user goes
//! through it. Bulk operations that bypass the services (raw SQL,
//! migrations, `ON DELETE CASCADE` itself) fire none.

use crate::db::transaction::UnitOfWork;
use crate::error::ServiceError;
use crate::models::{Profile, User};

type ReceiverFn<E> = dyn Fn(&mut UnitOfWork<'_>, &E) -> Result<(), ServiceError> + Send + Sync;

/// A named receiver; the name shows in logs when it fails.
struct Receiver<E> {
    name: &'static str,
    call: Box<ReceiverFn<E>>,
}

/// One kind of event and the receivers that listen for it, called in the
/// order they were connected.
pub struct Signal<E> {
    receivers: Vec<Receiver<E>>,
}

impl<E> Default for Signal<E> {
    fn default() -> Self {
        Self {
            receivers: Vec::new(),
        }
    }
}

impl<E> Signal<E> {
    pub fn connect(
        &mut self,
        name: &'static str,
        receiver: impl Fn(&mut UnitOfWork<'_>, &E) -> Result<(), ServiceError> + Send + Sync + 'static,
    ) {
        self.receivers.push(Receiver {
            name,
            call: Box::new(receiver),
        });
    }

    /// Calls every receiver; the first failure stops the rest and is
    /// returned, so the sender's transaction rolls back.
    pub fn send(&self, work: &mut UnitOfWork<'_>, event: &E) -> Result<(), ServiceError> {
        for receiver in &self.receivers {
            (receiver.call)(work, event).inspect_err(|error| {
                tracing::warn!(receiver = receiver.name, %error, "signal receiver failed");
            })?;
        }
        Ok(())
    }

    pub fn receiver_names(&self) -> Vec<&'static str> {
        self.receivers.iter().map(|r| r.name).collect()
    }
}

/// Sent after a row is inserted or updated, inside the same transaction.
pub struct PostSave<M> {
    pub instance: M,
    pub created: bool,
}

/// Sent after a row is deleted (or is about to vanish by cascade), inside
/// the same transaction.
pub struct PostDelete<M> {
    pub instance: M,
}

/// Every signal portrait sends.
#[derive(Default)]
pub struct Signals {
    pub post_save_user: Signal<PostSave<User>>,
    pub post_delete_profile: Signal<PostDelete<Profile>>,
}
