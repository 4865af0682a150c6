//! Cold start of each function binary: process start → first poll of the Runtime API
//! (configuration, SDK config and clients included), against the bare `hello_runtime`, both
//! from `target/release`. Medians over repeated runs, measured side by side in one run.
//! Usage: `coldstart [runs]`. Writes `<target dir>/coldstart.json` for scripts/bench-report.py.

use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use std::time::{Duration, Instant};

const BINARIES: [&str; 7] = [
    "hello_runtime",
    "dns-failover",
    "capacity-scaler",
    "backup-verifier",
    "user-throttle",
    "access-authorizer",
    "readiness-check",
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(30);
    // Beside this binary: `make bench` builds the functions in the same (release) profile.
    let release = resilience_tests::runtime::profile_dir();
    let mut config: serde_json::Value = serde_json::from_str(resilience_core::config::EXAMPLE).expect("example config");
    // The authorizer needs signing keys; any valid JWKS does for start-up.
    config["auth"]["jwks"] = resilience_tests::jwt::generate().jwks;
    let env = vec![
        ("RESILIENCE_CONFIG", config.to_string()),
        ("AWS_REGION", "eu-north-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "bench".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "bench".to_owned()),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); BINARIES.len()];
    // Interleaved: every binary once per round, so the machine's noise hits all alike.
    for _ in 0..runs {
        for (i, name) in BINARIES.iter().enumerate() {
            let api = RuntimeApi::start().await;
            let polled = api.wait_for_poll();
            let started = Instant::now();
            let _p = FunctionProcess::spawn_path(&release.join(name), &api, &env);
            tokio::time::timeout(Duration::from_secs(10), polled)
                .await
                .unwrap_or_else(|_| panic!("{name} never polled the Runtime API"));
            samples[i].push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let base = median(samples[0].clone());
    let mut out = Vec::new();
    println!("cold start (process start -> first poll), median of {runs}:");
    for (name, s) in BINARIES.iter().zip(samples) {
        let m = median(s);
        println!("  {name:<18} {m:7.2} ms  ({:.2}x hello_runtime)", m / base);
        out.push(serde_json::json!({ "binary": name, "median_ms": m, "ratio": m / base, "runs": runs }));
    }
    std::fs::write(
        release.parent().unwrap_or(&release).join("coldstart.json"),
        serde_json::to_string_pretty(&out).expect("json"),
    )
    .expect("write");
}
