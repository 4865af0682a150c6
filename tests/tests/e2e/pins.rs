//! Pins the workspace depends on for the local emulator to keep working.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

#[test]
fn cloudwatch_sdk_stays_pinned_below_the_cbor_protocol() {
    // aws-sdk-cloudwatch >= 1.100 speaks RPCv2 CBOR, which moto does not: the pin must stay exact.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let manifest = std::fs::read_to_string(format!("{root}/Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with("aws-sdk-cloudwatch"))
        .expect("aws-sdk-cloudwatch in [workspace.dependencies]");
    assert!(
        line.contains("version = \"=1.99.0\""),
        "aws-sdk-cloudwatch must be pinned to =1.99.0: {line}"
    );
    let lock = std::fs::read_to_string(format!("{root}/Cargo.lock")).unwrap();
    let locked: Vec<&str> = lock
        .split("[[package]]")
        .filter(|p| p.contains("name = \"aws-sdk-cloudwatch\""))
        .filter_map(|p| p.lines().find(|l| l.starts_with("version")))
        .collect();
    assert_eq!(
        locked,
        ["version = \"1.99.0\""],
        "Cargo.lock resolves aws-sdk-cloudwatch to exactly 1.99.0"
    );
}
