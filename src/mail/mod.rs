//! Email out: the transport EMAIL_URL names (SMTP with STARTTLS when the
//! server offers it, SMTPS, or a directory of .eml files) and the one shape
//! every message has (plain text with an HTML alternative, from
//! DEFAULT_FROM_EMAIL). `messages` writes the texts. This module knows
//! nothing of tokens, users or the database, and never logs a message:
//! bodies carry single-use links.

pub mod messages;

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{FileTransport, Message, SmtpTransport, Transport};

use crate::settings::EmailUrl;

/// How long one SMTP command may take before the send is given up.
const SMTP_TIMEOUT: Duration = Duration::from_secs(20);

/// One message, before it has a sender.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

// A body holds a link that opens an account: never print it.
impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

pub struct Mailer {
    transport: Backend,
    from: Mailbox,
}

enum Backend {
    Smtp(Box<SmtpTransport>),
    File {
        dir: std::path::PathBuf,
        transport: FileTransport,
    },
}

/// Makes EMAIL_URL's directory when it is the file backend, so that a
/// server that could not write its email does not start.
pub fn prepare(url: &EmailUrl) -> Result<(), String> {
    if let EmailUrl::File(dir) = url {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create the EMAIL_URL directory: {e}"))?;
        tracing::warn!(
            directory = %dir.display(),
            "EMAIL_URL is a directory: emails are written there as .eml files, not sent"
        );
    }
    Ok(())
}

/// Why a message was not sent; its text names no recipient or body.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SendError(String);

impl Mailer {
    /// The transport of `url`, sending from `from`. Touches nothing: a
    /// file transport's directory is made by `prepare` (when serving) or
    /// by the first send.
    pub fn new(url: &EmailUrl, from: &str) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|_| "DEFAULT_FROM_EMAIL is not an address".to_owned())?;
        let transport = match url {
            EmailUrl::File(dir) => Backend::File {
                dir: dir.clone(),
                transport: FileTransport::new(dir),
            },
            EmailUrl::Smtp {
                host,
                port,
                implicit_tls,
                credentials,
            } => {
                let tls = TlsParameters::new(host.clone())
                    .map_err(|e| format!("cannot set up TLS for EMAIL_URL: {e}"))?;
                let mut builder = SmtpTransport::builder_dangerous(host.as_str())
                    .port(*port)
                    .timeout(Some(SMTP_TIMEOUT))
                    .tls(if *implicit_tls {
                        Tls::Wrapper(tls)
                    } else {
                        Tls::Opportunistic(tls)
                    });
                if let Some((user, password)) = credentials {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Backend::Smtp(Box::new(builder.build()))
            }
        };
        Ok(Self { transport, from })
    }

    /// Sends `email` now (blocking: SMTP or a file write).
    pub fn send(&self, email: &Email) -> Result<(), SendError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| SendError("the recipient is not an address".into()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.as_str())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| SendError(format!("cannot build the message: {e}")))?;
        match &self.transport {
            // Only the kind and code: the server's own text often names
            // the recipient ("550 <bob@…>: rejected").
            Backend::Smtp(smtp) => smtp.send(&message).map(drop).map_err(|e| {
                let code = e
                    .status()
                    .map_or_else(|| "no reply code".to_owned(), |code| code.to_string());
                let kind = if e.is_permanent() {
                    "the server refused the message for good"
                } else if e.is_transient() {
                    "the server refused the message for now"
                } else if e.is_timeout() {
                    "timed out"
                } else {
                    "connection, TLS or protocol failure"
                };
                SendError(format!("SMTP: {kind} ({code})"))
            }),
            Backend::File { dir, transport } => std::fs::create_dir_all(dir)
                .map_err(|e| SendError(format!("file: {e}")))
                .and_then(|()| {
                    transport
                        .send(&message)
                        .map(drop)
                        .map_err(|e| SendError(format!("file: {e}")))
                }),
        }
    }
}
