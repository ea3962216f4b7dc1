//! The `Batch-Import-Signature` header, Stripe's scheme: `t=<unix seconds>,v1=<hex>`, where
//! the hex is HMAC-SHA256, keyed with the endpoint's whole secret (`whsec_…`), of
//! `"<t>.<body>"`. The timestamp in the signed text lets a receiver refuse replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"` keyed with `secret`.
pub(crate) fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The header value for `body` sent at `timestamp`.
pub(crate) fn header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_carries_the_timestamp_and_the_hmac_of_timestamp_dot_body() {
        // Reference value: printf '%s' '1700000000.{"a":1}' |
        //   openssl dgst -sha256 -hmac whsec_test
        let value = header("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            value,
            format!(
                "t=1700000000,v1={}",
                sign("whsec_test", 1_700_000_000, br#"{"a":1}"#)
            )
        );
        assert_eq!(
            sign("whsec_test", 1_700_000_000, br#"{"a":1}"#),
            OPENSSL_REFERENCE
        );
        assert_ne!(
            sign("whsec_other", 1_700_000_000, br#"{"a":1}"#),
            OPENSSL_REFERENCE
        );
        assert_ne!(
            sign("whsec_test", 1_700_000_001, br#"{"a":1}"#),
            OPENSSL_REFERENCE
        );
    }

    const OPENSSL_REFERENCE: &str =
        "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789";
}
