//! backup-verifier end to end: the compiled binary under the Lambda Runtime API against tables
//! with PITR in two regions in the emulator.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_dynamodb::types::PointInTimeRecoverySpecification;
use resilience_tests::platform::{NORTH, ORDERS, Platform, SOUTH};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use resilience_tests::{fixture, sdk};
use serde_json::{Value, json};

const FUNCTION: &str = "backup-verifier";

async fn running(p: &Platform) -> (RuntimeApi, FunctionProcess) {
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn(FUNCTION, &api, &p.env());
    (api, f)
}

/// Every item of the drill's source table, as comparable text.
async fn source_items(p: &Platform) -> Vec<String> {
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(NORTH).await);
    let out = ddb
        .scan()
        .table_name(format!("{}-orders", p.id))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let mut items: Vec<String> = out
        .items()
        .iter()
        .map(|i| format!("{:?}", i.iter().collect::<std::collections::BTreeMap<_, _>>()))
        .collect();
    items.sort();
    items
}

fn checks<'a>(out: &'a Value, check: &str) -> Vec<&'a Value> {
    out["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == check)
        .collect()
}

#[tokio::test]
async fn verify_now_passes_every_check_and_the_drill_restores_validates_and_cleans_up() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _f) = running(&p).await;
    let source_before = source_items(&p).await;
    let out = api
        .invoke(&p.command("Resilience Verify Now Command", None))
        .await
        .expect("handled");
    assert_eq!(out["status"], "PASS", "{out:#}");
    assert_eq!(source_before.len(), ORDERS);
    assert_eq!(source_items(&p).await, source_before, "the source table is only read");
    // 2 tables x 2 regions: PITR, window and RPO measured everywhere.
    assert_eq!(checks(&out, "pitr").len(), 4);
    assert!(
        checks(&out, "rpo")
            .iter()
            .all(|c| c["status"] == "PASS" && c["figure"].as_f64().unwrap() < 3600.0)
    );
    assert!(
        checks(&out, "replicas").iter().all(|c| c["status"] == "SKIP"),
        "global tables are not simulated: said, not passed"
    );
    let drill = &out["report"]["drill"];
    assert_eq!(
        (drill["status"].as_str(), drill["sampled"].as_u64(), drill["mismatched"].as_u64()),
        (Some("PASS"), Some(ORDERS as u64), Some(0)),
        "{drill:#}"
    );
    assert_eq!(drill["restored_checksum"], drill["source_checksum"]);
    // The latency model keeps the restored table CREATING for 1.5 s: the drill waited for it.
    let restore = drill["restore_seconds"].as_f64().unwrap();
    assert!(restore >= 1.5, "restore_seconds {restore}: the drill must wait for ACTIVE");
    assert_eq!(drill["cleaned_up"], true);
    assert!(
        p.tables_starting(NORTH, &format!("{}-orders-drill-", p.id)).await.is_empty(),
        "scratch table deleted"
    );
    assert!(p.notifications().await.is_empty(), "PASS sends nothing");
}

#[tokio::test]
async fn pitr_off_in_one_region_fails_that_check_only_and_is_notified() {
    let p = Platform::provision(&["control-plane"]).await;
    aws_sdk_dynamodb::Client::new(&sdk(SOUTH).await)
        .update_continuous_backups()
        .table_name(format!("{}-users", p.id))
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let (api, _f) = running(&p).await;
    let out = api.invoke(&fixture("scheduled-rule.json")).await.expect("handled");
    assert_eq!(out["status"], "FAIL", "{out:#}");
    let failed: Vec<&Value> = out["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "FAIL")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(
        (failed[0]["table"].as_str(), failed[0]["region"].as_str()),
        (Some(format!("{}-users", p.id).as_str()), Some(SOUTH))
    );
    assert!(out["report"]["drill"].is_null(), "the frequent schedule runs no drill");
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["severity"], "critical");
}

#[tokio::test]
async fn a_missing_table_is_reported_and_the_other_checks_still_run() {
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["protected_tables"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("{}-gone", p.id)));
    let (api, _f) = running(&p).await;
    let out = api.invoke(&fixture("scheduled-rule.json")).await.expect("handled");
    assert_eq!(out["status"], "FAIL");
    let missing: Vec<&Value> = checks(&out, "table");
    assert_eq!(missing.len(), 2, "one per region");
    assert!(missing[0]["detail"].as_str().unwrap().contains("table not found"), "{missing:#?}");
    assert_eq!(checks(&out, "rpo").len(), 4, "the existing tables are still checked");
}

#[tokio::test]
async fn a_duplicate_schedule_delivery_runs_nothing_twice() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _f) = running(&p).await;
    let tick = fixture("scheduler-schedule.json");
    let mut tick = tick.clone();
    tick["id"] = json!(uuid::Uuid::new_v4().to_string());
    api.invoke(&tick).await.expect("handled");
    let again = api.invoke(&tick).await.expect("handled");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(p.audit(FUNCTION).await.len(), 1);
}

/// The RPO probe measures the replication lag of each region pair with canary items: here the
/// replication is the test bed's replicator with a 300 ms lag, then stopped (a stalled
/// replication), which the next run reports as a FAIL naming the RPO it implies.
#[tokio::test]
async fn the_rpo_probe_measures_the_lag_of_each_region_pair_and_fails_a_stalled_replication() {
    let mut p = Platform::provision(&["control-plane"]).await;
    resilience_tests::create_state_table(&aws_sdk_dynamodb::Client::new(&sdk(SOUTH).await), &p.state_table).await;
    p.config["backup"]["rpo_probe"] = json!({ "samples": 5, "timeout_seconds": 3 });
    let replicator =
        resilience_tests::replicator::Replicator::start(&p.state_table, &[SOUTH, NORTH], std::time::Duration::from_millis(300)).await;
    let (api, _f) = running(&p).await;
    let lag = |out: &Value| -> Value {
        out["report"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "replication-lag")
            .cloned()
            .unwrap_or_else(|| panic!("no replication-lag check: {out:#}"))
    };
    let out = api.invoke(&fixture("scheduled-rule.json")).await.expect("handled");
    let measured = lag(&out);
    assert_eq!(measured["region"], format!("{NORTH}->{SOUTH}"), "{measured}");
    assert_eq!(measured["status"], "PASS", "{measured}");
    let p99 = measured["figure"].as_f64().unwrap();
    assert!(
        (300.0..3000.0).contains(&p99),
        "p99 {p99} ms, the replicator's lag is 300 ms: {measured}"
    );
    assert!(measured["detail"].as_str().unwrap().contains("over 5 canaries"), "{measured}");

    drop(replicator);
    let mut tick = fixture("scheduled-rule.json");
    tick["id"] = json!(uuid::Uuid::new_v4().to_string());
    let out = api.invoke(&tick).await.expect("handled");
    let stalled = lag(&out);
    assert_eq!(stalled["status"], "FAIL", "{stalled}");
    assert!(
        stalled["detail"]
            .as_str()
            .unwrap()
            .contains("replication stalled, RPO at least 3 s"),
        "{stalled}"
    );
    assert_eq!(out["status"], "FAIL");

    // Both runs are in the region's drill history; `resilience drills` lists them and draws
    // the trend.
    let svg = std::env::temp_dir().join(format!("{}-drills.svg", p.id));
    let cli = tokio::process::Command::new(resilience_tests::runtime::binary("resilience"))
        .args(["--json", "drills", "--svg", svg.to_str().unwrap()])
        .env("RESILIENCE_CONFIG", p.config.to_string())
        .env("AWS_REGION", NORTH)
        .output()
        .await
        .unwrap();
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    let listed: Vec<Value> = serde_json::from_slice(&cli.stdout).unwrap();
    let statuses: Vec<&str> = listed.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["PASS", "FAIL"], "{listed:#?}");
    assert!(
        listed
            .iter()
            .all(|r| r["kind"] == "rpo-probe" && r["subject"] == format!("{NORTH}->{SOUTH}"))
    );
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(picture.matches("<circle").count(), 2, "one dot per run");
    std::fs::remove_file(svg).ok();
}
