//! Any bytes as a webhook's form body: parsed, checked against Twilio's
//! signature and masked for logging, without a panic and in time linear in
//! its length (libFuzzer reports slow units).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qloophone_adapters::privacy::mask_phone_numbers;
use qloophone_adapters::twilio::signature::SignatureValidator;

fuzz_target!(|data: &[u8]| {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let validator = SignatureValidator::new("fuzz-token");
    let _ = validator.is_valid("https://example.com/twiml", &params, "AAAA");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = mask_phone_numbers(text);
    }
});
