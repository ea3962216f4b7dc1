use chrono::{DateTime, Utc};
use rand::{Rng, distr::Alphanumeric};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A secret API key as the client sends it. Only its SHA-256 is ever stored: keys are
/// long random tokens, so a fast hash is enough and lets us look a key up by its hash.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    const PREFIX: &'static str = "bik_";
    const RANDOM_LEN: usize = 40;

    /// Generates a new random key (`bik_` + 40 alphanumerics, about 238 bits).
    pub(crate) fn generate() -> Self {
        let random: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(Self::RANDOM_LEN)
            .map(char::from)
            .collect();
        Self(format!("{}{random}", Self::PREFIX))
    }

    /// Wraps a key received from a client (the `Authorization` header value).
    pub fn from_client(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let raw = match raw.split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if raw.eq_ignore_ascii_case("bearer") => "",
            _ => raw,
        };
        (!raw.is_empty() && raw.len() <= 256).then(|| Self(raw.to_owned()))
    }

    /// The value stored in the database.
    pub fn hash(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }

    /// A short, non-secret prefix that helps people tell their keys apart.
    pub(crate) fn display_prefix(&self) -> String {
        self.0.chars().take(Self::PREFIX.len() + 6).collect()
    }

    /// The secret itself; only for showing it once to the person who created it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What a key may do. The role belongs to the key, not to its user: one person may hold
/// an admin key and a narrower member key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// Uploads, cancels, webhooks and the tenant's keys.
    Admin,
    /// Reads the tenant's data and jobs; sees and may revoke only its own key.
    Member,
}

impl KeyRole {
    /// The name used in the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// `Admin` when `admin`, else `Member`.
    pub fn from_admin(admin: bool) -> Self {
        if admin { Self::Admin } else { Self::Member }
    }
}

impl std::str::FromStr for KeyRole {
    type Err = super::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => Err(super::UnknownValue(other.to_owned())),
        }
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({}…)", self.display_prefix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_unique_and_hash_stably() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), ApiKey::from_client(a.expose()).unwrap().hash());
        assert_eq!(a.hash().len(), 32);
    }

    #[test]
    fn bearer_prefix_is_accepted() {
        let key = ApiKey::generate();
        let header = format!("Bearer {}", key.expose());
        assert_eq!(ApiKey::from_client(&header).unwrap().hash(), key.hash());
        assert!(ApiKey::from_client("  ").is_none());
        assert!(ApiKey::from_client("Bearer ").is_none());
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let key = ApiKey::generate();
        assert!(!format!("{key:?}").contains(key.expose()));
    }
}

/// Latest expiry a key may get, in days from now (ten years).
pub const MAX_EXPIRY_DAYS: i64 = 3653;

/// A key's expiry as people send it (the API's `expires_at`, the CLI's `--expires-at`):
/// RFC 3339, in the future, at most [`MAX_EXPIRY_DAYS`] ahead of `now`. The error says what
/// is wrong, to follow the option's name ("must be in the future").
pub fn parse_expiry(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map_err(|_| {
            let shown: String = raw.chars().take(80).collect();
            format!("must be an RFC 3339 time such as 2027-06-30T00:00:00Z, not {shown:?}")
        })?
        .with_timezone(&Utc);
    if at <= now {
        return Err("must be in the future".into());
    }
    if at > now + chrono::Duration::days(MAX_EXPIRY_DAYS) {
        return Err("must be at most ten years ahead".into());
    }
    Ok(at)
}

#[cfg(test)]
mod expiry_tests {
    use super::*;

    #[test]
    fn expiry_must_be_rfc_3339_in_the_future_and_within_ten_years() {
        let now = Utc::now();
        let soon = (now + chrono::Duration::days(1)).to_rfc3339();
        assert!(parse_expiry(&soon, now).is_ok());
        let past = (now - chrono::Duration::seconds(1)).to_rfc3339();
        assert!(parse_expiry(&past, now).unwrap_err().contains("future"));
        let far = (now + chrono::Duration::days(MAX_EXPIRY_DAYS + 1)).to_rfc3339();
        assert!(parse_expiry(&far, now).unwrap_err().contains("ten years"));
        assert!(
            parse_expiry("tomorrow", now)
                .unwrap_err()
                .contains("RFC 3339")
        );
    }
}
