//! The words of each email portrait sends: a subject and a plain-text body
//! a person understands at a glance, and the same in HTML. Pure functions:
//! values in, an `Email` out; no token is made or stored here.

use std::time::Duration;

use super::Email;

/// "Reset your password": the link lets `username` choose a new one.
pub fn password_reset(to: &str, username: &str, link: &str, valid_for: Duration) -> Email {
    let minutes = minutes(valid_for);
    let text = format!(
        "Hello {username},\n\n\
         Someone (we hope you) asked to reset the password of your portrait account \"{username}\".\n\n\
         To choose a new password, open this link within {minutes}:\n\n\
         {link}\n\n\
         The link works once. If you did not ask for this, ignore this email: \
         your password stays as it is.\n"
    );
    let html = page(&format!(
        "<p>Hello {user},</p>\
         <p>Someone (we hope you) asked to reset the password of your portrait account \
         &ldquo;{user}&rdquo;.</p>\
         <p>To choose a new password, open this link within {minutes}:</p>\
         <p><a href=\"{href}\">Choose a new password</a></p>\
         <p>Or copy this address into your browser: {href}</p>\
         <p>The link works once. If you did not ask for this, ignore this email: \
         your password stays as it is.</p>",
        user = escape(username),
        href = escape(link),
    ));
    Email {
        to: to.to_owned(),
        subject: "Reset your portrait password".into(),
        text,
        html,
    }
}

/// "Confirm your email address": the link proves `to` is the user's.
pub fn verify_email(to: &str, username: &str, link: &str, valid_for: Duration) -> Email {
    let minutes = minutes(valid_for);
    let text = format!(
        "Hello {username},\n\n\
         Please confirm that {to} is the email address of your portrait account \"{username}\" \
         by opening this link within {minutes}:\n\n\
         {link}\n\n\
         If you did not create or change a portrait account, ignore this email.\n"
    );
    let html = page(&format!(
        "<p>Hello {user},</p>\
         <p>Please confirm that {address} is the email address of your portrait account \
         &ldquo;{user}&rdquo; by opening this link within {minutes}:</p>\
         <p><a href=\"{href}\">Confirm my email address</a></p>\
         <p>Or copy this address into your browser: {href}</p>\
         <p>If you did not create or change a portrait account, ignore this email.</p>",
        user = escape(username),
        address = escape(to),
        href = escape(link),
    ));
    Email {
        to: to.to_owned(),
        subject: "Confirm your email address".into(),
        text,
        html,
    }
}

/// A notice to the address an account used to have: it was replaced. The
/// new address is shown masked (the old one may no longer be the user's).
pub fn email_changed(old_address: &str, username: &str, new_address: &str) -> Email {
    let masked = mask(new_address);
    let text = format!(
        "Hello {username},\n\n\
         The email address of your portrait account \"{username}\" was changed to {masked}. \
         Emails about this account now go there, not to this address.\n\n\
         If you made this change, there is nothing to do. If you did not, sign in and \
         change your password, or ask the site's staff for help.\n"
    );
    let html = page(&format!(
        "<p>Hello {user},</p>\
         <p>The email address of your portrait account &ldquo;{user}&rdquo; was changed to \
         {masked}. Emails about this account now go there, not to this address.</p>\
         <p>If you made this change, there is nothing to do. If you did not, sign in and \
         change your password, or ask the site's staff for help.</p>",
        user = escape(username),
        masked = escape(&masked),
    ));
    Email {
        to: old_address.to_owned(),
        subject: "Your portrait email address was changed".into(),
        text,
        html,
    }
}

/// `a***@example.com`: enough to recognise, not enough to harvest.
fn mask(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

fn minutes(valid_for: Duration) -> String {
    match valid_for.as_secs().div_ceil(60) {
        1 => "1 minute".into(),
        n if n % 60 == 0 && n >= 120 => format!("{} hours", n / 60),
        60 => "1 hour".into(),
        n => format!("{n} minutes"),
    }
}

fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>portrait</title></head><body>{body}</body></html>"
    )
}

fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_email_says_what_to_do_and_carries_the_link() {
        let link = "https://app.example/reset?token=abc&x=1";
        let email = password_reset(
            "alice@example.com",
            "alice",
            link,
            Duration::from_secs(3600),
        );
        assert_eq!(email.subject, "Reset your portrait password");
        assert!(email.text.contains(link));
        assert!(email.text.contains("within 1 hour"));
        assert!(email
            .html
            .contains("https://app.example/reset?token=abc&amp;x=1"));
    }

    #[test]
    fn the_old_address_sees_the_new_one_masked() {
        let email = email_changed("old@example.com", "bob", "newbob@example.org");
        assert_eq!(email.to, "old@example.com");
        assert!(email.text.contains("n***@example.org"));
        assert!(!email.text.contains("newbob"));
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(minutes(Duration::from_secs(60)), "1 minute");
        assert_eq!(minutes(Duration::from_secs(1800)), "30 minutes");
        assert_eq!(minutes(Duration::from_secs(7200)), "2 hours");
        assert_eq!(minutes(Duration::from_secs(90)), "2 minutes");
    }
}
