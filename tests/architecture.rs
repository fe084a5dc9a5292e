//! The hexagon's shape, checked: the domain depends on no I/O crate.

use std::process::Command;

/// Crates that mean networking, HTTP, configuration loading or wire
/// encodings. None may reach the domain, directly or through another crate.
const FORBIDDEN: &[&str] = &[
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
    "qloophone",
];

#[test]
fn the_domain_depends_on_no_io_crate() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--package",
            "qloophone-domain",
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
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"qloophone-domain"), "{tree}");
    assert!(crates.contains(&"tokio"), "the tree was read: {tree}");
    for name in FORBIDDEN {
        assert!(
            !crates.contains(name),
            "qloophone-domain depends on {name}:\n{tree}"
        );
    }
}

#[test]
fn adapters_never_depend_on_the_application_crate() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/adapters/Cargo.toml"))
            .unwrap();
    assert!(!manifest.contains("qloophone.workspace") && !manifest.contains("qloophone = "));
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/domain/Cargo.toml")).unwrap();
    assert!(!manifest.contains("qloophone-adapters"));
}
