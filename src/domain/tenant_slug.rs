/// A tenant's subdomain label: lowercase letters, digits and inner hyphens, at most 63.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSlug(String);

impl TenantSlug {
    /// Validates a slug as given on the command line.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_ascii_lowercase();
        let valid = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if valid {
            Ok(Self(s))
        } else {
            Err(format!(
                "{raw:?} is not a valid tenant slug: use 1-63 letters, digits and inner hyphens"
            ))
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated_and_lowercased() {
        assert_eq!(TenantSlug::parse("Acme").unwrap().as_str(), "acme");
        assert!(TenantSlug::parse("acme-eu").is_ok());
        for bad in ["", "-acme", "acme-", "ac.me", "ac me", &"a".repeat(64)] {
            assert!(TenantSlug::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
