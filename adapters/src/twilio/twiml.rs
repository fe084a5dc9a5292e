//! TwiML answers for the voice webhook.
//!
//! Twilio requires `wss` for the stream URL and forbids a query string in
//! it; per-call values go in `<Parameter>` elements.

use quick_xml::escape::escape;
use url::Url;

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

/// `<Connect><Stream>` to `/call`, with per-call `<Parameter>`s.
pub fn connect_stream(public_url: &Url, parameters: &[(&str, &str)]) -> String {
    let mut xml =
        String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url=""#);
    xml.push_str(&escape(stream_url(public_url).as_str()));
    xml.push_str("\">");
    for (name, value) in parameters {
        xml.push_str(r#"<Parameter name=""#);
        xml.push_str(&escape(*name));
        xml.push_str(r#"" value=""#);
        xml.push_str(&escape(*value));
        xml.push_str(r#""/>"#);
    }
    xml.push_str("</Stream></Connect>");
    xml.push_str(APOLOGY);
    xml.push_str("</Response>");
    xml
}

/// Played when the stream ends while the caller is still on the line: the
/// server closed it (the model could not be reached or refused, the call
/// reached its longest, the server is stopping). When the caller hangs up
/// first, Twilio has no one to play it to.
pub const APOLOGY: &str = "<Say>Sorry, the concierge cannot go on with this call right now. Please call again later.</Say><Hangup/>";

/// What callers hear when every line is taken.
pub fn busy() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say>Sorry, all of our lines are busy right now. Please call again in a few minutes.</Say><Hangup/></Response>"#.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn https_public_urls_stream_over_wss_under_their_path_without_the_query() {
        let xml = connect_stream(&url("https://abc.ngrok.app?x=1"), &[]);
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://abc.ngrok.app/call"></Stream></Connect><Say>Sorry, the concierge cannot go on with this call right now. Please call again later.</Say><Hangup/></Response>"#
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
        let xml = connect_stream(&url("https://abc.example"), &[("to<ken", r#"a"b&c'd>"#)]);
        assert!(
            xml.contains(r#"<Parameter name="to&lt;ken" value="a&quot;b&amp;c&apos;d&gt;"/>"#),
            "{xml}"
        );
    }

    #[test]
    fn busy_says_so_and_hangs_up() {
        let xml = busy();
        assert!(xml.contains("<Say>") && xml.ends_with("<Hangup/></Response>"));
    }
}
