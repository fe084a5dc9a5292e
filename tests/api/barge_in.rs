//! Barge-in over answers of several audio items, as today's models speak:
//! the item the caller was hearing is truncated where they were, the items
//! after it are deleted unheard, and nothing of the answer plays after the
//! `clear`. The simulated model runs ahead of playback, as the service
//! does, so every item's audio is queued at the caller before they speak.

use qloophone_sandbox::caller::{CallReport, Step};
use qloophone_sandbox::realtime::Session;
use qloophone_sandbox::script::ModelScript;

use crate::helpers::{AppOptions, TestApp, spawn_app_with};

/// A greeting of `sentences`, each its own audio item, generated sixty
/// times faster than real time (fifteen times faster than the test
/// callers' 4× playback). At the tests' 20 ms a character, a sentence of N
/// characters is N × 20 ms of audio.
async fn app_greeting(sentences: &[&str]) -> TestApp {
    spawn_app_with(AppOptions {
        script: ModelScript {
            greeting: sentences.concat(),
            audio_items: Some(sentences.len()),
            pace: Some(60.0),
            ..ModelScript::default()
        },
        ..AppOptions::default()
    })
    .await
}

/// Listens `ms` into the greeting, then speaks over it and hangs up.
async fn barge_in_after(app: &TestApp, tag: u16, ms: u64) -> (CallReport, Session) {
    let report = app
        .call(
            tag,
            &[
                Step::WaitForAudio { max_ms: 10_000 },
                Step::Silence { ms },
                Step::Speak { ms: 400 },
                Step::Silence { ms: 300 },
                Step::Hangup,
            ],
        )
        .await;
    app.idle().await;
    let session = app.model.sessions().remove(0);
    (report, session)
}

/// Where the caller was when the clear came, and that nothing was heard
/// after it.
fn heard_at_clear(report: &CallReport) -> u64 {
    assert_eq!(report.clears, 1, "{report:?}");
    let at = report.clear_positions_ms[0];
    assert_eq!(
        report.bytes_heard as u64,
        at * 8,
        "nothing of the answer is heard after the clear"
    );
    at
}

fn ids(events: &[&serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["item_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The deletes were taken (`conversation.item.deleted`), none refused
/// (the simulator refuses deleting an item of a response in progress).
fn deletes_were_accepted(session: &Session) {
    let refused: Vec<_> = session
        .sent_of_type("error")
        .into_iter()
        .filter(|e| {
            e["error"]["code"]
                .as_str()
                .is_some_and(|code| code.starts_with("item_"))
        })
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(
        ids(&session.of_type("conversation.item.delete")),
        ids(&session.sent_of_type("conversation.item.deleted")),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barge_in_during_the_first_of_two_items_cuts_it_and_deletes_the_second() {
    let app = app_greeting(&[
        // A: 100 characters, 2 s.
        "Hello there, this is QlooPhone, the concierge who finds the next thing you will love to watch. ",
        // B: 75 characters, 1.5 s.
        "Tell me a film and a band you adore and I will bridge them for you now.",
    ])
    .await;
    let (report, session) = barge_in_after(&app, 40, 600).await;
    let items = session.audio_items();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(
        items[1].1 > 1000,
        "B was sent before the caller spoke: {items:?}"
    );
    let at = heard_at_clear(&report);
    let truncates = session.of_type("conversation.item.truncate");
    assert_eq!(truncates.len(), 1, "{truncates:?}");
    assert_eq!(truncates[0]["item_id"], items[0].0.as_str(), "A, not B");
    let end = truncates[0]["audio_end_ms"].as_u64().unwrap();
    assert!(
        end.abs_diff(at) <= 300 && end < items[0].1,
        "A cut at {end} ms; the caller had heard {at} ms of it"
    );
    assert_eq!(
        ids(&session.of_type("conversation.item.delete")),
        [items[1].0.clone()],
        "B, never heard, is deleted"
    );
    deletes_were_accepted(&session);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barge_in_during_the_first_of_three_items_deletes_both_unheard_ones() {
    let app = app_greeting(&[
        "Hello there, this is QlooPhone, the concierge who finds the next thing you will love to watch. ",
        "Tell me a film you adore. ",
        "And a band too, and I will bridge them.",
    ])
    .await;
    let (report, session) = barge_in_after(&app, 41, 600).await;
    let items = session.audio_items();
    assert_eq!(items.len(), 3, "{items:?}");
    let at = heard_at_clear(&report);
    let truncates = session.of_type("conversation.item.truncate");
    assert_eq!(truncates.len(), 1);
    assert_eq!(truncates[0]["item_id"], items[0].0.as_str());
    let end = truncates[0]["audio_end_ms"].as_u64().unwrap();
    assert!(end.abs_diff(at) <= 300, "cut at {end}, heard {at}");
    assert_eq!(
        ids(&session.of_type("conversation.item.delete")),
        [items[1].0.clone(), items[2].0.clone()]
    );
    deletes_were_accepted(&session);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_barge_in_during_the_second_item_cuts_that_one_where_the_caller_is() {
    let app = app_greeting(&[
        // A: 25 characters, 500 ms.
        "Hello, this is QlooPhone. ",
        // B: 100 characters, 2 s.
        "Tell me a film and a band you adore, and I will find the one thing that bridges both of them for you. ",
        "Go ahead now.",
    ])
    .await;
    let (report, session) = barge_in_after(&app, 42, 1200).await;
    let items = session.audio_items();
    assert_eq!(items.len(), 3, "{items:?}");
    let at = heard_at_clear(&report);
    assert!(at > items[0].1, "the caller was into B: {at} ms, {items:?}");
    let truncates = session.of_type("conversation.item.truncate");
    assert_eq!(truncates.len(), 1, "A was heard whole: {truncates:?}");
    assert_eq!(truncates[0]["item_id"], items[1].0.as_str());
    let end = truncates[0]["audio_end_ms"].as_u64().unwrap();
    let into_b = at - items[0].1;
    assert!(
        end.abs_diff(into_b) <= 300,
        "B cut at {end} ms; the caller had heard {into_b} ms of it"
    );
    assert_eq!(
        ids(&session.of_type("conversation.item.delete")),
        [items[2].0.clone()]
    );
    deletes_were_accepted(&session);
    app.stop().await;
}

/// One item, as the 2025 model answers: cut where the caller was, and
/// nothing deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_item_answer_is_cut_as_before_and_nothing_is_deleted() {
    let app = app_greeting(&[
        "Hello there, this is QlooPhone, the concierge who finds the next thing you will love to watch tonight.",
    ])
    .await;
    let (report, session) = barge_in_after(&app, 43, 600).await;
    let at = heard_at_clear(&report);
    let truncates = session.of_type("conversation.item.truncate");
    assert_eq!(truncates.len(), 1);
    let end = truncates[0]["audio_end_ms"].as_u64().unwrap();
    assert!(end.abs_diff(at) <= 300, "cut at {end}, heard {at}");
    assert!(session.of_type("conversation.item.delete").is_empty());
    app.stop().await;
}
