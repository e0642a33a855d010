//! `Bio`: a profile's free text, trimmed, bounded, without NUL. Pure.

pub const MAX_BIO_CHARS: usize = 500;

/// A profile's free text, at most 500 characters after trimming (DRF's
/// CharField trims surrounding white space).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        if value.chars().count() > MAX_BIO_CHARS {
            return Err(format!(
                "Ensure this field has no more than {MAX_BIO_CHARS} characters."
            ));
        }
        if value.contains('\0') {
            return Err("Null characters are not allowed.".into());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_500_characters() {
        assert!(Bio::parse(&"é".repeat(500)).is_ok());
        assert!(Bio::parse(&"é".repeat(501)).is_err());
        assert_eq!(Bio::parse("  hi  ").unwrap().as_str(), "hi");
        assert!(Bio::parse("").is_ok());
    }
}
