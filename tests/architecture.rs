//! The hexagon's shape, checked from the dependency graph and the sources:
//! the domain depends on no I/O crate, the sandbox on neither the domain
//! nor the adapters, and only the wiring reaches the sandbox.

use std::path::Path;
use std::process::Command;

/// Crates that mean networking, HTTP, configuration loading or wire
/// encodings. None may reach the domain, directly or through another crate.
const FORBIDDEN_IN_DOMAIN: &[&str] = &[
    "warp",
    "hyper",
    "reqwest",
    "tungstenite",
    "tokio-tungstenite",
    "figment",
    "mio",
    "socket2",
    "base64",
    "lru",
    "qloophone-adapters",
    "qloophone-sandbox",
    "qloophone",
];

/// The sandbox plays the outside world: it must not share our code, or a
/// bug in our wire types would be mirrored by the peers that test them.
const FORBIDDEN_IN_SANDBOX: &[&str] = &["qloophone-domain", "qloophone-adapters", "qloophone"];

/// Every crate `package` depends on, directly or not (normal edges).
fn dependencies_of(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--package",
            package,
            "--edges",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let crates: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    assert_eq!(crates.first().map(String::as_str), Some(package), "{tree}");
    assert!(
        crates.iter().any(|c| c == "tokio"),
        "the tree was read: {tree}"
    );
    // The package itself heads the tree; only what it depends on counts.
    crates.into_iter().skip(1).collect()
}

fn assert_free_of(package: &str, forbidden: &[&str]) {
    let crates = dependencies_of(package);
    for name in forbidden {
        assert!(
            !crates.iter().any(|c| c == name),
            "{package} depends on {name}: {crates:?}"
        );
    }
}

#[test]
fn the_domain_depends_on_no_io_crate() {
    assert_free_of("qloophone-domain", FORBIDDEN_IN_DOMAIN);
}

#[test]
fn the_sandbox_depends_on_neither_the_domain_nor_the_adapters() {
    assert_free_of("qloophone-sandbox", FORBIDDEN_IN_SANDBOX);
}

#[test]
fn adapters_never_depend_on_the_application_crate_or_the_sandbox() {
    assert_free_of("qloophone-adapters", &["qloophone", "qloophone-sandbox"]);
}

/// Rust files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn only_the_wiring_and_the_command_line_reach_the_sandbox() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = ["sandbox.rs", "commands.rs"];
    for file in rust_files(&src) {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_str().unwrap();
        if !allowed.contains(&name) {
            assert!(
                !text.contains("qloophone_sandbox"),
                "{} imports the sandbox; only src/sandbox.rs (which starts it) and src/commands.rs (its commands) may",
                file.display()
            );
        }
    }
}

/// The words of the voice models' and the phone network's vendors and
/// wire formats: none may appear in the domain's code or its docs (its
/// tests may name them, as data). The domain speaks of a voice model and
/// a phone leg; the adapters say which.
const VENDOR_VOCABULARY: &[&str] = &[
    "openai",
    "realtime",
    "gpt-",
    "twilio",
    // Wire event names, as they are written in docs and strings.
    "`session.",
    "\"session.",
    "response.create",
    "response.done",
    "response.output",
    "conversation.item",
    "input_audio_buffer",
    "speech_started",
];

/// Whether `path` holds tests only (a `tests.rs`, or a file under a
/// `tests/` folder).
fn is_test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name == "tests.rs")
        || path.components().any(|part| part.as_os_str() == "tests")
}

#[test]
fn no_vendor_vocabulary_enters_the_domain() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("domain/src");
    let mut found = Vec::new();
    for file in rust_files(&src).into_iter().filter(|f| !is_test_file(f)) {
        let text = std::fs::read_to_string(&file).unwrap();
        // Code after an in-file `#[cfg(test)]` is tests too.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            let lower = line.to_ascii_lowercase();
            for word in VENDOR_VOCABULARY {
                if lower.contains(word) {
                    found.push(format!(
                        "{}:{}: {word}: {}",
                        file.display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "vendor vocabulary in the domain (it belongs in an adapter):\n{}",
        found.join("\n")
    );
}

/// The guard finds what it guards against.
#[test]
fn the_vocabulary_guard_sees_a_vendor_word() {
    let line = "/// Sends OpenAI's `response.create`.".to_ascii_lowercase();
    assert!(VENDOR_VOCABULARY.iter().any(|word| line.contains(word)));
}
