//! The bridge's own work per audio frame, without sockets: a Twilio media
//! frame decoded and re-encoded as the model's `input_audio_buffer.append`,
//! and a model audio delta decoded and re-encoded as a Twilio media frame.
//! Before timing, each path is run under a counting allocator and its heap
//! allocations per frame are printed.
//! `cargo bench -p qloophone-adapters --bench frames`; figures in
//! BENCHMARKS.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use qloophone_adapters::openai::wire as openai;
use qloophone_adapters::twilio::wire::{self as twilio, Encoder, Inbound};
use qloophone_domain::ports::{ModelCommand, ModelEvent, PhoneCommand, PhoneEvent};
use qloophone_domain::{LegId, MarkName};

/// The system allocator, counting allocations (a bench binary's own
/// global allocator: nothing else is measured with it).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap allocations (and reallocations) per run of `frame`.
fn allocations_per_frame(name: &str, mut frame: impl FnMut()) {
    const RUNS: u64 = 10_000;
    frame();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..RUNS {
        frame();
    }
    let per_frame = (ALLOCATIONS.load(Ordering::Relaxed) - before) as f64 / RUNS as f64;
    println!("{name}: {per_frame:.2} heap allocations a frame");
}

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
    let scratch = std::cell::RefCell::new(bytes::BytesMut::new());
    let relay = || {
        let Ok(Inbound::Event(PhoneEvent::Media { audio, .. })) = twilio::decode(black_box(&frame))
        else {
            panic!("a media frame");
        };
        let mut scratch = scratch.borrow_mut();
        black_box(openai::encode_text(
            &ModelCommand::AppendAudio(audio),
            &mut scratch,
        ));
    };
    allocations_per_frame("caller frame to model append", relay);
    let mut group = c.benchmark_group("caller frame to model");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode + encode", |b| b.iter(relay));
    group.finish();
}

fn model_to_caller(c: &mut Criterion) {
    // A typical delta: 100 ms of μ-law (800 bytes).
    let frame = Bytes::from(format!(
        r#"{{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,"delta":"{}"}}"#,
        payload(798)
    ));
    let encoder = Encoder::new(&LegId::parse("MZ00000000000000000000000000000001").unwrap());
    let mark = MarkName::new(42);
    // As the legs run: one decoder per model session, one reused buffer per
    // phone leg, each message dropped once written (as the socket does).
    let decoder = std::cell::RefCell::new(openai::Decoder::default());
    let scratch = std::cell::RefCell::new(bytes::BytesMut::new());
    let relay = || {
        let Ok(ModelEvent::AudioDelta { audio, .. }) =
            decoder.borrow_mut().decode(black_box(&frame))
        else {
            panic!("an audio delta");
        };
        let mut scratch = scratch.borrow_mut();
        black_box(encoder.encode_text(&PhoneCommand::Media(audio), &mut scratch));
        black_box(encoder.encode_text(&PhoneCommand::Mark(mark), &mut scratch));
    };
    allocations_per_frame("model delta to caller media and mark", relay);
    let mut group = c.benchmark_group("model delta to caller");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode + encode media and mark", |b| b.iter(relay));
    group.finish();
}

criterion_group!(benches, caller_to_model, model_to_caller);
criterion_main!(benches);
