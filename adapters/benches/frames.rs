//! The bridge's own work per audio frame, without sockets: a Twilio media
//! frame decoded and re-encoded as the model's `input_audio_buffer.append`,
//! and a model audio delta decoded and re-encoded as a Twilio media frame.
//! `cargo bench -p qloophone-adapters --bench frames`; figures in
//! BENCHMARKS.md.

use bytes::Bytes;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use qloophone_adapters::openai::wire as openai;
use qloophone_adapters::twilio::wire::{self as twilio, Encoder, Inbound};
use qloophone_domain::StreamSid;
use qloophone_domain::ports::{ModelCommand, ModelEvent, PhoneCommand, PhoneEvent};

/// 20 ms of μ-law (160 bytes), base64: what Twilio sends 50 times a second.
fn payload(bytes: usize) -> String {
    use std::fmt::Write as _;
    // Base64 of 0xFF bytes is "////"; any valid alphabet works for timing.
    let mut text = String::new();
    for _ in 0..bytes / 3 {
        let _ = write!(text, "////");
    }
    text
}

fn caller_to_model(c: &mut Criterion) {
    let frame = Bytes::from(format!(
        r#"{{"event":"media","sequenceNumber":"42","media":{{"track":"inbound","chunk":"41","timestamp":"820","payload":"{}"}},"streamSid":"MZ00000000000000000000000000000001"}}"#,
        payload(159)
    ));
    let mut group = c.benchmark_group("caller frame to model");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode + encode", |b| {
        b.iter(|| {
            let Ok(Inbound::Event(PhoneEvent::Media { audio, .. })) =
                twilio::decode(black_box(&frame))
            else {
                panic!("a media frame");
            };
            black_box(openai::encode(&ModelCommand::AppendAudio(audio)))
        });
    });
    group.finish();
}

fn model_to_caller(c: &mut Criterion) {
    // A typical delta: 100 ms of μ-law (800 bytes).
    let frame = Bytes::from(format!(
        r#"{{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        payload(798)
    ));
    let encoder = Encoder::new(&StreamSid::parse("MZ00000000000000000000000000000001").unwrap());
    let mut group = c.benchmark_group("model delta to caller");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode + encode", |b| {
        b.iter(|| {
            let Ok(ModelEvent::AudioDelta { audio, .. }) = openai::decode(black_box(&frame)) else {
                panic!("an audio delta");
            };
            black_box(encoder.encode(&PhoneCommand::Media(audio)))
        });
    });
    group.finish();
}

criterion_group!(benches, caller_to_model, model_to_caller);
criterion_main!(benches);
