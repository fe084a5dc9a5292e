//! A simulated Twilio caller: the other end of `/call`.
//!
//! It sends what Twilio sends (`connected`, `start`, a `media` frame every
//! 20 ms, `dtmf`, `stop`) and plays what it receives the way Twilio does:
//! audio is queued and played in real time (or faster, with `speed`), each
//! `mark` is echoed once the audio before it has played, and `clear` drops
//! the queue and echoes the marks in it at once. It records what it heard.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::audio::{self, FRAME_BYTES};

/// Mean absolute amplitude above which played audio counts as speech.
const VOICED: f64 = 400.0;
use crate::inband;

/// One thing the caller does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Step {
    /// Talk for `ms` milliseconds.
    Speak {
        /// How long.
        ms: u64,
    },
    /// Stay silent for `ms` milliseconds.
    Silence {
        /// How long.
        ms: u64,
    },
    /// Stay silent until the assistant has spoken and finished, or `max_ms`.
    WaitForAnswer {
        /// The longest wait.
        max_ms: u64,
    },
    /// Stay silent until assistant audio starts playing, or `max_ms`.
    WaitForAudio {
        /// The longest wait.
        max_ms: u64,
    },
    /// Stay silent until the server's hold sound has played a moment (see
    /// [`CallerOptions::hold_sound`]), or `max_ms`: a caller who speaks
    /// up while on hold does this first.
    WaitForHold {
        /// The longest wait.
        max_ms: u64,
    },
    /// Press a key.
    Dtmf {
        /// The key.
        digit: char,
    },
    /// Misbehave: send a second `start` mid-call, for another call and
    /// stream id, with `token` as its stream token (none: no parameters).
    /// Twilio never does; an attacker holding a stream might.
    StartAgain {
        /// The `callSid` it names.
        call_sid: String,
        /// The `streamSid` it names.
        stream_sid: String,
        /// Its stream token.
        #[serde(default)]
        token: Option<String>,
    },
    /// Hang up: `stop`, then close.
    Hangup,
    /// Drop the connection without `stop`.
    Drop,
}

/// How to call.
#[derive(Debug, Clone)]
pub struct CallerOptions {
    /// The `/call` WebSocket URL.
    pub url: String,
    /// This caller's tag in its audio (see [`audio::tag`]).
    pub tag: u16,
    /// Playback and sending speed relative to real time.
    pub speed: f64,
    /// The stream id to announce.
    pub stream_sid: String,
    /// The call id to announce (the one the webhook was told).
    pub call_sid: String,
    /// The media format to announce: encoding, rate, channels.
    pub media_format: (String, u32, u32),
    /// `<Parameter>` values to announce in `start`.
    pub parameters: Vec<(String, String)>,
    /// `X-Twilio-Signature` for the upgrade, as Twilio would sign it.
    pub signature: Option<String>,
    /// A scenario's model side to carry in the quiet frames (see
    /// [`inband`]); empty: none. The call opens with one round of it.
    pub carry: Vec<u8>,
    /// Told once the upgrade succeeded (as Twilio's `stream-started`).
    pub upgraded: Option<tokio::sync::mpsc::UnboundedSender<()>>,
    /// The server's hold sound (its μ-law samples), to tell it from the
    /// assistant's audio: received audio that is a stretch of it is hold
    /// audio, counted apart (never as the assistant heard).
    pub hold_sound: Option<std::sync::Arc<[u8]>>,
}

impl CallerOptions {
    /// A caller for `url` with a stream id made from `tag`.
    pub fn new(url: impl Into<String>, tag: u16) -> Self {
        Self {
            url: url.into(),
            tag,
            speed: 1.0,
            stream_sid: format!("MZ{tag:032x}"),
            call_sid: format!("CA{tag:032x}"),
            media_format: ("audio/x-mulaw".to_owned(), 8000, 1),
            parameters: Vec::new(),
            signature: None,
            carry: Vec::new(),
            upgraded: None,
            hold_sound: None,
        }
    }
}

/// What the caller experienced.
#[derive(Debug, Clone, Default)]
pub struct CallReport {
    /// Audio frames received.
    pub media_received: usize,
    /// Audio frames sent (20 ms each).
    pub media_sent: usize,
    /// Audio bytes received.
    pub bytes_received: usize,
    /// Audio bytes played before hang-up or clear.
    pub bytes_heard: usize,
    /// The audio that played, in order.
    pub heard: Vec<u8>,
    /// Bytes played that were speech, not silence (a model that streams
    /// silence between its words, as GPT-Live does, sends both).
    pub voiced_bytes_heard: usize,
    /// Bytes of speech (not silence) still queued, never played, when the
    /// call ended (the server closed the line, or the caller hung up).
    pub voiced_bytes_unheard: usize,
    /// Tags found in received audio.
    pub tags_heard: BTreeSet<u16>,
    /// Marks received, and marks echoed.
    pub marks_received: usize,
    /// Marks echoed back.
    pub marks_echoed: usize,
    /// `clear` events received.
    pub clears: usize,
    /// Audio bytes dropped by `clear`.
    pub bytes_cleared: usize,
    /// Frames received that were not valid Twilio frames.
    pub bad_frames: usize,
    /// Whether the server closed the socket first.
    pub closed_by_server: bool,
    /// Playback position (ms of audio heard) when each `clear` came.
    pub clear_positions_ms: Vec<u64>,
    /// Hold audio received (see [`CallerOptions::hold_sound`]), played,
    /// and dropped by a `clear`.
    pub hold_bytes_received: usize,
    /// Hold audio played.
    pub hold_bytes_heard: usize,
    /// Hold audio a `clear` dropped.
    pub hold_bytes_cleared: usize,
    /// `clear` events that came after hold audio (the hold sound
    /// stopping), counted here and not in `clears`.
    pub hold_clears: usize,
    /// The assistant's audio that arrived while hold audio was still
    /// queued, never played: the two would have overlapped. Must be 0.
    pub hold_overlaps: usize,
    /// Wall-clock time from the call's start to the first audio received.
    pub first_audio: Option<std::time::Duration>,
    /// For each turn, wall-clock time from the end of the caller's speech
    /// to the first audio of the answer: the delay a caller feels (it
    /// includes the model's end-of-turn silence and any tool calls).
    pub turn_latencies: Vec<std::time::Duration>,
}

/// Why a call could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// The WebSocket could not be opened.
    #[error("could not connect to {url}: {source}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The connection failed mid-call.
    #[error("the call's socket failed: {0}")]
    Socket(#[from] Box<tokio_tungstenite::tungstenite::Error>),
    /// The model side to carry does not fit in band.
    #[error(transparent)]
    TooLarge(#[from] inband::TooLarge),
}

enum Queued {
    /// Audio, and whether it is the hold sound.
    Audio(Vec<u8>, bool),
    Mark(String),
}

struct Phone {
    options: CallerOptions,
    started: std::time::Instant,
    /// Set when the caller stops speaking; cleared by the answer's audio.
    waiting_since: Option<std::time::Instant>,
    sequence: u64,
    chunk: u64,
    voice_offset: usize,
    queue: VecDeque<Queued>,
    report: CallReport,
    quiet_frames: u64,
    /// The carried chunks, and the next to send.
    carousel: Vec<Vec<u8>>,
    next_chunk: usize,
    /// Whether the last audio received was hold audio.
    last_was_hold: bool,
    /// Hold audio heard when the current step began.
    hold_at_step: usize,
}

impl Phone {
    fn frame(&mut self, event: &str, body: Value) -> Message {
        self.sequence += 1;
        let mut frame = json!({"event": event, "sequenceNumber": self.sequence.to_string(), "streamSid": self.options.stream_sid});
        if let (Value::Object(map), Value::Object(extra)) = (&mut frame, body) {
            map.extend(extra);
        }
        Message::text(frame.to_string())
    }

    fn media(&mut self, speaking: bool) -> Message {
        self.report.media_sent += 1;
        let mut bytes = if speaking {
            let bytes = audio::voice(FRAME_BYTES, self.voice_offset, 210.0, 0.4);
            self.voice_offset += FRAME_BYTES;
            bytes
        } else {
            audio::silence(FRAME_BYTES)
        };
        audio::tag(&mut bytes, self.options.tag);
        if !speaking && !self.carousel.is_empty() {
            inband::write_chunk(
                &mut bytes,
                &self.carousel[self.next_chunk % self.carousel.len()],
            );
            self.next_chunk += 1;
        }
        let timestamp = self.chunk * 20;
        self.chunk += 1;
        let payload = audio::encode(&bytes);
        self.frame(
            "media",
            json!({"media": {"track": "inbound", "chunk": self.chunk.to_string(), "timestamp": timestamp.to_string(), "payload": payload}}),
        )
    }

    /// Plays 20 ms of queued audio; returns the marks reached.
    fn play(&mut self) -> Vec<String> {
        let mut budget = FRAME_BYTES;
        let mut echoes = Vec::new();
        let mut voiced = false;
        while let Some(front) = self.queue.front_mut() {
            match front {
                Queued::Mark(_) => {
                    if let Some(Queued::Mark(name)) = self.queue.pop_front() {
                        echoes.push(name);
                    }
                }
                Queued::Audio(bytes, hold) => {
                    if budget == 0 {
                        break;
                    }
                    let take = budget.min(bytes.len());
                    let played: Vec<u8> = bytes.drain(..take).collect();
                    if *hold {
                        self.report.hold_bytes_heard += take;
                    } else {
                        if audio::loudness(&played) > VOICED {
                            self.report.voiced_bytes_heard += take;
                            voiced = true;
                        }
                        self.report.bytes_heard += take;
                    }
                    self.report.heard.extend(played);
                    budget -= take;
                    if bytes.is_empty() {
                        self.queue.pop_front();
                    }
                }
            }
        }
        if voiced {
            self.quiet_frames = 0;
        } else {
            self.quiet_frames += 1;
        }
        echoes
    }

    /// Counts the speech left unplayed as the call ends.
    fn count_unheard(&mut self) {
        self.report.voiced_bytes_unheard = self
            .queue
            .iter()
            .filter_map(|queued| match queued {
                Queued::Audio(bytes, false) => Some(bytes),
                Queued::Audio(_, true) | Queued::Mark(_) => None,
            })
            .flat_map(|bytes| bytes.chunks(FRAME_BYTES))
            .filter(|chunk| audio::loudness(chunk) > VOICED)
            .map(<[u8]>::len)
            .sum();
    }

    fn audio_queued(&self) -> bool {
        self.queue
            .iter()
            .any(|q| matches!(q, Queued::Audio(_, false)))
    }

    /// Whether `bytes` is a stretch of the server's hold sound.
    fn is_hold(&self, bytes: &[u8]) -> bool {
        self.options.hold_sound.as_deref().is_some_and(|sound| {
            !bytes.is_empty()
                && bytes.len() <= sound.len()
                && sound.windows(bytes.len()).any(|window| window == bytes)
        })
    }

    /// Handles a server frame; returns marks to echo now (after a clear).
    fn receive(&mut self, text: &str) -> Vec<String> {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            self.report.bad_frames += 1;
            return Vec::new();
        };
        if frame["streamSid"] != self.options.stream_sid.as_str() {
            self.report.bad_frames += 1;
        }
        match frame["event"].as_str() {
            Some("media") => {
                let Some(Ok(bytes)) = frame["media"]["payload"].as_str().map(audio::decode) else {
                    self.report.bad_frames += 1;
                    return Vec::new();
                };
                self.report.media_received += 1;
                self.report.bytes_received += bytes.len();
                let hold = self.is_hold(&bytes);
                self.last_was_hold = hold;
                if hold {
                    self.report.hold_bytes_received += bytes.len();
                    self.queue.push_back(Queued::Audio(bytes, true));
                    return Vec::new();
                }
                if self
                    .queue
                    .iter()
                    .any(|q| matches!(q, Queued::Audio(rest, true) if !rest.is_empty()))
                {
                    self.report.hold_overlaps += 1;
                }
                // Silence streamed between answers is no answer.
                if audio::loudness(&bytes) > VOICED {
                    if self.report.first_audio.is_none() {
                        self.report.first_audio = Some(self.started.elapsed());
                    }
                    if let Some(since) = self.waiting_since.take() {
                        self.report.turn_latencies.push(since.elapsed());
                    }
                }
                self.report.tags_heard.extend(audio::read_tag(&bytes));
                self.queue.push_back(Queued::Audio(bytes, false));
            }
            Some("mark") => match frame["mark"]["name"].as_str() {
                Some(name) => {
                    self.report.marks_received += 1;
                    self.queue.push_back(Queued::Mark(name.to_owned()));
                }
                None => self.report.bad_frames += 1,
            },
            Some("clear") => {
                if std::mem::take(&mut self.last_was_hold) {
                    self.report.hold_clears += 1;
                } else {
                    self.report.clears += 1;
                    self.report
                        .clear_positions_ms
                        .push(self.report.bytes_heard as u64 / 8);
                }
                let mut echoes = Vec::new();
                for queued in self.queue.drain(..) {
                    match queued {
                        Queued::Audio(bytes, true) => self.report.hold_bytes_cleared += bytes.len(),
                        Queued::Audio(bytes, false) => self.report.bytes_cleared += bytes.len(),
                        Queued::Mark(name) => echoes.push(name),
                    }
                }
                return echoes;
            }
            _ => self.report.bad_frames += 1,
        }
        Vec::new()
    }
}

/// Places a call and plays `steps`; hangs up at the end if no step did.
///
/// # Errors
/// [`CallerError`] when the socket cannot be opened or fails.
pub async fn place_call(options: CallerOptions, steps: &[Step]) -> Result<CallReport, CallerError> {
    let connect_error = |source| CallerError::Connect {
        url: options.url.clone(),
        source: Box::new(source),
    };
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            options.url.as_str(),
        )
        .map_err(connect_error)?;
    if let Some(signature) = &options.signature
        && let Ok(value) = signature.parse()
    {
        request.headers_mut().insert("x-twilio-signature", value);
    }
    let carousel = inband::chunks(&options.carry)?;
    let (socket, _) =
        tokio_tungstenite::connect_async_with_config(request, Some(crate::socket_config()), true)
            .await
            .map_err(|source| CallerError::Connect {
                url: options.url.clone(),
                source: Box::new(source),
            })?;
    if let Some(upgraded) = &options.upgraded {
        let _ = upgraded.send(());
    }
    let (mut sink, mut stream) = socket.split();
    let frame_period = Duration::from_secs_f64(0.020 / options.speed.max(0.01));
    let mut phone = Phone {
        options,
        started: std::time::Instant::now(),
        waiting_since: None,
        sequence: 0,
        chunk: 0,
        voice_offset: 0,
        queue: VecDeque::new(),
        report: CallReport::default(),
        quiet_frames: 0,
        carousel,
        next_chunk: 0,
        last_was_hold: false,
        hold_at_step: 0,
    };
    let boxed = |err| CallerError::Socket(Box::new(err));

    sink.send(Message::text(
        json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
    ))
    .await
    .map_err(boxed)?;
    let (encoding, rate, channels) = phone.options.media_format.clone();
    let parameters: serde_json::Map<String, Value> = phone
        .options
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    let start = phone.frame(
        "start",
        json!({"start": {
            "accountSid": "AC00000000000000000000000000000000",
            "streamSid": phone.options.stream_sid,
            "callSid": phone.options.call_sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": encoding, "sampleRate": rate, "channels": channels},
        }}),
    );
    sink.send(start).await.map_err(boxed)?;

    // The server may close the call at any time: a write or read failing
    // because the connection is gone ends the call, it is not an error.
    macro_rules! send {
        ($label:lifetime, $message:expr) => {
            if let Err(err) = sink.send($message).await {
                if connection_gone(&err) {
                    phone.report.closed_by_server = true;
                    break $label;
                }
                return Err(boxed(err));
            }
        };
    }

    let mut ticker = tokio::time::interval(frame_period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut steps: VecDeque<Step> = steps.iter().cloned().collect();
    if !phone.carousel.is_empty() {
        // One whole round of the carried script before anything else, so
        // the model has it even if the caller speaks at once.
        steps.push_front(Step::Silence {
            ms: 20 * phone.carousel.len() as u64,
        });
    }
    // The step, the frames spent on it, and the audio heard when it began.
    let mut current: Option<(Step, u64, usize)> = None;
    let mut hung_up = false;

    'call: loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    for name in phone.receive(text.as_str()) {
                        let echo = phone.frame("mark", json!({"mark": {"name": name}}));
                        send!('call, echo);
                        phone.report.marks_echoed += 1;
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    phone.report.closed_by_server = true;
                    break 'call;
                }
                Some(Ok(_)) => {}
                Some(Err(err)) if connection_gone(&err) => {
                    phone.report.closed_by_server = true;
                    break 'call;
                }
                Some(Err(err)) => return Err(boxed(err)),
            },
            _ = ticker.tick() => {
                for name in phone.play() {
                    let echo = phone.frame("mark", json!({"mark": {"name": name}}));
                    send!('call, echo);
                    phone.report.marks_echoed += 1;
                }
                // Advance through instant steps, then send this frame.
                loop {
                    let (step, spent, baseline) = match current.take() {
                        Some(current) => current,
                        None => {
                            phone.hold_at_step = phone.report.hold_bytes_heard;
                            match steps.pop_front() {
                                Some(step) => (step, 0, phone.report.voiced_bytes_heard),
                                None => (Step::Hangup, 0, phone.report.voiced_bytes_heard),
                            }
                        }
                    };
                    let spent_ms = spent * 20;
                    let new_audio = phone.report.voiced_bytes_heard > baseline;
                    let speaking = match step {
                        Step::Speak { ms } if spent_ms < ms => true,
                        Step::Silence { ms } if spent_ms < ms => false,
                        // Done once new audio has played and the line has
                        // been quiet for 300 ms.
                        Step::WaitForAnswer { max_ms }
                            if spent_ms < max_ms
                                && !(new_audio && !phone.audio_queued() && phone.quiet_frames >= 15) => false,
                        Step::WaitForAudio { max_ms } if spent_ms < max_ms && !new_audio => false,
                        // 200 ms of it: it is playing, not a stray piece.
                        Step::WaitForHold { max_ms }
                            if spent_ms < max_ms
                                && phone.report.hold_bytes_heard < phone.hold_at_step + 1600 => false,
                        Step::Speak { .. } => {
                            // Done speaking: the caller now waits for an answer.
                            phone.waiting_since = Some(std::time::Instant::now());
                            continue;
                        }
                        Step::Silence { .. }
                        | Step::WaitForAnswer { .. }
                        | Step::WaitForAudio { .. }
                        | Step::WaitForHold { .. } => {
                            continue;
                        }
                        Step::Dtmf { digit } => {
                            let frame = phone.frame("dtmf", json!({"dtmf": {"track": "inbound_track", "digit": digit.to_string()}}));
                            send!('call, frame);
                            continue;
                        }
                        Step::StartAgain { call_sid, stream_sid, token } => {
                            let parameters = token.map_or_else(|| json!({}), |token| json!({"token": token}));
                            let frame = phone.frame("start", json!({"start": {
                                "accountSid": "AC00000000000000000000000000000000",
                                "streamSid": stream_sid,
                                "callSid": call_sid,
                                "tracks": ["inbound"],
                                "customParameters": parameters,
                                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                            }}));
                            send!('call, frame);
                            continue;
                        }
                        Step::Hangup => {
                            let stop = phone.frame("stop", json!({"stop": {"accountSid": "AC00000000000000000000000000000000", "callSid": "CA0"}}));
                            send!('call, stop);
                            let _ = sink.send(Message::Close(None)).await;
                            hung_up = true;
                            break 'call;
                        }
                        Step::Drop => {
                            drop(sink);
                            drop(stream);
                            return Ok(phone.report);
                        }
                    };
                    current = Some((step, spent + 1, baseline));
                    let media = phone.media(speaking);
                    send!('call, media);
                    break;
                }
            }
        }
    }
    if hung_up {
        // Let the server close its side; note if it says anything else.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(message)) = stream.next().await {
                if message.is_close() {
                    break;
                }
            }
        })
        .await;
    }
    phone.count_unheard();
    Ok(phone.report)
}

/// Whether an error means the other side has closed the connection.
fn connection_gone(err: &tokio_tungstenite::tungstenite::Error) -> bool {
    use tokio_tungstenite::tungstenite::Error;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match err {
        Error::ConnectionClosed | Error::AlreadyClosed => true,
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => true,
        Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
        ),
        _ => false,
    }
}
