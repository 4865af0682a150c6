//! The operator CLI (`resilience`), run as a process against the emulator after real reactions.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use chrono::Utc;
use resilience_tests::platform::{HOME, NORTH, Platform, SOUTH};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi, binary};
use serde_json::Value;

async fn cli(p: &Platform, args: &[&str]) -> (bool, Value, String) {
    let out = tokio::process::Command::new(binary("resilience"))
        .args(args)
        .env("RESILIENCE_CONFIG", p.config.to_string())
        .env("AWS_REGION", HOME)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[tokio::test]
async fn status_audit_and_commands_round_trip_through_the_functions() {
    let mut p = Platform::provision(&["control-plane"]).await;
    // Who the CLI says sent a command is who STS says its credentials are: make that caller
    // an operator (the emulator's caller is not the configured role).
    let me = resilience_cli::caller(&aws_sdk_sts::Client::new(&resilience_tests::sdk(HOME).await))
        .await
        .unwrap();
    p.config["operators"]["principals"].as_array_mut().unwrap().push(me.clone().into());
    let key = p.operator_key.clone();
    let api = RuntimeApi::start().await;
    let _f = FunctionProcess::spawn("dns-failover", &api, &p.env());

    let (ok, status, text) = cli(&p, &["status", "--json"]).await;
    assert!(ok, "{text}");
    assert_eq!(status["serving"].as_array().unwrap().len(), 2, "{status}");

    // The command the CLI prints is the documented event, signed with the operator key in KMS
    // and naming the caller STS authenticated: the function acts on it.
    let (ok, _, text) = cli(&p, &["send", "freeze", "--key", &key, "--reason", "maintenance", "--print"]).await;
    assert!(ok, "{text}");
    let event: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(event["detail"]["requested_by"], me.as_str(), "{event}");
    assert_eq!(event["detail"]["proof"]["key_id"], key.as_str(), "{event}");
    assert_eq!(
        event["account"].as_str(),
        me.split(':').nth(4),
        "the caller's account, as EventBridge fills it in: {event}"
    );
    let out = api.invoke(&event).await.expect("handled");
    assert_eq!(out["decision"]["decision"], "freeze", "{out}");
    // The same signed command again, in a new event (a replay): one command, acted on once.
    let mut replay = event.clone();
    replay["id"] = uuid::Uuid::new_v4().to_string().into();
    let again = api.invoke(&replay).await.expect("handled");
    assert_eq!(again["duplicate"], true, "{again}");
    // Changed in flight: refused, and the refusal audited.
    let mut altered = event.clone();
    altered["detail"]["reason"] = "mallory was here".into();
    let out = api.invoke(&altered).await.expect("handled");
    assert_eq!(out["decision"]["decision"], "refused", "{out}");
    assert!(out.to_string().contains("does not verify"), "{out}");
    let (_, status, _) = cli(&p, &["status", "--json"]).await;
    assert_eq!(status["frozen"], true);

    let (ok, _, text) = cli(&p, &["send", "unfreeze", "--key", &key, "--print"]).await;
    assert!(ok);
    api.invoke(&serde_json::from_str(&text).unwrap()).await.expect("handled");
    p.set_alarm(SOUTH, "api-5xx", StateValue::Alarm).await;
    p.set_alarm(SOUTH, "api-latency", StateValue::Alarm).await;
    api.invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", Utc::now()))
        .await
        .expect("handled");
    let (_, status, _) = cli(&p, &["status", "--json"]).await;
    assert_eq!(
        (status["drained"][0].as_str(), status["serving"][0].as_str()),
        (Some(SOUTH), Some(NORTH)),
        "{status}"
    );
    let (_, human, text) = cli(&p, &["status"]).await;
    assert!(human.is_null() && text.contains("drained [\"eu-south-1\"]"), "{text}");

    let (ok, audit, _) = cli(&p, &["audit", "--json", "--limit", "10"]).await;
    assert!(ok);
    let decisions: Vec<&str> = audit.as_array().unwrap().iter().map(|r| r["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, ["failover", "unfreeze", "refused", "freeze"], "newest first");

    // Sending to the operator bus through EventBridge.
    aws_sdk_eventbridge_bus(&p).await;
    let (ok, sent, text) = cli(
        &p,
        &[
            "send",
            "failback",
            "--region",
            SOUTH,
            "--key",
            &key,
            "--json",
            "--bus",
            &format!("{}-operator", p.id),
        ],
    )
    .await;
    assert!(ok, "{text}");
    assert!(sent["event_id"].as_str().is_some_and(|id| !id.is_empty()), "{sent}");
    assert_eq!(sent["event"]["detail-type"], "Resilience Failback Command");

    let (ok, _, text) = cli(&p, &["send", "failover", "--region", "Stockholm", "--print"]).await;
    assert!(!ok && text.contains("Stockholm"), "a bad region is named: {text}");
    let (ok, _, text) = cli(
        &p,
        &[
            "send",
            "freeze",
            "--key",
            "arn:aws:kms:eu-north-1:123456789012:key/not-configured",
            "--print",
        ],
    )
    .await;
    assert!(!ok && text.contains("not one of operators.signing_keys"), "{text}");
    let (_, throttled, _) = cli(&p, &["throttled", "--json"]).await;
    assert_eq!(throttled, Value::Array(vec![]));
    let (_, backup, _) = cli(&p, &["backup", "--json"]).await;
    assert_eq!(backup, Value::Null);
}

async fn aws_sdk_eventbridge_bus(p: &Platform) {
    // The bus the infra template creates.
    aws_sdk_eventbridge::Client::new(&resilience_tests::sdk(HOME).await)
        .create_event_bus()
        .name(format!("{}-operator", p.id))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn time_to_shift_models_each_strategy_from_the_configuration_without_aws() {
    let p = Platform::provision(&["health-metric", "control-plane"]).await;
    let (ok, model, text) = cli(&p, &["--json", "time-to-shift"]).await;
    assert!(ok, "{text}");
    let strategies = model["strategies"].as_array().unwrap();
    let names: Vec<&str> = strategies.iter().map(|s| s["strategy"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["health-metric", "control-plane", "routing-control"],
        "configured order first"
    );
    for s in strategies {
        let sum: u64 = s["phases"].as_array().unwrap().iter().map(|p| p["worst"].as_u64().unwrap()).sum();
        assert_eq!(s["worst"].as_u64(), Some(sum), "{s}");
    }
    // A longer TTL lengthens every strategy's worst case by the difference, and nothing else.
    let (_, longer, _) = cli(&p, &["--json", "time-to-shift", "--ttl", "300"]).await;
    for (a, b) in strategies.iter().zip(longer["strategies"].as_array().unwrap()) {
        assert_eq!(b["worst"].as_u64().unwrap() - a["worst"].as_u64().unwrap(), 240);
        assert_eq!(a["best"], b["best"]);
    }
    let (ok, _, human) = cli(&p, &["time-to-shift"]).await;
    assert!(
        ok && human.contains("routing-control (not configured)") && human.contains("TTL"),
        "{human}"
    );
}

/// `resilience audit` lists every function's records, readiness-check's included (the list of
/// functions was once written twice and both copies left it out), and `--function` names
/// refuse a function the suite does not have, listing those it has.
#[tokio::test]
async fn audit_lists_every_functions_records_readiness_check_included() {
    use resilience_core::model::{AuditRecord, DecisionName, Function};
    use resilience_core::store::StateStore;
    let p = Platform::provision(&["control-plane"]).await;
    let store = p.store(aws_sdk_dynamodb::Client::new(&resilience_tests::sdk(HOME).await));
    for f in Function::ALL {
        let record = AuditRecord::new(
            f.as_str(),
            HOME,
            Utc::now(),
            "",
            Value::Null,
            DecisionName::NoAction,
            format!("{f} was here"),
        );
        store.put_audit(&record, Utc::now() + chrono::Duration::days(1)).await.unwrap();
    }
    let (ok, all, text) = cli(&p, &["--json", "audit", "--limit", "50"]).await;
    assert!(ok, "{text}");
    let mut seen: Vec<&str> = all.as_array().unwrap().iter().map(|r| r["function"].as_str().unwrap()).collect();
    seen.sort_unstable();
    let mut every: Vec<&str> = Function::ALL.iter().map(|f| f.as_str()).collect();
    every.sort_unstable();
    assert_eq!(seen, every, "{all:#}");
    let (ok, one, text) = cli(&p, &["--json", "audit", "--function", "readiness-check"]).await;
    assert!(ok, "{text}");
    assert_eq!(one.as_array().unwrap().len(), 1, "{one:#}");
    assert_eq!(one[0]["reason"], "readiness-check was here", "{one:#}");
    let (ok, _, text) = cli(&p, &["audit", "--function", "dns_failover"]).await;
    assert!(
        !ok && text.contains("not a function of the suite") && text.contains("readiness-check"),
        "{text}"
    );
}
