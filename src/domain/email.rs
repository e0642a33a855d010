//! `Email`: a syntactically valid, bounded address with Django's
//! `normalize_email` applied, and the normalised form uniqueness compares.
//! Pure: it never looks the domain up.

use std::fmt;

pub const MAX_EMAIL_CHARS: usize = 254;
const MAX_LOCAL_PART_CHARS: usize = 64;
const MAX_DOMAIN_LABEL_CHARS: usize = 63;

/// A syntactically valid address of at most 254 characters, with its
/// domain lower-cased as Django's `normalize_email` does.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("This field may not be blank.".into());
        }
        if value.chars().count() > MAX_EMAIL_CHARS {
            return Err(format!(
                "Ensure this field has no more than {MAX_EMAIL_CHARS} characters."
            ));
        }
        let invalid = || "Enter a valid email address.".to_owned();
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        if !is_valid_local_part(local) || !is_valid_domain(domain) {
            return Err(invalid());
        }
        let email = Self(format!("{local}@{}", domain.to_lowercase()));
        // Lower case can be longer than the text it came from: the stored
        // forms must fit too.
        if email.normalized().chars().count() > MAX_EMAIL_CHARS {
            return Err(format!(
                "Ensure this field has no more than {MAX_EMAIL_CHARS} characters."
            ));
        }
        Ok(email)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness compares: case does not count anywhere.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A dot-atom of RFC 5322's atext (quoted local parts are not accepted).
fn is_valid_local_part(local: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    !local.is_empty()
        && local.len() <= MAX_LOCAL_PART_CHARS
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// Dot-separated labels of letters, digits and inner hyphens, with an
/// alphabetic top-level label; `localhost` too, as Django allows.
fn is_valid_domain(domain: &str) -> bool {
    if domain.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.chars().count() <= MAX_DOMAIN_LABEL_CHARS
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let tld_ok = |tld: &str| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic);
    labels.len() >= 2 && labels.iter().all(label_ok) && labels.last().is_some_and(|t| tld_ok(t))
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_the_domain() {
        assert_eq!(
            Email::parse("Alice@Example.COM").unwrap().as_str(),
            "Alice@example.com"
        );
        assert_eq!(
            Email::parse("Alice@Example.COM").unwrap().normalized(),
            "alice@example.com"
        );
        for ok in [
            "a.b+tag@sub.example.org",
            "x@localhost",
            "o'neil@example.ie",
            "u@bücher.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_or_long_addresses() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a@b",
            "a..b@example.com",
            ".a@example.com",
            "a@-example.com",
            "a@example.c0m",
            "a b@example.com",
            "a@exa mple.com",
            &long,
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }
}
