//! backup-verifier end to end: the compiled binary under the Lambda Runtime API against tables
//! with PITR in two regions in the emulator.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_dynamodb::types::{AttributeValue, PointInTimeRecoverySpecification};
use resilience_core::store::StateStore;
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

/// The drill's canaries now in the source table.
async fn canaries(p: &Platform) -> usize {
    source_items(p).await.iter().filter(|i| i.contains("resilience-drill#")).count()
}

fn checks<'a>(out: &'a Value, check: &str) -> Vec<&'a Value> {
    out["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == check)
        .collect()
}

/// A tick of the template's progress schedule (`<platform>-restore-progress-<region>`).
fn progress_tick() -> Value {
    resilience_tests::scheduler_tick(&format!("aworld-restore-progress-{NORTH}"), NORTH)
}

/// The platform keeps writing to the drill's table: the orders change all the time.
struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<usize>,
}

impl Writer {
    async fn start(p: &Platform) -> Writer {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk(NORTH).await);
        let table = format!("{}-orders", p.id);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut n = 0;
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                ddb.put_item()
                    .table_name(&table)
                    .item("id", AttributeValue::S(format!("order-{:04}", n % ORDERS)))
                    .item("amount", AttributeValue::N(format!("{}", 1000 + n)))
                    .send()
                    .await
                    .unwrap();
                n += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            n
        });
        Writer { stop, task }
    }

    async fn stop(self) -> usize {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// Ticks the progress schedule until the drill reports (at most `max` ticks, 400 ms apart);
/// returns each tick's progress note and the last answer.
async fn tick_until_reported(api: &RuntimeApi, max: usize) -> (Vec<String>, Value) {
    let mut notes = Vec::new();
    for _ in 0..max {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let out = api.invoke(&progress_tick()).await.expect("handled");
        notes.push(out["report"]["drill_progress"].as_str().unwrap_or_default().to_owned());
        if !out["report"]["drill"].is_null() {
            return (notes, out);
        }
    }
    panic!("the drill did not finish in {max} ticks: {notes:#?}");
}

/// The drill is true on a live table and never waits inside an invocation: "verify now" runs
/// the checks and starts it (canaries written, restore time fixed after them); the progress
/// schedule's ticks wait for PITR to reach that time (the latency model keeps the latest
/// restorable time 2 s behind), submit the restore to it, see the scratch table CREATING (1.5 s),
/// validate the canaries and clean up — while the platform keeps writing to the table.
#[tokio::test]
async fn a_restore_drill_spans_invocations_restores_to_its_own_time_and_passes_while_writes_continue() {
    let p = Platform::provision(&["control-plane"]).await;
    let (api, _f) = running(&p).await;
    let before = source_items(&p).await;
    assert_eq!(before.len(), ORDERS);
    let writer = Writer::start(&p).await;
    let out = api
        .invoke(&p.command("Resilience Verify Now Command", None))
        .await
        .expect("handled");
    assert_eq!(out["status"], "PASS", "{out:#}");
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
    assert!(out["report"]["drill"].is_null(), "no invocation waits for the restore: {out:#}");
    let started = out["report"]["drill_progress"].as_str().unwrap();
    assert!(
        started.contains("3 canaries written") && started.contains("waiting for point-in-time recovery"),
        "{started}"
    );
    assert_eq!(canaries(&p).await, 3);

    let (notes, out) = tick_until_reported(&api, 40).await;
    let writes = writer.stop().await;
    let drill = &out["report"]["drill"];
    assert_eq!(drill["status"], "PASS", "{drill:#} after {notes:#?}");
    assert_eq!(
        (drill["sampled"].as_u64(), drill["mismatched"].as_u64()),
        (Some(4), Some(0)),
        "3 canaries and the late one"
    );
    let joined = notes.join("\n");
    for phase in ["waiting for point-in-time recovery", "submitted into", "CREATING"] {
        assert!(joined.contains(phase), "a tick saw {phase:?}: {notes:#?}");
    }
    let steps = drill["steps"].as_u64().unwrap();
    assert!(
        steps >= 4,
        "start, wait for PITR, submit, wait for the restore, validate: {steps} steps"
    );
    assert!(drill["pitr_wait_seconds"].as_f64().unwrap() >= 2.0, "{drill}");
    assert!(drill["restore_seconds"].as_f64().unwrap() >= 1.5, "{drill}");
    assert_eq!(drill["cleaned_up"], true);
    // One restore, to the drill's explicit time (never "latest restorable").
    let requests = p.latency.proxy.restore_requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    let point: chrono::DateTime<chrono::Utc> = drill["restore_point"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        requests[0]["RestoreDateTime"].as_f64(),
        Some(point.timestamp_millis() as f64 / 1000.0)
    );
    assert!(requests[0].get("UseLatestRestorableTime").is_none());
    // The table was live throughout, and the drill left it as the platform wrote it.
    assert!(writes > 20, "{writes} writes during the drill");
    assert_ne!(source_items(&p).await, before, "the orders changed during the drill");
    assert_eq!(canaries(&p).await, 0, "the canaries are deleted");
    assert!(
        p.tables_starting(NORTH, &format!("{}-orders-drill-", p.id)).await.is_empty(),
        "scratch table deleted"
    );
    assert!(p.notifications().await.is_empty(), "PASS sends nothing");

    // Nothing in progress: a tick is one read and leaves no audit record.
    let audited = p.audit(FUNCTION).await.len();
    let idle = api.invoke(&progress_tick()).await.expect("handled");
    assert_eq!(idle["why"], "no restore drill in progress", "{idle}");
    assert_eq!(p.audit(FUNCTION).await.len(), audited);

    // The drill schedule's tick (anyone who can invoke can send one) starts no second drill
    // within backup.drill.min_interval_hours of the first: no canary, no restore.
    let again = api
        .invoke(&resilience_tests::scheduler_tick(&format!("aworld-restore-drill-{NORTH}"), NORTH))
        .await
        .expect("handled");
    let why = again["report"]["drill_progress"].as_str().unwrap_or_default();
    assert!(why.contains("no drill started") && why.contains("min_interval_hours"), "{again:#}");
    assert_eq!(canaries(&p).await, 0);
    assert_eq!(p.latency.proxy.restore_requests().len(), 1, "no second restore");
}

/// A drill whose restore outlives `abandon_after_hours` is abandoned: FAIL, notified, and its
/// scratch table and canaries removed all the same. (The latency model keeps this restore
/// CREATING for 10 minutes; the drill's start is moved 25 h back in its state document.)
#[tokio::test]
async fn an_abandoned_drill_fails_is_notified_and_removes_its_scratch_table_and_canaries() {
    let p = Platform::provision(&["control-plane"]).await;
    p.latency.proxy.set_restore_takes(std::time::Duration::from_secs(600));
    let (api, _f) = running(&p).await;
    api.invoke(&p.command("Resilience Verify Now Command", None))
        .await
        .expect("handled");
    let mut seen = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        let out = api.invoke(&progress_tick()).await.expect("handled");
        seen.push(out["report"]["drill_progress"].as_str().unwrap_or_default().to_owned());
        if seen.last().unwrap().contains("CREATING") {
            break;
        }
    }
    assert!(seen.last().unwrap().contains("CREATING"), "{seen:#?}");
    assert_eq!(p.tables_starting(NORTH, &format!("{}-orders-drill-", p.id)).await.len(), 1);

    let ddb = aws_sdk_dynamodb::Client::new(&sdk(NORTH).await);
    let store = resilience_core::store::dynamodb::DynamoStore::new(ddb, p.state_table.clone());
    let name = resilience_core::documents::restore_drill(&format!("{}-orders", p.id), NORTH);
    let stored = store.get_state(&name).await.unwrap().unwrap();
    let mut state = stored.value.clone();
    state["started_at"] = json!((chrono::Utc::now() - chrono::Duration::hours(25)).to_rfc3339());
    store.put_state(&name, &state, stored.version).await.unwrap();

    let out = api.invoke(&progress_tick()).await.expect("handled");
    let drill = &out["report"]["drill"];
    assert_eq!(drill["status"], "FAIL", "{out:#}");
    assert!(drill["detail"].as_str().unwrap().contains("drill abandoned"), "{drill}");
    assert!(drill["detail"].as_str().unwrap().contains("RTO data point is missed"), "{drill}");
    assert_eq!(drill["cleaned_up"], true);
    assert!(p.tables_starting(NORTH, &format!("{}-orders-drill-", p.id)).await.is_empty());
    assert_eq!(canaries(&p).await, 0);
    assert!(store.get_state(&name).await.unwrap().unwrap().value.is_null(), "the drill is over");
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0]["severity"], "critical");
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
