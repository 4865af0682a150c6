//! `make demo`: a regional disaster on the local emulator, played through the compiled
//! dns-failover, capacity-scaler, backup-verifier, user-throttle and access-authorizer binaries
//! under the Lambda Runtime API. Exits non-zero if any step did not happen.

use aws_sdk_cloudwatch::types::StateValue;
use chrono::Utc;
use resilience_core::signal::OperatorCommandKind;
use resilience_tests::platform::{HOME, NORTH, Platform, SOUTH};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

/// Counts the functions' AWS API requests: every one goes through the latency model's proxy,
/// which records it (the test bed's own background readers do not).
struct ApiCalls<'a> {
    proxy: &'a resilience_tests::faults::FaultProxy,
    start: usize,
}

impl<'a> ApiCalls<'a> {
    fn new(proxy: &'a resilience_tests::faults::FaultProxy) -> Self {
        ApiCalls {
            proxy,
            start: proxy.calls().len(),
        }
    }

    fn since(&self) -> usize {
        self.proxy.calls().len() - self.start
    }
}

/// The on-call engineer, with the CLI's event builder and its signing: each command is signed
/// with the operator key in the emulator's KMS, as `resilience send` does.
struct Operator<'a> {
    config: &'a resilience_core::config::SuiteConfig,
    kms: aws_sdk_kms::Client,
    key: String,
}

impl Operator<'_> {
    async fn command(&self, kind: OperatorCommandKind, region: Option<&str>) -> Value {
        let mut detail = resilience_core::signal::OperatorCommandDetail {
            requested_by: "arn:aws:iam::123456789012:role/aworld-oncall".into(),
            reason: "demo".into(),
            region: region.map(|r| r.parse().expect("region")),
            principal: None,
            proof: None,
        };
        resilience_cli::sign(&self.kms, &self.key, kind, &mut detail)
            .await
            .expect("the emulator's KMS signs");
        resilience_cli::command_event(self.config, kind, &detail, &HOME.parse().expect("region"))
    }
}

struct Timeline {
    start: Instant,
    failed: Vec<String>,
}

impl Timeline {
    fn line(&self, function: &str, decision: &str, reason: &str) {
        println!(
            "{:>8.3}s  {function:<13} {decision:<12} {reason}",
            self.start.elapsed().as_secs_f64()
        );
    }

    fn show(&self, out: &Value) {
        if out["duplicate"] == true {
            self.line("dns-failover", "duplicate", out["status"].as_str().unwrap_or(""));
            return;
        }
        let decision = out["decision"]["decision"].as_str().unwrap_or("?");
        let decision = if decision == "no-action" {
            out["decision"]["reason"].as_str().unwrap_or(decision)
        } else {
            decision
        };
        self.line("dns-failover", decision, out["why"].as_str().unwrap_or(""));
        for a in out["actions"].as_array().into_iter().flatten() {
            println!(
                "{:>10}  {:<13} {:<12} {} ({}) {}",
                "",
                "",
                "  aws",
                a["action"].as_str().unwrap_or(""),
                a["outcome"].as_str().unwrap_or(""),
                a["detail"].as_str().unwrap_or("")
            );
        }
    }

    fn expect(&mut self, ok: bool, step: &str) {
        if !ok {
            println!("!! step did not happen: {step}");
            self.failed.push(step.to_owned());
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let dry_run = std::env::args().any(|a| a == "--dry-run");
    println!(
        "aworld-resilience demo: {SOUTH} (primary) fails, {NORTH} takes the traffic{}",
        if dry_run { " [DRY RUN: plans only]" } else { "" }
    );
    let mut t = Timeline {
        start: Instant::now(),
        failed: vec![],
    };
    let mut p = Platform::provision(&["health-metric", "control-plane"]).await;
    // The practice failover drill's name, wired like production; the RPO probe over the state
    // table, a global table here replicated by the test bed's replicator (300 ms lag).
    p.practice_drill().await;
    p.config["backup"]["rpo_probe"] = serde_json::json!({ "samples": 5, "timeout_seconds": 5 });
    resilience_tests::create_state_table(&aws_sdk_dynamodb::Client::new(&resilience_tests::sdk(SOUTH).await), &p.state_table).await;
    let _replicator =
        resilience_tests::replicator::Replicator::start(&p.state_table, &[SOUTH, NORTH], std::time::Duration::from_millis(300)).await;
    t.line(
        "setup",
        "provisioned",
        &format!(
            "state table, SNS+SQS, zone {} with weighted records on CLOUDWATCH_METRIC health checks, 6 health alarms (OK)",
            p.record_name
        ),
    );

    // Operator commands are built by the operator CLI's library, as `resilience send` sends them.
    let config = resilience_core::config::SuiteConfig::from_json(&p.config.to_string()).expect("platform config is valid");
    let operator = Operator {
        config: &config,
        kms: aws_sdk_kms::Client::new(&resilience_tests::sdk(HOME).await),
        key: p.operator_key.clone(),
    };
    let api = Arc::new(RuntimeApi::start().await);
    let mut env = p.env();
    if dry_run {
        env.push(("RESILIENCE_DRY_RUN", "true".into()));
    }
    let _procs: Vec<_> = (0..2).map(|_| FunctionProcess::spawn("dns-failover", &api, &env)).collect();
    t.line(
        "setup",
        "started",
        &format!("2 dns-failover instances (compiled binary) in {HOME} under the Runtime API"),
    );
    let scaler_api = RuntimeApi::start().await;
    let _scaler = FunctionProcess::spawn("capacity-scaler", &scaler_api, &env);
    t.line("setup", "started", &format!("1 capacity-scaler instance in {HOME}"));
    let table_before = p.scalable_target(NORTH, &p.table_target()).await;

    let verifier_api = RuntimeApi::start().await;
    let _verifier = FunctionProcess::spawn("backup-verifier", &verifier_api, &env);
    // The edge: user-throttle and the API authorizer, with signing keys made for the demo.
    let keys = resilience_tests::jwt::generate();
    let mut edge_config = p.config.clone();
    edge_config["auth"] = serde_json::json!({ "issuer": resilience_tests::jwt::ISSUER, "audience": resilience_tests::jwt::AUDIENCE, "jwks": keys.jwks, "default_usage_plan_key": "aworldUsagePlanDefault0001", "cache_seconds": 0 });
    edge_config["throttle"]["coalesce_seconds"] = serde_json::json!(0);
    let mut edge_env = env.clone();
    edge_env.retain(|(k, _)| *k != "RESILIENCE_CONFIG");
    edge_env.push(("RESILIENCE_CONFIG", edge_config.to_string()));
    let throttle_api = RuntimeApi::start().await;
    let authorizer_api = RuntimeApi::start().await;
    let _throttle = FunctionProcess::spawn("user-throttle", &throttle_api, &edge_env);
    let _authorizer = FunctionProcess::spawn("access-authorizer", &authorizer_api, &edge_env);
    t.line("setup", "started", &format!("user-throttle and access-authorizer in {HOME}"));
    t.line("setup", "started", &format!("1 backup-verifier instance in {HOME}"));

    println!("\n-- 1. normal operations: backup verification; a restore drill across invocations; one alarm blips");
    let verify_now = operator.command(OperatorCommandKind::VerifyNow, None).await;
    let calls = ApiCalls::new(&p.latency.proxy);
    let verified = verifier_api.invoke(&verify_now).await.unwrap_or_else(|e| e);
    let verify_calls = calls.since();
    t.line(
        "backup",
        verified["status"].as_str().unwrap_or("?"),
        verified["why"].as_str().unwrap_or(""),
    );
    t.expect(verified["status"] == "PASS", "backup verification passes");
    let lag = verified["report"]["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["check"] == "replication-lag")
        .cloned()
        .unwrap_or_default();
    t.line(
        "backup",
        lag["status"].as_str().unwrap_or("?"),
        &format!(
            "RPO probe {}: {}",
            lag["region"].as_str().unwrap_or("?"),
            lag["detail"].as_str().unwrap_or("not run")
        ),
    );
    t.expect(lag["status"] == "PASS", "the RPO probe measures the replication lag");
    t.line(
        "backup",
        "drill",
        verified["report"]["drill_progress"].as_str().unwrap_or("not started"),
    );
    // The progress schedule (every 5 minutes on AWS) moves the drill on; the latency model keeps
    // PITR's latest restorable time 2 s behind and the restore CREATING for 1.5 s.
    let mut drill = Value::Null;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let tick = resilience_tests::scheduler_tick(&format!("{}-restore-progress-{HOME}", p.id), HOME);
        let out = verifier_api.invoke(&tick).await.unwrap_or_else(|e| e);
        t.line("backup", "drill", out["report"]["drill_progress"].as_str().unwrap_or(""));
        if !out["report"]["drill"].is_null() {
            drill = out["report"]["drill"].clone();
            t.line("backup", "drill", drill["detail"].as_str().unwrap_or(""));
            break;
        }
    }
    t.expect(drill["status"] == "PASS", "restore drill passes");
    let rpo = verified["report"]["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["check"] == "rpo")
        .filter_map(|c| c["figure"].as_f64())
        .fold(0.0, f64::max);
    let restore_secs = drill["restore_seconds"].as_f64();

    println!("\n-- 1b. a practice failover drill: {SOUTH} drained and restored under the practice name");
    let started = api
        .invoke(&resilience_tests::scheduler_tick(
            &format!("{}-failover-drill-{NORTH}", p.id),
            NORTH,
        ))
        .await
        .unwrap_or_else(|e| e);
    t.line(
        "drill",
        started["decision"].as_str().unwrap_or("?"),
        started["why"].as_str().unwrap_or(""),
    );
    let trigger = p.config["failover_drill"]["trigger_alarms"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // EventBridge delivers the trigger alarm's state change once CloudWatch has evaluated it
    // (the emulator has no EventBridge; the latency model evaluates the alarm).
    let alarm = p.state_change_event_when(&trigger, SOUTH, StateValue::Alarm).await;
    let drained = api.invoke(&alarm).await.unwrap_or_else(|e| e);
    t.show(&drained);
    let ok = p.state_change_event_when(&trigger, SOUTH, StateValue::Ok).await;
    let restored = api.invoke(&ok).await.unwrap_or_else(|e| e);
    t.show(&restored);
    let practice = restored["drill"]["report"].clone();
    println!("{}", restored["drill"]["table"].as_str().unwrap_or("no phase table"));
    t.expect(
        dry_run || practice["status"] == "PASS",
        "the practice failover drill meets its RTO target",
    );
    let practice_rto = practice["rto_seconds"].as_f64();

    p.set_alarm(SOUTH, "api-5xx", StateValue::Alarm).await;
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .unwrap_or_else(|e| e);
    t.show(&out);
    t.expect(out["decision"]["reason"] == "region-not-failing", "a lone alarm does nothing");

    println!("\n-- 2. {SOUTH}'s health alarms go to ALARM; a burst of 25 duplicate deliveries");
    p.set_alarm(SOUTH, "api-latency", StateValue::Alarm).await;
    let event = p.alarm_event("api-latency", SOUTH, "ALARM", Utc::now());
    let calls = ApiCalls::new(&p.latency.proxy);
    let alarm_at = Instant::now();
    let first = api.invoke(&event).await.unwrap_or_else(|e| e);
    let moved = Some(alarm_at.elapsed());
    let failover_calls = calls.since();
    t.show(&first);
    let calls = ApiCalls::new(&p.latency.proxy);
    let burst: Vec<_> = (0..24)
        .map(|_| {
            let (api, e) = (api.clone(), event.clone());
            tokio::spawn(async move { api.invoke(&e).await })
        })
        .collect();
    let mut duplicates = 0;
    for b in burst {
        let out = b.await.ok().and_then(Result::ok).unwrap_or(Value::Null);
        if out["duplicate"] == true {
            duplicates += 1;
        } else {
            t.show(&out);
        }
    }
    let duplicate_calls = calls.since();
    t.line(
        "dns-failover",
        "duplicates",
        &format!("{duplicates} more deliveries of the same event suppressed by the idempotency key"),
    );
    let drained = p.drain_metric(SOUTH).await;
    t.expect(dry_run || drained == Some(1.0), "drain metric published (data plane)");
    t.expect(duplicates == 24, "24 duplicates suppressed");
    t.expect(first["decision"]["decision"] == "failover", "the first delivery fails over");
    let table_during = p.scalable_target(NORTH, &p.table_target()).await;
    t.line(
        "capacity",
        "raised",
        &format!(
            "{NORTH} orders table write MinCapacity {} -> {} before the shift; reserved concurrency {:?}",
            table_before.0,
            table_during.0,
            p.reserved_concurrency().await
        ),
    );
    t.expect(
        dry_run || table_during.0 > table_before.0,
        "capacity raised in the target region before the shift",
    );

    println!("\n-- 3. a second automatic failover and an early recovery are refused");
    p.set_alarm(SOUTH, "canary", StateValue::Alarm).await;
    let out = api
        .invoke(&p.alarm_event("canary", SOUTH, "ALARM", Utc::now()))
        .await
        .unwrap_or_else(|e| e);
    t.show(&out);
    for base in ["api-5xx", "api-latency", "canary"] {
        p.set_alarm(SOUTH, base, StateValue::Ok).await;
    }
    let out = api
        .invoke(&p.alarm_event("api-5xx", SOUTH, "OK", Utc::now()))
        .await
        .unwrap_or_else(|e| e);
    t.show(&out);
    t.expect(dry_run || out["decision"]["reason"] == "hold-down", "no failback inside hold-down");
    let notes = p.notifications().await;
    for n in &notes {
        t.line(
            "sns->sqs",
            n["severity"].as_str().unwrap_or(""),
            n["subject"].as_str().unwrap_or(""),
        );
    }
    t.expect(!notes.is_empty(), "notification arrived");

    println!("\n-- 4. a suspicious user is throttled, escalated, and denied at the edge");
    let token = resilience_tests::jwt::sign(
        &keys.ec,
        jsonwebtoken::Algorithm::ES256,
        "ec-1",
        &resilience_tests::jwt::claims("u-1842", 600),
    );
    let request = serde_json::json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/GET/orders" });
    let mut edge_decisions = Vec::new();
    for step in 0..3 {
        let out = throttle_api.invoke(&p.suspicious("user#u-1842")).await.unwrap_or_else(|e| e);
        t.line(
            "user-throttle",
            out["decision"].as_str().unwrap_or("?"),
            &format!(
                "user#u-1842 -> {} until {}",
                out["level"].as_str().unwrap_or("?"),
                out["until"].as_str().unwrap_or("?")
            ),
        );
        let auth = authorizer_api.invoke(&request).await.unwrap_or_else(|e| e);
        let effect = auth["policyDocument"]["Statement"][0]["Effect"].as_str().unwrap_or("?").to_owned();
        t.line(
            "authorizer",
            &effect,
            &format!(
                "level {}; usage plan key {}",
                auth["context"]["throttle_level"].as_str().unwrap_or("?"),
                auth["usageIdentifierKey"].as_str().unwrap_or("none")
            ),
        );
        edge_decisions.push((step, effect));
    }
    t.expect(
        dry_run || edge_decisions.last().is_some_and(|(_, e)| e == "Deny"),
        "the blocked user is denied by the authorizer",
    );
    t.expect(
        edge_decisions.first().is_some_and(|(_, e)| e == "Allow"),
        "the rate-limited user is allowed at the lower usage plan",
    );

    println!("\n-- 5. the operator fails back");
    let failback = operator.command(OperatorCommandKind::Failback, Some(SOUTH)).await;
    let out = api.invoke(&failback).await.unwrap_or_else(|e| e);
    t.show(&out);
    t.expect(dry_run || out["decision"]["decision"] == "failback", "failback done");
    t.expect(dry_run || p.drain_metric(SOUTH).await == Some(0.0), "drain metric back to 0");
    // The same command event reaches capacity-scaler (one EventBridge rule, two targets).
    let out = scaler_api.invoke(&failback).await.unwrap_or_else(|e| e);
    t.line(
        "capacity",
        out["decision"].as_str().unwrap_or("?"),
        out["why"].as_str().unwrap_or(""),
    );
    let table_after = p.scalable_target(NORTH, &p.table_target()).await;
    t.expect(dry_run || table_after == table_before, "capacity back to its baseline");

    let audit = p.audit("dns-failover").await;
    let ddb = aws_sdk_dynamodb::Client::new(&resilience_tests::sdk(HOME).await);
    let store = resilience_core::store::dynamodb::DynamoStore::new(ddb.clone(), p.state_table.clone());
    let home: resilience_core::Region = HOME.parse().expect("a region code");
    if let Ok(s) = resilience_cli::status(&config, &home, &store, &[], &ddb).await {
        t.line(
            "resilience",
            "status",
            &format!(
                "serving {:?}, drained {:?}, frozen {}",
                s.serving.iter().map(ToString::to_string).collect::<Vec<_>>(),
                s.drained.iter().map(ToString::to_string).collect::<Vec<_>>(),
                s.frozen
            ),
        );
        t.expect(
            dry_run || (s.serving.len() == 2 && s.drained.is_empty()),
            "both regions serve again (resilience status)",
        );
    }
    println!("\n== summary");
    println!(
        "backup: worst RPO {rpo:.0} s (target 3600 s); restore drill {} ({verify_calls} API calls for the whole verification)",
        restore_secs.map_or("n/a".into(), |s| format!("restored in {s:.2} s")),
    );
    println!(
        "practice failover drill: alarm to DNS answer changed {} (target {} s); RPO probe p99 {}",
        practice_rto.map_or("n/a".into(), |r| format!("{r:.2} s")),
        practice["rto_target_seconds"],
        lag["figure"].as_f64().map_or("n/a".into(), |f| format!("{f:.0} ms"))
    );
    println!(
        "alarm to traffic moved (first delivery, scale-before-shift included): {}",
        moved.map_or("n/a".into(), |d| format!("{} ms", d.as_millis()))
    );
    println!(
        "decisions audited: {}; traffic moves: {}; duplicates suppressed: {duplicates}; notifications: {}",
        audit.len(),
        audit
            .iter()
            .filter(|r| matches!(r.decision.as_str(), "failover" | "failback") && !r.reason.starts_with("[practice drill]"))
            .count(),
        notes.len()
    );
    println!(
        "AWS API calls: the failover reaction {failover_calls}, the 24 duplicates {duplicate_calls} in all ({:.1} each)",
        duplicate_calls as f64 / 24.0
    );
    println!(
        "capacity ({NORTH} orders table MinCapacity): baseline {} -> {} during the failover -> {} after failback",
        table_before.0, table_during.0, table_after.0
    );
    if t.failed.is_empty() {
        println!("demo: every step happened");
        ExitCode::SUCCESS
    } else {
        println!("demo: {} step(s) did not happen: {:?}", t.failed.len(), t.failed);
        ExitCode::FAILURE
    }
}
