//! Bearer secrets that travel in URLs, where no header can carry a token (a calendar feed's
//! address): 256 random bits, URL-safe base64, kept by the server only as their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// `prefix` followed by 32 random bytes (43 URL-safe characters).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    // aws-lc's generator draws from the operating system; it does not fail in practice,
    // and a failure would leave zeros, which the unique hash index then refuses twice.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// What is kept of a secret: its SHA-256, hex.
pub fn digest(secret: &str) -> String {
    crate::hex::encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes()).as_ref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_new_each_time_and_kept_as_their_digest() {
        let (a, b) = (new_secret("t."), new_secret("t."));
        assert_ne!(a, b);
        assert!(a.starts_with("t.") && a.len() == 45, "{a}");
        assert!(
            a[2..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(digest(&a), digest(&a));
        assert_ne!(digest(&a), digest(&b));
    }
}
