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

/// Where the next `+` or `%2B` is, and which it is.
fn next_plus(text: &str) -> Option<(usize, &'static str)> {
    let plus = text.find('+').map(|at| (at, "+"));
    let encoded = text
        .char_indices()
        .find(|&(at, _)| {
            text.get(at..at + 3)
                .is_some_and(|s| s.eq_ignore_ascii_case("%2B"))
        })
        .map(|(at, _)| (at, "%2B"));
    match (plus, encoded) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
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
}
