//! Callers' phone numbers never reach a log line whole: [`mask_phone_numbers`]
//! keeps the country code's first digit and the last four digits
//! (`+1******4567`), so an operator can still tell calls apart.

/// `text` with every phone number in E.164 form masked, written as `+…` or
/// URL-encoded as `%2B…`. A run of fewer than eight digits is left alone.
pub fn mask_phone_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, prefix)) = next_plus(rest) {
        out.push_str(&rest[..at]);
        let after = &rest[at + prefix.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[at..at + prefix.len()]);
        if digits >= 8 {
            let number = &after[..digits];
            out.push_str(&number[..1]);
            out.extend(std::iter::repeat_n('*', digits - 5));
            out.push_str(&number[digits - 4..]);
        } else {
            out.push_str(&after[..digits]);
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Where the next `+` or `%2B` is, and which it is: one pass over the
/// text (searching for each separately rescanned the rest of a long text
/// on every `+`, quadratic in its length).
fn next_plus(text: &str) -> Option<(usize, &'static str)> {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().find_map(|(at, &byte)| match byte {
        b'+' => Some((at, "+")),
        b'%' if bytes.get(at + 1) == Some(&b'2')
            && bytes
                .get(at + 2)
                .is_some_and(|b| b.eq_ignore_ascii_case(&b'b')) =>
        {
            Some((at, "%2B"))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::mask_phone_numbers;

    #[test]
    fn numbers_keep_their_first_and_last_four_digits() {
        assert_eq!(mask_phone_numbers("+15551234567"), "+1******4567");
        assert_eq!(
            mask_phone_numbers("/twiml?From=%2B15551234567&To=%2b442071838750&CallSid=CA1"),
            "/twiml?From=%2B1******4567&To=%2b4*******8750&CallSid=CA1"
        );
        assert_eq!(
            mask_phone_numbers("call from +15551234567, then +15559876543"),
            "call from +1******4567, then +1******6543"
        );
    }

    #[test]
    fn other_text_is_left_as_it_is() {
        for text in [
            "",
            "no numbers",
            "a+b",
            "+1234567",
            "%2B",
            "100%",
            "1+1=2",
            "é+€",
        ] {
            assert_eq!(mask_phone_numbers(text), text);
        }
    }

    mod properties {
        use proptest::prelude::*;

        use super::mask_phone_numbers;
        use crate::twilio::signature::SignatureValidator;

        /// No `+` or `%2B` followed by eight digits or more survives.
        fn has_whole_number(text: &str) -> bool {
            let digits = |rest: &str| rest.bytes().take_while(u8::is_ascii_digit).count();
            text.char_indices().any(|(at, _)| {
                let rest = &text[at..];
                let encoded = rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%2B"));
                (rest.starts_with('+') && digits(&rest[1..]) >= 8)
                    || (encoded && digits(&rest[3..]) >= 8)
            })
        }

        proptest! {
            #[test]
            fn masked_text_keeps_no_whole_number(
                text in "(.{0,8}(\\+|%2[bB])[0-9]{0,14}){0,4}.{0,8}",
            ) {
                let masked = mask_phone_numbers(&text);
                prop_assert!(!has_whole_number(&masked), "{text:?} -> {masked:?}");
                prop_assert_eq!(masked.chars().count(), text.chars().count());
            }

            /// Webhook bodies of any bytes parse, and checking a signature
            /// over them answers, without a panic.
            #[test]
            fn any_webhook_form_is_parsed_and_checked(
                body in prop::collection::vec(any::<u8>(), 0..512),
                signature in ".{0,40}",
            ) {
                let params: Vec<(String, String)> = url::form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                let validator = SignatureValidator::new("token");
                let _ = validator.is_valid("https://example.com/twiml", &params, &signature);
                let _ = mask_phone_numbers(&String::from_utf8_lossy(&body));
            }
        }
    }
}
