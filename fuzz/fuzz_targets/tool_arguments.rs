//! Any JSON object as a tool call's arguments: every accessor the tools use
//! answers a value or a `ToolFailure`, never a panic, and what it accepts
//! keeps its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qloophone_domain::tools::args::Args;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(data) else {
        return;
    };
    let args = Args::new(map);
    for name in ["query", "location", "type", "output_type", "tags", "name"] {
        if let Ok(Some(text)) = args.text(name, 200) {
            assert!(text.chars().count() <= 200);
        }
        let _ = args.required_text(name, 64);
    }
    for name in ["take", "limit", "radius"] {
        if let Ok(Some(n)) = args.count(name, 1, 20) {
            assert!((1..=20).contains(&n));
        }
        if let Ok(Some(x)) = args.number(name, -90.0, 90.0) {
            assert!((-90.0..=90.0).contains(&x));
        }
    }
    for name in ["entity_ids", "ids", "entities"] {
        if let Ok(Some(ids)) = args.ids(name) {
            assert!(ids.len() <= 10 && ids.iter().all(|id| id.len() <= 64));
        }
    }
});
