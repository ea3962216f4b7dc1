//! The signing secret of an endpoint: shown once when it is registered, then only used to
//! sign. HMAC needs the secret itself, so it is stored as is (not hashed like API keys).

use rand::Rng;

/// What every secret starts with, so that one found in a log or a repository is
/// recognisable.
pub(crate) const PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and 32 random bytes in hex (256 bits).
pub(crate) fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    format!("{PREFIX}{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_long() {
        let a = generate();
        let b = generate();
        assert!(a.starts_with(PREFIX));
        assert_eq!(a.len(), PREFIX.len() + 64);
        assert_ne!(a, b);
    }
}
