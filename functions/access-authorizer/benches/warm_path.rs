//! The authorizer's warm path with a cache hit: JWT validation (RS256 and ES256), the cache
//! lookup and the policy document. No network: the throttle record is already cached. Criterion
//! gives the median; a second pass times 20,000 single requests to report p50 and p99 (the tail
//! a caller sees), written to target/authorizer-latency.json for scripts/bench-report.py.

use access_authorizer::Authorizer;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use resilience_core::act::throttle_table::ThrottleTable;
use resilience_core::auth::TokenValidator;
use resilience_core::config::AuthConfig;
use resilience_core::model::Principal;
use resilience_tests::jwt;
use serde_json::json;
use std::time::Duration;

fn warm_path(c: &mut Criterion) {
    let keys = jwt::generate();
    let auth = AuthConfig {
        issuer: jwt::ISSUER.into(),
        audience: jwt::AUDIENCE.into(),
        jwks: keys.jwks.clone(),
        leeway_seconds: 30,
        cache_seconds: 3600,
        max_lifetime_seconds: 86_400,
        token_types: vec!["JWT".into()],
        token_use: None,
        jwks_uri: None,
        jwks_refresh_seconds: 300,
        default_usage_plan_key: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // A client that is never called: every lookup hits the cache.
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-north-1"))
        .build();
    let table = ThrottleTable::new(aws_sdk_dynamodb::Client::new(&sdk), "unused");
    let authorizer = Authorizer::new(
        TokenValidator::new(&auth).expect("jwks"),
        table,
        None,
        Duration::from_secs(3600),
        "bench".into(),
    );
    authorizer.remember(Principal::parse("user#u-1").expect("principal"), None);
    let arn = "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/GET/orders";
    let mut g = c.benchmark_group("access-authorizer warm path (cache hit)");
    let mut tails = Vec::new();
    for (name, key, alg, kid) in [
        ("RS256", &keys.rsa, Algorithm::RS256, "rsa-1"),
        ("ES256", &keys.ec, Algorithm::ES256, "ec-1"),
    ] {
        let token = jwt::sign(key, alg, kid, &jwt::claims("u-1", 3600));
        let event = json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": arn });
        g.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let out = authorizer.handle(event.clone()).await.expect("allowed");
                assert_eq!(out.context["lookup"], "cache");
                out
            })
        });
        let mut micros: Vec<f64> = (0..20_000)
            .map(|_| {
                let started = std::time::Instant::now();
                let out = rt.block_on(authorizer.handle(event.clone())).expect("allowed");
                std::hint::black_box(out);
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        micros.sort_by(f64::total_cmp);
        let at = |q: f64| micros[((micros.len() as f64 - 1.0) * q) as usize];
        println!(
            "{name}: p50 {:.1} us, p99 {:.1} us, max {:.1} us over {} requests",
            at(0.5),
            at(0.99),
            at(1.0),
            micros.len()
        );
        tails.push(json!({ "alg": name, "p50_us": at(0.5), "p99_us": at(0.99), "max_us": at(1.0), "requests": micros.len() }));
    }
    g.finish();
    // The target directory, wherever cargo put it: this bench runs from <target>/release/deps.
    let exe = std::env::current_exe().expect("bench path");
    let out = exe
        .ancestors()
        .nth(3)
        .expect("<target>/release/deps/<bench>")
        .join("authorizer-latency.json");
    std::fs::write(out, serde_json::to_string_pretty(&tails).expect("json")).expect("write latency report");
}

criterion_group!(benches, warm_path);
criterion_main!(benches);
