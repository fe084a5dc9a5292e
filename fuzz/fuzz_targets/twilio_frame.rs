//! Any bytes as a Twilio Media Stream text frame: decoded or refused, never
//! a panic; a decoded `start` yields its stream token or none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qloophone_adapters::twilio::wire;

fuzz_target!(|data: &[u8]| {
    let frame = bytes::Bytes::copy_from_slice(data);
    let _ = wire::decode(&frame);
    let _ = wire::stream_token(&frame);
});
