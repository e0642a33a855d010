//! Email the use cases ask for, sent after their transaction has committed
//! and off the request's path: a bounded queue and one thread that, per
//! message, looks the user up, makes the single-use token in its own
//! transaction, writes the message (`mail::messages`) and hands it to the
//! transport. Asking costs a request nothing but a queue push, the same
//! for a known and an unknown address. A full queue drops the message with
//! a log line; a failed send is logged without recipient, token or link.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use diesel::prelude::*;

use crate::db::schema::users;
use crate::db::transaction::atomic;
use crate::db::DbPool;
use crate::error::ServiceError;
use crate::mail::{messages, Email, Mailer};
use crate::models::User;
use crate::services::email_tokens::{self, Purpose};
use crate::settings::Settings;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A verification link to the user's current address (unless it is
    /// verified by the time the job runs).
    VerifyEmail { user_id: i64 },
    /// A reset link to the active user with this address, if there is one.
    PasswordReset { email_normalized: String },
    /// A notice to the address the user had before.
    EmailChanged { user_id: i64, old_address: String },
}

pub struct Outbox {
    sender: SyncSender<Job>,
}

struct Worker {
    pool: DbPool,
    settings: Arc<Settings>,
    mailer: Mailer,
}

impl Outbox {
    /// Starts the sending thread; it ends when the outbox is dropped.
    pub fn start(pool: DbPool, settings: Arc<Settings>, mailer: Mailer) -> std::io::Result<Self> {
        let (sender, receiver) = sync_channel(settings.email_queue);
        let worker = Worker {
            pool,
            settings,
            mailer,
        };
        std::thread::Builder::new()
            .name("outbox".into())
            .spawn(move || worker.run(receiver))?;
        Ok(Self { sender })
    }

    /// Queues `job`; never waits.
    pub fn send(&self, job: Job) {
        match self.sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => {
                tracing::error!(kind = kind(&job), "email queue full: message dropped");
            }
            Err(TrySendError::Disconnected(job)) => {
                tracing::error!(kind = kind(&job), "email sender stopped: message dropped");
            }
        }
    }
}

fn kind(job: &Job) -> &'static str {
    match job {
        Job::VerifyEmail { .. } => "verify_email",
        Job::PasswordReset { .. } => "password_reset",
        Job::EmailChanged { .. } => "email_changed",
    }
}

impl Worker {
    fn run(self, jobs: Receiver<Job>) {
        for job in jobs {
            let kind = kind(&job);
            match self.compose(job) {
                Ok(Some(email)) => match self.mailer.send(&email) {
                    Ok(()) => tracing::info!(kind, "email sent"),
                    Err(error) => tracing::error!(kind, %error, "email not sent"),
                },
                Ok(None) => tracing::debug!(kind, "no email to send"),
                Err(error) => tracing::error!(kind, %error, "email not prepared"),
            }
        }
    }

    /// The message `job` calls for, its token stored; `None` when there
    /// is no one to write to.
    fn compose(&self, job: Job) -> Result<Option<Email>, ServiceError> {
        let ttl = self.settings.email_token_ttl;
        let mut conn = self.pool.get()?;
        match job {
            Job::VerifyEmail { user_id } => {
                let Some(user) = User::find(&mut conn, user_id)? else {
                    return Ok(None);
                };
                if !user.is_active || user.email_verified {
                    return Ok(None);
                }
                let token = atomic(&mut conn, |work| {
                    email_tokens::create(work.conn, &user, Purpose::VerifyEmail, ttl)
                })?;
                let link = link(&self.settings.email_verification_url, &token);
                Ok(Some(messages::verify_email(
                    &user.email,
                    &user.username,
                    &link,
                    ttl,
                )))
            }
            Job::PasswordReset { email_normalized } => {
                let user: Option<User> = users::table
                    .filter(users::email_normalized.eq(&email_normalized))
                    .select(User::as_select())
                    .first(&mut *conn)
                    .optional()?;
                let Some(user) = user.filter(|user| user.is_active) else {
                    return Ok(None);
                };
                let token = atomic(&mut conn, |work| {
                    email_tokens::create(work.conn, &user, Purpose::PasswordReset, ttl)
                })?;
                let link = link(&self.settings.password_reset_url, &token);
                Ok(Some(messages::password_reset(
                    &user.email,
                    &user.username,
                    &link,
                    ttl,
                )))
            }
            Job::EmailChanged {
                user_id,
                old_address,
            } => Ok(User::find(&mut conn, user_id)?
                .map(|user| messages::email_changed(&old_address, &user.username, &user.email))),
        }
    }
}

/// The front end's page for `token` (hex: safe anywhere in a URL).
fn link(template: &str, token: &str) -> String {
    template.replace("{token}", token)
}
