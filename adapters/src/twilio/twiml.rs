//! TwiML answers for the voice webhook.
//!
//! Twilio requires `wss` for the stream URL and forbids a query string in
//! it; per-call values go in `<Parameter>` elements.

use qloophone_domain::ports::EndReason;
use quick_xml::escape::escape;
use url::Url;

/// Where Twilio asks what to do once a stream ends (`<Connect action>`).
pub const AFTER_STREAM_PATH: &str = "/twilio/after-stream";
/// Where Twilio tells how a transfer ended (`<Dial action>`).
pub const DIAL_RESULT_PATH: &str = "/twilio/dial-result";
/// Where Twilio reports a stream's life (`<Stream statusCallback>`).
pub const STREAM_STATUS_PATH: &str = "/twilio/stream-status";
/// The query parameter a call's action token travels in.
pub const TOKEN_QUERY: &str = "t";

/// The WebSocket URL Twilio should stream to: the public host, path `/call`.
///
/// `https` becomes `wss`; plain `http` becomes `ws` (for local testing).
pub fn stream_url(public_url: &Url) -> String {
    let scheme = if public_url.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    let host = public_url.host_str().unwrap_or("localhost");
    // A path in the public URL is where a proxy mounts this server
    // (`https://abc.ngrok.app/phone`): the stream lives under it too.
    let prefix = mount_path(public_url);
    match public_url.port() {
        Some(port) => format!("{scheme}://{host}:{port}{prefix}/call"),
        None => format!("{scheme}://{host}{prefix}/call"),
    }
}

/// The public URL's path without its trailing slash (`""` for none): the
/// prefix a proxy puts before every path of this server.
pub fn mount_path(public_url: &Url) -> &str {
    public_url.path().trim_end_matches('/')
}

/// The absolute URL of `path` on this server as Twilio reaches it, with
/// the call's `token` in its query when there is one.
pub fn callback_url(public_url: &Url, path: &str, token: Option<&str>) -> String {
    let mut url = public_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("{}{path}", mount_path(public_url)));
    if let Some(token) = token {
        url.query_pairs_mut().append_pair(TOKEN_QUERY, token);
    }
    url.into()
}

/// `<Connect action><Stream statusCallback>` to `/call`, with per-call
/// `<Parameter>`s: when the stream ends Twilio asks `action` what next
/// (so nothing follows `</Connect>`: it would never be reached).
pub fn connect_stream(
    public_url: &Url,
    action: &str,
    status_callback: &str,
    parameters: &[(&str, &str)],
) -> String {
    let mut xml =
        String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect action=""#);
    xml.push_str(&escape(action));
    xml.push_str(r#"" method="POST"><Stream url=""#);
    xml.push_str(&escape(stream_url(public_url).as_str()));
    xml.push_str(r#"" statusCallback=""#);
    xml.push_str(&escape(status_callback));
    xml.push_str(r#"" statusCallbackMethod="POST">"#);
    for (name, value) in parameters {
        xml.push_str(r#"<Parameter name=""#);
        xml.push_str(&escape(*name));
        xml.push_str(r#"" value=""#);
        xml.push_str(&escape(*value));
        xml.push_str(r#""/>"#);
    }
    xml.push_str("</Stream></Connect></Response>");
    xml
}

/// Said when the call cannot go on for a reason of ours (the model could
/// not be reached or refused, the stream was unusable, or why it ended is
/// not known).
pub const APOLOGY: &str =
    "Sorry, the concierge cannot go on with this call right now. Please call again later.";
/// Said after the caller's line has been quiet too long.
pub const SILENCE_GOODBYE: &str = "I haven't heard anything for a while, so I'll let you go. Thanks for calling QlooPhone. Goodbye!";
/// Said when the call reached its longest.
pub const TIME_UP_GOODBYE: &str =
    "We've reached the time limit for this call. Thanks for calling QlooPhone. Goodbye!";
/// Said when every line is taken.
pub const LINES_BUSY: &str =
    "Sorry, all of our lines are busy right now. Please call again in a few minutes.";
/// Said when the server is stopping.
pub const RESTARTING: &str = "Sorry, the concierge is restarting. Please call again in a minute.";
/// Said when nobody took a transferred call.
pub const NOBODY_THERE: &str =
    "Sorry, nobody could take your call right now. Please try again later. Goodbye.";

/// A person to hand callers over to.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    /// Their number, E.164.
    pub number: &'a str,
    /// Where Twilio tells how the transfer ended.
    pub action: &'a str,
    /// How long it rings, in seconds.
    pub timeout_secs: u32,
    /// The longest the transferred call may last, in seconds.
    pub time_limit_secs: u32,
}

/// The TwiML for Twilio's `<Connect action>` request: what the caller
/// hears (or who they reach) after the stream, chosen by why it ended.
/// `caller_gone` (Twilio says the call is completed) and a caller hang-up
/// get nothing but `<Hangup/>`; a transfer without a number to dial is an
/// apology.
///
/// Returns what it tells Twilio to do (`hangup`, `goodbye`, `apology`,
/// `dial`) with the TwiML.
pub fn after_stream(
    reason: Option<EndReason>,
    caller_gone: bool,
    dial: Option<Dial>,
) -> (&'static str, String) {
    let xml = after_stream_twiml(reason, caller_gone, dial);
    let next = if xml.contains("<Dial") {
        "dial"
    } else if !xml.contains("<Say>") {
        "hangup"
    } else if [APOLOGY, RESTARTING, LINES_BUSY]
        .iter()
        .any(|text| xml.contains(&*escape(*text)))
    {
        "apology"
    } else {
        "goodbye"
    };
    (next, xml)
}

fn after_stream_twiml(reason: Option<EndReason>, caller_gone: bool, dial: Option<Dial>) -> String {
    if caller_gone {
        return respond("<Hangup/>");
    }
    match reason {
        Some(EndReason::PhoneStopped | EndReason::PhoneClosed | EndReason::AgentEnded) => {
            respond("<Hangup/>")
        }
        Some(EndReason::CallerSilent) => say_and_hang_up(SILENCE_GOODBYE),
        Some(EndReason::MaxDuration) => say_and_hang_up(TIME_UP_GOODBYE),
        Some(EndReason::Shutdown) => say_and_hang_up(RESTARTING),
        Some(EndReason::LinesBusy) => say_and_hang_up(LINES_BUSY),
        Some(EndReason::Transferred) => match dial {
            Some(dial) => {
                let mut verbs = String::from(r#"<Dial action=""#);
                verbs.push_str(&escape(dial.action));
                verbs.push_str(&format!(
                    r#"" method="POST" timeout="{}" timeLimit="{}"><Number>"#,
                    dial.timeout_secs, dial.time_limit_secs
                ));
                verbs.push_str(&escape(dial.number));
                verbs.push_str("</Number></Dial>");
                respond(&verbs)
            }
            None => say_and_hang_up(APOLOGY),
        },
        Some(
            EndReason::ModelClosed
            | EndReason::ModelUnavailable
            | EndReason::ModelRefused
            | EndReason::UnsupportedMediaFormat
            | EndReason::NeverStarted,
        )
        | None => say_and_hang_up(APOLOGY),
    }
}

/// The TwiML for Twilio's `<Dial action>` request: a transfer a person
/// took ends the call; one nobody took (busy, no answer, failed) gets a
/// short apology first.
pub fn dial_result(answered: bool) -> String {
    if answered {
        respond("<Hangup/>")
    } else {
        say_and_hang_up(NOBODY_THERE)
    }
}

fn say_and_hang_up(text: &str) -> String {
    respond(&format!("<Say>{}</Say><Hangup/>", escape(text)))
}

fn respond(verbs: &str) -> String {
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><Response>{verbs}</Response>"#)
}

/// What callers hear when every line is taken.
pub fn busy() -> String {
    say_and_hang_up(LINES_BUSY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn https_public_urls_stream_over_wss_under_their_path_without_the_query() {
        let public = url("https://abc.ngrok.app?x=1");
        let action = callback_url(&public, AFTER_STREAM_PATH, Some("9.a_b"));
        let status = callback_url(&public, STREAM_STATUS_PATH, None);
        assert_eq!(action, "https://abc.ngrok.app/twilio/after-stream?t=9.a_b");
        let xml = connect_stream(&public, &action, &status, &[]);
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect action="https://abc.ngrok.app/twilio/after-stream?t=9.a_b" method="POST"><Stream url="wss://abc.ngrok.app/call" statusCallback="https://abc.ngrok.app/twilio/stream-status" statusCallbackMethod="POST"></Stream></Connect></Response>"#
        );
        // Under a proxy's path, the callbacks are too.
        assert_eq!(
            callback_url(
                &url("https://abc.ngrok.app/phone/?x=1"),
                DIAL_RESULT_PATH,
                None
            ),
            "https://abc.ngrok.app/phone/twilio/dial-result"
        );
        // Mounted under a path by a proxy: the stream is under it too.
        assert_eq!(
            stream_url(&url("https://abc.ngrok.app/some/path/?x=1")),
            "wss://abc.ngrok.app/some/path/call"
        );
    }

    #[test]
    fn plain_http_streams_over_ws_and_keeps_the_port() {
        assert_eq!(
            stream_url(&url("http://localhost:8081")),
            "ws://localhost:8081/call"
        );
        assert_eq!(
            stream_url(&url("https://x.example:8443/")),
            "wss://x.example:8443/call"
        );
    }

    #[test]
    fn everything_interpolated_is_escaped() {
        let xml = connect_stream(
            &url("https://abc.example"),
            "https://abc.example/a?t=1&u=2",
            "https://abc.example/s",
            &[("to<ken", r#"a"b&c'd>"#)],
        );
        assert!(
            xml.contains(r#"action="https://abc.example/a?t=1&amp;u=2""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<Parameter name="to&lt;ken" value="a&quot;b&amp;c&apos;d&gt;"/>"#),
            "{xml}"
        );
    }

    #[test]
    fn what_follows_a_stream_depends_on_why_it_ended() {
        let dial = Dial {
            number: "+15550123456",
            action: "https://x.example/twilio/dial-result?t=1&u=2",
            timeout_secs: 20,
            time_limit_secs: 14_400,
        };
        let hang_up = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#;
        for reason in EndReason::ALL {
            let (next, xml) = after_stream(Some(reason), false, Some(dial));
            let expected_next = match reason {
                EndReason::PhoneStopped | EndReason::PhoneClosed | EndReason::AgentEnded => {
                    "hangup"
                }
                EndReason::CallerSilent | EndReason::MaxDuration => "goodbye",
                EndReason::Transferred => "dial",
                _ => "apology",
            };
            assert_eq!(next, expected_next, "{reason}");
            let expected = match reason {
                EndReason::PhoneStopped | EndReason::PhoneClosed | EndReason::AgentEnded => {
                    hang_up.to_owned()
                }
                EndReason::CallerSilent => say_and_hang_up(SILENCE_GOODBYE),
                EndReason::MaxDuration => say_and_hang_up(TIME_UP_GOODBYE),
                EndReason::Shutdown => say_and_hang_up(RESTARTING),
                EndReason::LinesBusy => say_and_hang_up(LINES_BUSY),
                EndReason::Transferred => r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="https://x.example/twilio/dial-result?t=1&amp;u=2" method="POST" timeout="20" timeLimit="14400"><Number>+15550123456</Number></Dial></Response>"#.to_owned(),
                _ => say_and_hang_up(APOLOGY),
            };
            assert_eq!(xml, expected, "{reason}");
            // Whatever the reason, a caller already gone gets a hang-up.
            assert_eq!(
                after_stream(Some(reason), true, Some(dial)),
                ("hangup", hang_up.to_owned())
            );
        }
        assert_eq!(
            after_stream(None, false, Some(dial)),
            ("apology", say_and_hang_up(APOLOGY))
        );
        assert_eq!(
            after_stream(Some(EndReason::Transferred), false, None),
            ("apology", say_and_hang_up(APOLOGY))
        );
        assert_eq!(dial_result(true), hang_up);
        assert!(dial_result(false).contains(NOBODY_THERE));
        assert!(
            say_and_hang_up(APOLOGY)
                .starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry"#)
        );
    }

    #[test]
    fn busy_says_so_and_hangs_up() {
        let xml = busy();
        assert!(xml.contains("<Say>") && xml.ends_with("<Hangup/></Response>"));
    }
}
