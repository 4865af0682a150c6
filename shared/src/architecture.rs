//! The map stays true: two tests that read the source tree. Every module of this crate appears
//! in the code map of `docs/architecture.md` (and the map names no file that is gone), and the
//! lower floors import only the floors the layer rules allow (`use crate::…` lines, tests
//! excepted), so a cycle or a climb back up fails `make test`, not a review.

use std::path::{Path, PathBuf};

/// What each lower floor may import from the crate (itself included).
const RULES: [(&str, &[&str]); 6] = [
    ("model", &["model"]),
    ("config", &["model", "config"]),
    ("signal", &["model", "config", "signal"]),
    ("store", &["model", "config", "store"]),
    ("decide", &["model", "config", "signal", "decide"]),
    ("documents", &["model", "config", "store", "decide", "documents"]),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The crate modules a file's non-test code names (`crate::<module>`).
fn imports(code: &str) -> Vec<String> {
    let code = code.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if !name.is_empty() && !found.contains(&name) {
            found.push(name);
        }
    }
    found
}

#[test]
fn the_lower_floors_import_only_what_the_layer_rules_allow() {
    let mut broken = Vec::new();
    for (floor, allowed) in RULES {
        let dir = src().join(floor);
        let files = if dir.is_dir() {
            rust_files(&dir)
        } else {
            vec![src().join(format!("{floor}.rs"))]
        };
        for file in files.iter().filter(|f| f.file_name().is_some_and(|n| n != "tests.rs")) {
            let code = std::fs::read_to_string(file).expect("source file");
            for module in imports(&code) {
                if !allowed.contains(&module.as_str()) {
                    broken.push(format!("{}: crate::{module} (allowed: {allowed:?})", file.display()));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the layer rules (docs/architecture.md):\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_module_is_in_the_code_map_and_the_map_names_no_missing_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace");
    let map = std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let files: Vec<String> = rust_files(&src())
        .iter()
        .map(|f| f.strip_prefix(root).expect("in the workspace").display().to_string())
        .collect();
    let unmapped: Vec<&String> = files.iter().filter(|f| !map.contains(&format!("`{f}`"))).collect();
    assert!(
        unmapped.is_empty(),
        "modules missing from docs/architecture.md's code map: {unmapped:?}"
    );
    let gone: Vec<&str> = map
        .split('`')
        .filter(|s| s.starts_with("shared/src/") && s.ends_with(".rs"))
        .filter(|s| !root.join(s).exists())
        .collect();
    assert!(gone.is_empty(), "docs/architecture.md names files that do not exist: {gone:?}");
}
