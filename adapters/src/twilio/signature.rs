//! `X-Twilio-Signature`: proof that a request comes from Twilio
//! (`protocols.md` §1.6).
//!
//! The signature is base64(HMAC-SHA1(auth token, URL + each POST parameter
//! name and value, names sorted)). The URL is the one Twilio requested: the
//! public URL for webhooks, the `wss://…/call` URL for the Media Stream
//! upgrade. Like Twilio's own validator, the URL is accepted with or without
//! its default port.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Checks signatures with one account's auth token.
#[derive(Clone)]
pub struct SignatureValidator {
    token: Vec<u8>,
}

impl std::fmt::Debug for SignatureValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignatureValidator(***)")
    }
}

fn signed_text(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut text = url.to_owned();
    for (name, value) in sorted {
        text.push_str(name);
        text.push_str(value);
    }
    text
}

/// The URL as given, without any port, and with its scheme's default port.
fn port_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Ok(parsed) = url::Url::parse(url) else {
        return variants;
    };
    let Some(host) = parsed.host_str() else {
        return variants;
    };
    let scheme = parsed.scheme();
    let rest = &parsed[url::Position::BeforePath..];
    variants.push(format!("{scheme}://{host}{rest}"));
    if let Some(port) = parsed.port_or_known_default() {
        variants.push(format!("{scheme}://{host}:{port}{rest}"));
    }
    variants.dedup();
    variants
}

impl SignatureValidator {
    /// A validator for `auth_token`.
    pub fn new(auth_token: &str) -> Self {
        Self {
            token: auth_token.as_bytes().to_vec(),
        }
    }

    fn mac(&self) -> Hmac<Sha1> {
        <Hmac<Sha1> as KeyInit>::new_from_slice(&self.token).expect("HMAC takes keys of any length")
    }

    /// The signature Twilio would send for `url` and `params`.
    pub fn sign(&self, url: &str, params: &[(String, String)]) -> String {
        let mut mac = self.mac();
        mac.update(signed_text(url, params).as_bytes());
        STANDARD.encode(mac.finalize().into_bytes())
    }

    /// Whether `signature` is Twilio's for `url` (with or without its
    /// default port) and `params`. Compared in constant time.
    pub fn is_valid(&self, url: &str, params: &[(String, String)], signature: &str) -> bool {
        let Ok(given) = STANDARD.decode(signature.trim()) else {
            return false;
        };
        port_variants(url).iter().any(|candidate| {
            let mut mac = self.mac();
            mac.update(signed_text(candidate, params).as_bytes());
            mac.verify_slice(&given).is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .rev() // order must not matter
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn matches_twilios_published_vectors() {
        let validator = SignatureValidator::new("12345");
        assert_eq!(
            validator.sign(URL, &params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert_eq!(
            validator.sign("https://mycompany.com:443/myapp.php?foo=1&bar=2", &params()),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        );
        assert_eq!(
            validator.sign("http://mycompany.com:1234/myapp.php?foo=1&bar=2", &params()),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        );
        assert_eq!(
            validator.sign("http://mycompany.com:80/myapp.php?foo=1&bar=2", &params()),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        );
        let duplicates: Vec<(String, String)> = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        assert_eq!(
            validator.sign(URL, &duplicates),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn accepts_the_url_with_or_without_its_default_port() {
        let validator = SignatureValidator::new("12345");
        assert!(validator.is_valid(URL, &params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(
            validator.is_valid(URL, &params(), "kvajT1Ptam85bY51eRf/AJRuM3w="),
            "signed with :443"
        );
        assert!(validator.is_valid(
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(validator.is_valid(
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            &params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
    }

    #[test]
    fn refuses_anything_else() {
        let validator = SignatureValidator::new("12345");
        assert!(!validator.is_valid(URL, &params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
        assert!(!validator.is_valid(URL, &params(), "not base64!"));
        assert!(!validator.is_valid(URL, &[], "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!SignatureValidator::new("54321").is_valid(
            URL,
            &params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        assert!(!validator.is_valid("wss://mycompany.com/call", &[], ""));
        assert_eq!(format!("{validator:?}"), "SignatureValidator(***)");
    }
}
