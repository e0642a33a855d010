//! `Password`: Django's default password validators as the contract states
//! them. The raw text is never shown by `Debug` and never logged. Pure.

use std::fmt;

pub const MIN_PASSWORD_CHARS: usize = 8;
/// MAX_PASSWORD_LENGTH's default.
pub const DEFAULT_MAX_PASSWORD_CHARS: usize = 1024;

/// A password that passes Django's default validators as the contract
/// states them: at least 8 characters, not entirely numeric, not the
/// username. Its `Debug` never shows it.
pub struct Password(String);

impl Password {
    /// `max_chars` bounds the hashing work one request can ask for.
    pub fn parse(raw: &str, username: &str, max_chars: usize) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let length = raw.chars().count();
        if length < MIN_PASSWORD_CHARS {
            problems.push(format!(
                "This password is too short. It must contain at least {MIN_PASSWORD_CHARS} characters."
            ));
        }
        if length > max_chars {
            problems.push(format!(
                "Ensure this field has no more than {max_chars} characters."
            ));
        }
        if !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit()) {
            problems.push("This password is entirely numeric.".into());
        }
        if !username.is_empty() && raw.to_lowercase() == username.to_lowercase() {
            problems.push("The password is too similar to the username.".into());
        }
        if problems.is_empty() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(problems)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_the_contracts_rules() {
        assert!(Password::parse("correct horse", "alice", 1024).is_ok());
        assert!(Password::parse("short", "alice", 1024).is_err());
        assert!(Password::parse("1234567890", "alice", 1024).is_err());
        assert!(Password::parse("AliceAlice", "alicealice", 1024).is_err());
        assert!(Password::parse(&"x".repeat(2000), "alice", 1024).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-pass", "a", 64).unwrap()),
            "Password(…)"
        );
    }
}
