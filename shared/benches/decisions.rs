//! In-process decision throughput: the pure functions on the hot paths.

use chrono::{Duration, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use resilience_core::config::SuiteConfig;
use resilience_core::decide::failover::{DnsState, decide};
use resilience_core::decide::throttle::{Offence, ThrottleDecision, on_offence};
use resilience_core::model::AlarmState;
use resilience_core::model::Principal;
use resilience_core::model::{HealthView, RegionHealth};
use resilience_core::signal::normalise;
use std::hint::black_box;

fn config() -> SuiteConfig {
    SuiteConfig::from_json(resilience_core::config::EXAMPLE).expect("example config")
}

fn fixture(name: &str) -> serde_json::Value {
    resilience_core::fixtures::event(name)
}

fn throttle_decisions(c: &mut Criterion) {
    let cfg = config().throttle.expect("throttle config");
    let principals: Vec<Principal> = (0..1024)
        .map(|i| Principal::parse(&format!("user#u-{i}")).expect("principal"))
        .collect();
    let now = Utc::now();
    let mut g = c.benchmark_group("user-throttle");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decide one offence (escalating record)", |b| {
        let first = match on_offence(
            &cfg,
            None,
            &principals[0],
            Offence {
                at: now,
                reason: "x".into(),
                source: "d".into(),
                signal: "first".into(),
            },
            now,
        ) {
            ThrottleDecision::Throttle { record, .. } => record,
            other => panic!("{other:?}"),
        };
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % principals.len();
            let offence = Offence {
                at: now,
                reason: "credential stuffing".into(),
                source: "aworld.detector".into(),
                signal: "later".into(),
            };
            black_box(on_offence(&cfg, Some(&first), &principals[i], offence, now + Duration::hours(1)))
        })
    });
    g.finish();
}

fn failover_decisions(c: &mut Criterion) {
    let cfg = config();
    let signal = normalise(&fixture("eventbridge-alarm-metric.json"), &cfg)
        .remove(0)
        .signal
        .expect("signal");
    let view: HealthView = cfg
        .regions
        .iter()
        .map(|(r, rc)| {
            (
                r.clone(),
                RegionHealth::read(rc.health_alarms.iter().map(|a| (a.clone(), AlarmState::Alarm)).collect()),
            )
        })
        .collect();
    let state = DnsState::default();
    let mut g = c.benchmark_group("dns-failover");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decide (alarm signal, both regions read)", |b| {
        b.iter(|| black_box(decide(&cfg, &state, &signal, &view, Utc::now())))
    });
    g.finish();
}

fn signal_normalisation(c: &mut Criterion) {
    let cfg = config();
    let mut g = c.benchmark_group("signals");
    for name in ["eventbridge-alarm-metric.json", "sns-alarm-notification.json", "sqs-batch.json"] {
        let v = fixture(name);
        g.bench_function(format!("normalise {name}"), |b| b.iter(|| black_box(normalise(&v, &cfg))));
    }
    g.finish();
}

criterion_group!(benches, throttle_decisions, failover_decisions, signal_normalisation);
criterion_main!(benches);
