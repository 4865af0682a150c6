//! Fuzzing at scale with proptest: event normalisation and configuration parsing, fed with the
//! corpus in `shared/fixtures` (the real-format events every test reads, hostile inputs, configurations) and
//! mutations of it — structural (values replaced by other types, control and bidi characters,
//! huge numbers and strings, keys removed, nodes wrapped) and textual (bytes inserted, cut).
//! The properties: no input panics, and every rejection is an error that says something.
//!
//! `FUZZ_CASES` sets the number of inputs per target: 2,000 in `make test`, 1,000,000 in
//! `make soak`. A failure is shrunk and saved under `shared/proptest-regressions/`, where it
//! is replayed first on every later run.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use resilience_core::config::SuiteConfig;
use resilience_core::signal::normalise;
use serde_json::Value;
use std::sync::LazyLock;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000)
}

fn corpus(dir: &str) -> Vec<(String, String)> {
    let path = format!("{}/fixtures/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, String)> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "empty corpus {path}");
    out
}

static EVENTS: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    corpus("events")
        .into_iter()
        .map(|(name, text)| {
            let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, v)
        })
        .collect()
});
// The documented example is the first configuration (one copy: `docs/example-config.json`).
static CONFIGS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let mut all = vec![("example".to_owned(), resilience_core::config::EXAMPLE.to_owned())];
    all.extend(corpus("config"));
    all
});
static CONFIG: LazyLock<SuiteConfig> = LazyLock::new(|| SuiteConfig::from_json(resilience_core::config::EXAMPLE).unwrap());

/// A replacement value: other types, awkward text, extremes.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e308f64..1e308).prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::from),
        // Control, bidi-override, zero-width and non-BMP characters.
        "[\\x00-\\x1f\\x7f\\u{202e}\\u{200b}\\u{feff}\\u{1F600}a-z#:/-]{0,24}".prop_map(Value::from),
        (1usize..200_000).prop_map(|n| Value::from("x".repeat(n))),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!("2026-13-45T25:61:61Z")),
        Just(serde_json::json!("ALARM")),
        Just(serde_json::json!("eu-south-1")),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, Value),
    Remove(usize),
    Wrap(usize),
    /// Re-encode the node as a JSON string (as envelopes carry their payload).
    Stringify(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), leaf()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Wrap),
        1 => any::<usize>().prop_map(Mutation::Stringify),
    ]
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// Applies `f` to the `n`-th node (pre-order); returns true once applied.
fn at(v: &mut Value, n: &mut usize, f: &mut dyn FnMut(&mut Value)) -> bool {
    if *n == 0 {
        f(v);
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| at(c, n, f)),
        Value::Object(o) => o.values_mut().any(|c| at(c, n, f)),
        _ => false,
    }
}

type Edit = Box<dyn FnMut(&mut Value)>;

fn apply(v: &mut Value, m: &Mutation) {
    let size = count(v);
    let (i, op): (usize, Edit) = match m.clone() {
        Mutation::Replace(i, new) => (i, Box::new(move |x: &mut Value| *x = new.clone())),
        Mutation::Remove(i) => (
            i,
            Box::new(|x: &mut Value| {
                if let Value::Object(o) = x
                    && let Some(k) = o.keys().next().cloned()
                {
                    o.remove(&k);
                } else if let Value::Array(a) = x {
                    a.pop();
                }
            }),
        ),
        Mutation::Wrap(i) => (i, Box::new(|x: &mut Value| *x = Value::Array(vec![x.take()]))),
        Mutation::Stringify(i) => (i, Box::new(|x: &mut Value| *x = Value::from(x.to_string()))),
    };
    let mut op = op;
    let mut n = i % size;
    at(v, &mut n, &mut *op);
}

/// Every inbound item is a signal or an error with a message.
fn check_normalise(v: &Value) {
    for item in normalise(v, &CONFIG) {
        if let Err(e) = item.signal {
            assert!(!e.to_string().trim().is_empty(), "an error without a message for {v}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn normalisation_never_panics_on_mutated_corpus_events(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let (_, base) = &EVENTS[pick.index(EVENTS.len())];
        let mut v = base.clone();
        for m in &mutations {
            apply(&mut v, m);
        }
        check_normalise(&v);
    }

    #[test]
    fn normalisation_never_panics_on_mangled_event_text(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        junk in "\\PC{0,12}",
        drop in 0usize..16,
    ) {
        let (_, base) = &EVENTS[pick.index(EVENTS.len())];
        let text = base.to_string();
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + drop..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        let mangled = format!("{}{}{}", &text[..at], junk, &text[end..]);
        if let Ok(v) = serde_json::from_str::<Value>(&mangled) {
            check_normalise(&v);
        }
    }

    #[test]
    fn configuration_parsing_never_panics_and_names_what_is_wrong(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 0..4),
        cut in any::<prop::sample::Index>(),
        junk in "\\PC{0,6}",
        textual in any::<bool>(),
    ) {
        let (_, text) = &CONFIGS[pick.index(CONFIGS.len())];
        let input = if textual {
            let at = cut.index(text.len() + 1);
            let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            format!("{}{}{}", &text[..at], junk, &text[at..])
        } else {
            let mut v: Value = serde_json::from_str(text).unwrap();
            for m in &mutations {
                apply(&mut v, m);
            }
            v.to_string()
        };
        if let Err(e) = SuiteConfig::from_json(&input) {
            let message = e.to_string();
            prop_assert!(!message.trim().is_empty());
        }
    }
}

#[test]
fn the_corpus_holds_every_fixture_and_the_hostile_inputs() {
    let names: Vec<&str> = EVENTS.iter().map(|(n, _)| n.rsplit('/').next().unwrap()).collect();
    let fixtures = std::fs::read_dir(resilience_core::fixtures::events_dir()).unwrap();
    for f in fixtures {
        let name = f.unwrap().file_name().into_string().unwrap();
        assert!(names.contains(&name.as_str()), "fixture {name} missing from the fuzz corpus");
    }
    assert!(names.len() >= 18, "{names:?}");
    assert!(names.iter().filter(|n| n.starts_with("hostile-")).count() >= 6, "{names:?}");
    assert!(CONFIGS.len() >= 3);
}
