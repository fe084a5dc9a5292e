//! `X-Twilio-Signature` on `/twiml` and `/call` when a Twilio token is set.

use qloophone::config::{Config, Secret};
use qloophone_adapters::twilio::signature::SignatureValidator;
use qloophone_sandbox::phone::{CallSettings, place};
use qloophone_sandbox::scenario::Scenario;

use crate::helpers::{AppOptions, TestApp, spawn_app_with};

const TOKEN: &str = "twilio-test-token";
const DASHBOARD_KEY: &str = "dashboard-test-key";

async fn guarded_app() -> TestApp {
    let mut config = Config::default();
    config.twilio.auth_token = Some(Secret::new(TOKEN));
    config.dashboard.token = Some(Secret::new(DASHBOARD_KEY));
    spawn_app_with(AppOptions {
        config,
        tools: None,
        scenarios: Scenario::registry(),
        ..AppOptions::default()
    })
    .await
}

#[tokio::test]
async fn webhooks_must_be_signed_by_twilio() {
    let app = guarded_app().await;
    let body = "CallSid=CA1&From=%2B15550100000";
    let post = |signature: Option<String>| {
        let mut request = app
            .http
            .post(app.url("/twiml"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-twilio-signature", signature);
        }
        request.send()
    };
    let response = post(None).await.unwrap();
    assert_eq!(response.status(), 403);
    let json: serde_json::Value = response.json().await.unwrap();
    assert_eq!(json["error"], "invalid Twilio signature");
    assert_eq!(post(Some("bm9wZQ==".into())).await.unwrap().status(), 403);

    let params = vec![
        ("CallSid".to_owned(), "CA1".to_owned()),
        ("From".to_owned(), "+15550100000".to_owned()),
    ];
    let signature = SignatureValidator::new(TOKEN).sign(&app.url("/twiml"), &params);
    let response = post(Some(signature)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("<Stream"));
    // A signature for other parameters does not pass.
    let other = SignatureValidator::new(TOKEN).sign(&app.url("/twiml"), &[]);
    assert_eq!(post(Some(other)).await.unwrap().status(), 403);
}

#[tokio::test]
async fn streams_must_be_signed_by_twilio() {
    let app = guarded_app().await;
    app.assert_upgrade_refused("/call", 403).await;
    assert_eq!(app.registry.active(), 0, "a refused stream takes no place");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_call_goes_through() {
    let app = guarded_app().await;
    let settings = CallSettings {
        auth_token: Some(TOKEN.to_owned()),
        dashboard_token: Some(DASHBOARD_KEY.to_owned()),
        ..crate::helpers::call_settings(app.url(""), Scenario::find("silence").unwrap())
    };
    let outcome = place(&settings, &mut Vec::new()).await.unwrap();
    assert!(outcome.passed(), "{:?}", outcome.failures);
    let unsigned = CallSettings {
        auth_token: None,
        ..settings.clone()
    };
    let err = place(&unsigned, &mut Vec::new()).await.unwrap_err();
    assert!(err.to_string().contains("status 403"), "{err}");
    let keyless = CallSettings {
        dashboard_token: None,
        ..settings
    };
    let err = place(&keyless, &mut Vec::new()).await.unwrap_err();
    assert!(
        err.to_string().contains("401"),
        "the transcript needs the key: {err}"
    );
    app.idle().await;
    app.stop().await;
}

/// The upgrade signature is the same for every call, so a captured one
/// must open nothing by itself: each stream needs the token its own
/// webhook answer carried, once, for its own CallSid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_signature_or_token_opens_no_second_call() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = guarded_app().await;
    let (stream_url, parameters) =
        qloophone_sandbox::phone::ask_for_stream(&app.url(""), "CA1", Some(TOKEN))
            .await
            .unwrap();
    let token = parameters
        .iter()
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.clone())
        .expect("the TwiML carries a stream token");
    let signature = SignatureValidator::new(TOKEN).sign(&stream_url, &[]);

    // Opens /call with the captured signature and plays `start`; true when
    // the server then relays audio to a model session, false when it hangs up.
    let attempt = |call_sid: &'static str, token: Option<String>| {
        let mut request = stream_url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("x-twilio-signature", signature.parse().unwrap());
        let sessions_before = app.model.sessions().len();
        let model = app.model.clone();
        async move {
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
            let parameters = match &token {
                Some(token) => serde_json::json!({ "token": token }),
                None => serde_json::json!({}),
            };
            let start = serde_json::json!({
                "event": "start",
                "streamSid": format!("MZ{call_sid}"),
                "start": {
                    "streamSid": format!("MZ{call_sid}"),
                    "callSid": call_sid,
                    "customParameters": parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
                }
            });
            socket.send(Message::text(start.to_string())).await.unwrap();
            let closed = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                loop {
                    match socket.next().await {
                        Some(Ok(message)) if !message.is_close() => {}
                        _ => break,
                    }
                }
            })
            .await
            .is_ok();
            let opened = model.sessions().len() > sessions_before;
            (opened, closed)
        }
    };

    let (opened, closed) = attempt("CA1", Some(token.clone())).await;
    assert!(
        opened && !closed,
        "the first stream with its token is a call"
    );
    let (opened, closed) = attempt("CA1", Some(token.clone())).await;
    assert!(!opened && closed, "the same token again is refused");
    let (opened, closed) = attempt("CA2", Some(token)).await;
    assert!(!opened && closed, "a token for another call is refused");
    let (opened, closed) = attempt("CA3", None).await;
    assert!(!opened && closed, "a stream without a token is refused");
    app.stop().await;
}

/// Behind a proxy that mounts the server under a path (PUBLIC_URL
/// `http://host/phone`, the proxy stripping `/phone`), Twilio signs the
/// URLs it called, prefix included; the stream URL in the TwiML is under
/// the prefix too, and both signatures are checked against those URLs.
#[tokio::test]
async fn a_public_url_with_a_path_is_signed_and_streamed_under_it() {
    let mut config = Config::default();
    config.twilio.auth_token = Some(Secret::new(TOKEN));
    config.dashboard.token = Some(Secret::new(DASHBOARD_KEY));
    config.server.public_url = "https://phone.example/phone/".to_owned();
    let app = spawn_app_with(AppOptions {
        config,
        ..AppOptions::default()
    })
    .await;
    let params = vec![("CallSid".to_owned(), "CA1".to_owned())];
    let validator = SignatureValidator::new(TOKEN);
    let post = |signature: String| {
        app.http
            .post(app.url("/twiml"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body("CallSid=CA1")
            .send()
    };
    // Signed for the URL the proxy served, without the prefix: refused.
    let unprefixed = validator.sign("https://phone.example/twiml", &params);
    assert_eq!(post(unprefixed).await.unwrap().status(), 403);
    let signature = validator.sign("https://phone.example/phone/twiml", &params);
    let response = post(signature).await.unwrap();
    assert_eq!(response.status(), 200);
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains(r#"<Stream url="wss://phone.example/phone/call" statusCallback="https://phone.example/phone/twilio/stream-status""#),
        "{xml}"
    );
    app.stop().await;
}
