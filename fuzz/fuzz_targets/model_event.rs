//! Any bytes as an OpenAI Realtime server event: decoded or refused, never
//! a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qloophone_adapters::openai::wire;

fuzz_target!(|data: &[u8]| {
    let _ = wire::decode(&bytes::Bytes::copy_from_slice(data));
});
