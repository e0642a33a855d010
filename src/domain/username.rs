//! `Username`: Django's username rules (letters, digits and `@.+-_`, at
//! most 150), NFKC-normalised first as Django's `normalize_username` does
//! (so `ｕｎｉａｄｍｉｎ` is `uniadmin`), and the case-folded form that
//! uniqueness, sign-in and search compare. Pure.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

pub const MAX_USERNAME_CHARS: usize = 150;

/// 1–150 letters, digits and `@.+-_`, as Django's `UnicodeUsernameValidator`.
#[derive(Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, String> {
        // Not trimmed: surrounding white space is not a username character,
        // and the document's pattern says so.
        let value: &str = &raw.nfkc().collect::<String>();
        if value.is_empty() {
            return Err("This field may not be blank.".into());
        }
        // The case-folded form is stored too, and can be longer (`İ` is two
        // characters in lower case): both must fit.
        if value.chars().count() > MAX_USERNAME_CHARS
            || normalize(value).chars().count() > MAX_USERNAME_CHARS
        {
            return Err(format!(
                "Ensure this field has no more than {MAX_USERNAME_CHARS} characters."
            ));
        }
        let allowed = |c: char| c.is_alphanumeric() || "@.+-_".contains(c);
        if !value.chars().all(allowed) {
            return Err(
                "Enter a valid username. This value may contain only letters, \
                        numbers, and @/./+/-/_ characters."
                    .into(),
            );
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form uniqueness and search compare: case does not count.
    pub fn normalized(&self) -> String {
        normalize(&self.0)
    }
}

/// NFKC, then lower case: the way uniqueness is judged, for usernames,
/// sign-in names and search terms.
pub fn normalize(value: &str) -> String {
    value.nfkc().collect::<String>().to_lowercase()
}

/// Whether `value` is already in the form `Username::parse` stores.
pub fn is_nfkc(value: &str) -> bool {
    unicode_normalization::is_nfkc(value)
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_django_accepts() {
        for ok in [
            "alice",
            "a",
            "a.b+c-d_e@f",
            "Jörg",
            "用户",
            &"x".repeat(150),
        ] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        assert!(Username::parse(" bob").is_err());
    }

    #[test]
    fn refuses_what_django_refuses() {
        for bad in [
            "",
            "   ",
            "a b",
            "a/b",
            "<script>",
            "a\u{0}b",
            &"x".repeat(151),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn normalized_ignores_case() {
        assert_eq!(Username::parse("AlIcE").unwrap().normalized(), "alice");
    }

    #[test]
    fn a_name_whose_lower_case_is_longer_than_the_limit_is_refused() {
        assert!(Username::parse(&"İ".repeat(75)).is_ok());
        assert!(Username::parse(&"İ".repeat(76)).is_err());
    }

    #[test]
    fn lookalikes_are_nfkc_normalised_first() {
        for lookalike in ["ｕｎｉａｄｍｉｎ", "𝐮niadmin", "ＵＮＩＡＤＭＩＮ"] {
            let parsed = Username::parse(lookalike).unwrap();
            assert_eq!(parsed.normalized(), "uniadmin", "{lookalike}");
        }
        assert_eq!(
            Username::parse("ｕｎｉａｄｍｉｎ").unwrap().as_str(),
            "uniadmin"
        );
        assert_eq!(normalize("uniadmﬁn"), "uniadmfin");
        assert!(is_nfkc("uniadmin") && !is_nfkc("ｕｎｉａｄｍｉｎ"));
    }
}
