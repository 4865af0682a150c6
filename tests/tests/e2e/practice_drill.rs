//! The practice failover drill end to end: the compiled dns-failover binary under the Lambda
//! Runtime API conducts it (its drill schedule), reacts to the practice trigger alarms' state
//! changes as EventBridge delivers them (the test delivers them: the emulator has no
//! EventBridge), drains and restores the practice name through the latency model (drain alarms
//! evaluated after 600 ms, health checks following them after 400 ms, Route 53's answers from
//! the records and their health), and reports every phase. One test per guard.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use aws_sdk_cloudwatch::types::StateValue;
use resilience_tests::platform::{NORTH, Platform, SOUTH};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use resilience_tests::{scheduler_tick, sdk};
use serde_json::{Value, json};
use std::time::Duration;

async fn drilled(edit: impl FnOnce(&mut Platform)) -> (Platform, RuntimeApi, FunctionProcess) {
    let mut p = Platform::provision(&["health-metric", "control-plane"]).await;
    p.practice_drill().await;
    edit(&mut p);
    let api = RuntimeApi::start().await;
    let f = FunctionProcess::spawn("dns-failover", &api, &p.env());
    (p, api, f)
}

fn trigger(p: &Platform) -> String {
    p.config["failover_drill"]["trigger_alarms"][0].as_str().unwrap().to_owned()
}

/// The drill schedule's tick in eu-north-1 (the region that is not drilled conducts).
async fn conduct(api: &RuntimeApi) -> Value {
    api.invoke(&scheduler_tick("aworld-failover-drill-eu-north-1", NORTH))
        .await
        .expect("handled")
}

async fn alarm_state(alarm: &str, region: &str) -> StateValue {
    aws_sdk_cloudwatch::Client::new(&sdk(region).await)
        .describe_alarms()
        .alarm_names(alarm)
        .send()
        .await
        .unwrap()
        .metric_alarms()[0]
        .state_value()
        .cloned()
        .unwrap()
}

/// The trigger metric's latest value (the drill publishes it in eu-south-1, the drilled region).
async fn trigger_value(p: &Platform) -> Option<f64> {
    let m = &p.config["failover_drill"]["trigger_metric"];
    resilience_tests::latency::latest_drain(
        &aws_sdk_cloudwatch::Client::new(&sdk(SOUTH).await),
        m["namespace"].as_str().unwrap(),
        m["metric_name"].as_str().unwrap(),
        SOUTH,
    )
    .await
    .unwrap()
}

async fn create_alarm(name: &str, region: &str) {
    let cw = aws_sdk_cloudwatch::Client::new(&sdk(region).await);
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace("AWorld/Guards")
        .metric_name(name)
        .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    set(name, region, StateValue::Ok).await;
}

async fn set(name: &str, region: &str, state: StateValue) {
    aws_sdk_cloudwatch::Client::new(&sdk(region).await)
        .set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason("test")
        .send()
        .await
        .unwrap();
}

/// Delivers the trigger alarm's state change once CloudWatch (the latency model) has made it,
/// as EventBridge would.
async fn deliver(p: &Platform, api: &RuntimeApi, state: StateValue) -> Value {
    let event = p.state_change_event_when(&trigger(p), SOUTH, state).await;
    api.invoke(&event).await.expect("handled")
}

/// Production was never touched: no drain published, both production records serving.
async fn production_untouched(p: &Platform) {
    assert_eq!(p.drain_metric(SOUTH).await, None, "no production drain metric");
    for region in [SOUTH, NORTH] {
        assert_eq!(p.record(region).await.weight(), Some(100), "production record of {region}");
    }
}

#[tokio::test]
async fn a_practice_drill_drains_and_restores_the_practice_name_and_times_every_phase_against_the_rto() {
    let (p, api, _f) = drilled(|_| {}).await;
    let started = conduct(&api).await;
    assert_eq!(started["decision"], "drill", "{started:#}");

    let drained = deliver(&p, &api, StateValue::Alarm).await;
    assert_eq!(drained["decision"]["decision"], "failover", "{drained:#}");
    assert!(drained["drill"]["stopped"].is_null(), "{drained:#}");
    let phases: Vec<&str> = drained["drill"]["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        [
            "triggered",
            "delivered",
            "decided",
            "switch applied",
            "switch effective",
            "DNS answer changed"
        ]
    );
    assert_eq!(p.config["failover_drill"]["trigger_alarms"].as_array().unwrap().len(), 2);

    let restored = deliver(&p, &api, StateValue::Ok).await;
    assert_eq!(restored["decision"]["decision"], "failback", "{restored:#}");
    let report = &restored["drill"]["report"];
    println!("{}", restored["drill"]["table"].as_str().unwrap());
    assert_eq!(report["status"], "PASS", "{report:#}");
    assert_eq!(report["restored"], true);
    assert_eq!(report["rows"].as_array().unwrap().len(), 12, "six phases each way");
    let rows = report["rows"].as_array().unwrap();
    let seconds = |leg: &str, phase: &str| {
        rows.iter()
            .find(|r| r["leg"] == leg && r["phase"] == phase)
            .and_then(|r| r["seconds"].as_f64())
            .unwrap()
    };
    for leg in ["failover", "failback"] {
        // Realistic, non-zero durations from the latency model: the drain alarm is evaluated
        // 600 ms after the metric, the health check follows it 400 ms later.
        assert!(
            seconds(leg, "switch effective") - seconds(leg, "switch applied") >= 0.5,
            "{report:#}"
        );
        // The answer follows the health check, which follows the alarm 400 ms later.
        assert!(
            seconds(leg, "DNS answer changed") - seconds(leg, "switch applied") >= 0.9,
            "{report:#}"
        );
        let mut previous = 0.0;
        for phase in ["delivered", "decided", "switch applied", "switch effective", "DNS answer changed"] {
            let s = seconds(leg, phase);
            assert!(s >= previous, "{leg} {phase} at {s} s is before the previous phase at {previous} s");
            previous = s;
        }
    }
    let rto = report["rto_seconds"].as_f64().unwrap();
    assert!((1.0..60.0).contains(&rto), "RTO {rto} s");
    assert_eq!(rto, seconds("failover", "DNS answer changed"));

    production_untouched(&p).await;
    assert!(p.notifications().await.is_empty(), "a drill that met its target notifies nobody");
    let audit = p.audit("dns-failover").await;
    assert!(
        audit
            .iter()
            .any(|r| r.decision.as_str() == "drill" && r.reason.contains(": Pass: ")),
        "the report is audited"
    );
    // The trend: the run is in the region's drill history.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(NORTH).await);
    let store = resilience_core::store::dynamodb::DynamoStore::new(ddb, p.state_table.clone());
    use resilience_core::store::StateStore;
    let history = store
        .get_state(&resilience_core::documents::drill_history(&NORTH.parse().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(history.value[0]["kind"], "failover", "{}", history.value);
    assert_eq!(history.value[0]["figure"].as_f64(), Some(rto));

    // The on-call engineer's view: `resilience drills --timeline FILE` prints the phase table
    // and draws the timeline of the last run.
    let svg = std::env::temp_dir().join(format!("{}-timeline.svg", p.id));
    let cli = tokio::process::Command::new(resilience_tests::runtime::binary("resilience"))
        .args(["drills", "--timeline", svg.to_str().unwrap()])
        .env("RESILIENCE_CONFIG", p.config.to_string())
        .env("AWS_REGION", NORTH)
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    assert!(out.contains("failover") && out.contains("DNS answer changed"), "{out}");
    assert!(out.contains(&format!("RTO {rto:.1} s")), "{out}");
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(picture.matches("<rect x=").count(), 12, "a bar per phase");
    std::fs::remove_file(svg).ok();
}

/// The kill switch: the drill does not start (audited refusal), no alarm is touched.
#[tokio::test]
async fn the_kill_switch_refuses_the_drill() {
    let (p, api, _f) = drilled(|p| p.config["kill_switch"] = json!(true)).await;
    let out = conduct(&api).await;
    assert_eq!(out["decision"], "refused", "{out:#}");
    assert!(out["why"].as_str().unwrap().contains("kill switch"), "{out:#}");
    assert_eq!(trigger_value(&p).await, None, "the trigger is not pulled");
}

/// A blocked window (UTC, zonal autoshift's format) covering now: no drill.
#[tokio::test]
async fn a_blocked_window_refuses_the_drill() {
    let (p, api, _f) = drilled(|p| p.config["failover_drill"]["blocked_windows"] = json!(["Mon:00:00-Sun:23:59"])).await;
    let out = conduct(&api).await;
    assert_eq!(out["decision"], "refused", "{out:#}");
    assert!(
        out["why"].as_str().unwrap().contains("blocked window Mon:00:00-Sun:23:59"),
        "{out:#}"
    );
    assert_eq!(trigger_value(&p).await, None, "the trigger is not pulled");
}

/// A blocked date (UTC): today, no drill.
#[tokio::test]
async fn a_blocked_date_refuses_the_drill() {
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let (p, api, _f) = drilled(|p| p.config["failover_drill"]["blocked_dates"] = json!([today.clone()])).await;
    let out = conduct(&api).await;
    assert_eq!(out["decision"], "refused", "{out:#}");
    assert!(out["why"].as_str().unwrap().contains(&format!("blocked date {today}")), "{out:#}");
    assert_eq!(trigger_value(&p).await, None, "the trigger is not pulled");
}

/// A real incident: a production health alarm in ALARM (one, below the quorum) is enough.
#[tokio::test]
async fn a_real_incident_refuses_the_drill() {
    let (p, api, _f) = drilled(|_| {}).await;
    p.set_alarm(NORTH, "api-5xx", StateValue::Alarm).await;
    let out = conduct(&api).await;
    assert_eq!(out["decision"], "refused", "{out:#}");
    assert!(out["why"].as_str().unwrap().contains("a real incident"), "{out:#}");
    assert!(out["why"].as_str().unwrap().contains("api-5xx"), "{out:#}");
    assert_eq!(trigger_value(&p).await, None, "the trigger is not pulled");
}

/// A guard alarm that fires once the practice name is drained stops the run there: the trigger
/// alarms go back to OK at once, the failback restores the practice name, and the report
/// names the guard (FAIL, notified as a warning: restored).
async fn stopped_mid_run_by(kind: &str) {
    let guard = format!("guard-{}", uuid::Uuid::new_v4().simple());
    create_alarm(&guard, NORTH).await;
    let (p, api, _f) = drilled(|p| {
        p.config["failover_drill"][kind] = json!([guard.clone()]);
        // The region stays out 3 s: the guard fires meanwhile.
        p.config["failover_drill"]["hold_seconds"] = json!(3);
    })
    .await;
    assert_eq!(conduct(&api).await["decision"], "drill");
    // The guard fires as soon as the practice drain is effective (its drain alarm in ALARM).
    let drain_alarm = format!("{}-drill-drained-{SOUTH}", p.id);
    let watcher = {
        let guard = guard.clone();
        tokio::spawn(async move {
            for _ in 0..200 {
                if alarm_state(&drain_alarm, NORTH).await == StateValue::Alarm {
                    set(&guard, NORTH, StateValue::Alarm).await;
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        })
    };
    let drained = deliver(&p, &api, StateValue::Alarm).await;
    assert!(watcher.await.unwrap(), "the practice name was drained");
    assert_eq!(drained["decision"]["decision"], "failover", "{drained:#}");
    let stopped = drained["drill"]["stopped"].to_string();
    assert!(stopped.contains(&guard), "{drained:#}");
    assert_eq!(trigger_value(&p).await, Some(0.0), "the trigger released at once");

    let restored = deliver(&p, &api, StateValue::Ok).await;
    assert_eq!(restored["decision"]["decision"], "failback", "{restored:#}");
    let report = &restored["drill"]["report"];
    assert_eq!(report["status"], "FAIL", "{report:#}");
    assert_eq!(report["restored"], true, "{report:#}");
    assert!(report["summary"].as_str().unwrap().contains(&guard), "{report:#}");
    production_untouched(&p).await;
    let notes = p.notifications().await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0]["severity"], "warning");
}

#[tokio::test]
async fn a_blocking_alarm_stops_the_drill_and_the_practice_name_is_restored() {
    stopped_mid_run_by("blocking_alarms").await;
}

#[tokio::test]
async fn the_outcome_alarm_stops_the_drill_and_the_practice_name_is_restored() {
    stopped_mid_run_by("outcome_alarms").await;
}

/// A run that never finished (its ALARM delivery lost, or its invocation stopped mid-run) does
/// not block the drill for ever, nor leave the practice name drained: once stale, the next
/// schedule sets the trigger alarms back to OK (whose delivery fails the practice name back)
/// and drops the run; the schedule after that starts a new one.
#[tokio::test]
async fn a_run_that_never_finished_is_cleared_and_the_next_schedule_starts_a_new_one() {
    use resilience_core::store::StateStore;
    let (p, api, _f) = drilled(|_| {}).await;
    assert_eq!(conduct(&api).await["decision"], "drill");
    // Its ALARM is never delivered. While the run is recent, the next schedule refuses.
    let again = conduct(&api).await;
    assert!(again["why"].as_str().unwrap().contains("in progress"), "{again:#}");
    // Two hours later it is stale.
    let store = resilience_core::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk(NORTH).await), p.state_table.clone());
    let record = p.config["failover_drill"]["record_name"].as_str().unwrap();
    let name = resilience_core::documents::practice_run(record);
    let stored = store.get_state(&name).await.unwrap().unwrap();
    let mut run = stored.value.clone();
    run["started_at"] = json!((chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339());
    store.put_state(&name, &run, stored.version).await.unwrap();
    let cleared = conduct(&api).await;
    assert_eq!(cleared["decision"], "refused", "{cleared:#}");
    assert!(cleared["why"].as_str().unwrap().contains("never finished"), "{cleared:#}");
    assert_eq!(trigger_value(&p).await, Some(0.0), "trigger released");
    assert!(store.get_state(&name).await.unwrap().unwrap().value.is_null(), "run dropped");
    let fresh = conduct(&api).await;
    assert_eq!(fresh["decision"], "drill", "{fresh:#}");
    assert_eq!(trigger_value(&p).await, Some(1.0), "pulled again");
}

/// The drill's legs and times come from CloudWatch, not from the event: a delivered state the
/// trigger alarm is not in (replayed, or forged by whoever can reach the function) moves the
/// run nowhere; the real delivery then runs the drill as usual.
#[tokio::test]
async fn a_delivered_state_the_trigger_is_not_in_moves_the_drill_nowhere() {
    use resilience_core::store::StateStore;
    let (p, api, _f) = drilled(|_| {}).await;
    assert_eq!(conduct(&api).await["decision"], "drill");
    for _ in 0..100 {
        if alarm_state(&trigger(&p), SOUTH).await == StateValue::Alarm {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let forged = resilience_tests::alarm_event(&trigger(&p), SOUTH, "OK", chrono::Utc::now());
    let out = api.invoke(&forged).await.expect("handled");
    assert_eq!(out["decision"], "no-action", "{out:#}");
    assert!(out["why"].as_str().unwrap().contains("not as delivered"), "{out:#}");
    let store = resilience_core::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk(NORTH).await), p.state_table.clone());
    let name = resilience_core::documents::practice_run(p.config["failover_drill"]["record_name"].as_str().unwrap());
    let run = store.get_state(&name).await.unwrap().unwrap().value;
    assert_eq!(run["step"], "triggered", "{run}");
    assert_eq!(run["marks"], json!([]), "{run}");
    // The real state change runs the drill; its trigger time is the alarm's, from CloudWatch.
    let drained = deliver(&p, &api, StateValue::Alarm).await;
    assert_eq!(drained["decision"]["decision"], "failover", "{drained:#}");
    assert!(drained["drill"]["stopped"].is_null(), "{drained:#}");
    assert_eq!(drained["drill"]["step"], "failing-back", "{drained:#}");
}

/// A practice drill's run document that does not decode is reported, never taken as "no run":
/// the schedule refuses to start a drill on top of it, naming the document, and audits that.
#[tokio::test]
async fn an_unreadable_run_document_is_reported_and_no_drill_starts_on_top_of_it() {
    use resilience_core::store::StateStore;
    let (p, api, _f) = drilled(|_| {}).await;
    let store = resilience_core::store::dynamodb::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk(NORTH).await), p.state_table.clone());
    let name = resilience_core::documents::practice_run(p.config["failover_drill"]["record_name"].as_str().unwrap());
    store.put_state(&name, &json!({ "not": "a run" }), 0).await.unwrap();
    let refused = conduct(&api).await;
    assert_eq!(refused["decision"], "refused", "{refused:#}");
    let why = refused["why"].as_str().unwrap();
    assert!(why.contains(&name) && why.contains("unreadable"), "{why}");
    assert_eq!(trigger_value(&p).await, None, "the trigger was never pulled");
    assert_eq!(
        store.get_state(&name).await.unwrap().unwrap().value,
        json!({ "not": "a run" }),
        "left for a person to repair"
    );
}

/// A drill of the production record itself: its trigger moves production, so outside a recorded
/// run it moves nothing. An insider publishes the trigger metric (anyone with PutMetricData
/// can); CloudWatch (the latency model) puts the trigger alarms in ALARM; the delivered change
/// is refused and audited, and production is untouched.
#[tokio::test]
async fn outside_a_run_the_trigger_of_a_production_record_drill_never_moves_production() {
    let (p, api, _f) = drilled(|p| {
        p.config["failover_drill"]["use_production_record"] = json!(true);
        p.config["failover_drill"]["record_name"] = p.config["dns"]["record_name"].clone();
    })
    .await;
    let m = &p.config["failover_drill"]["trigger_metric"];
    aws_sdk_cloudwatch::Client::new(&sdk(SOUTH).await)
        .put_metric_data()
        .namespace(m["namespace"].as_str().unwrap())
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name(m["metric_name"].as_str().unwrap())
                .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("Region").value(SOUTH).build())
                .value(1.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = deliver(&p, &api, StateValue::Alarm).await;
    assert_eq!(out["decision"], "refused", "{out:#}");
    assert!(out["why"].as_str().unwrap().contains("never moves production"), "{out:#}");
    production_untouched(&p).await;
    let audited = p.audit("dns-failover").await;
    assert!(
        audited.iter().any(|r| r.reason.contains("never moves production")),
        "refused and audited: {audited:?}"
    );
}

/// The practice failback race: CloudWatch evaluates each trigger alarm on its own, so their OKs
/// come apart. In both orders, the second three seconds late, the drill fails back only once
/// every trigger is OK and ends measured and restored. `first_late`: the lead trigger (whose
/// state changes drive the run) is the late one.
async fn fails_back_measured_whichever_trigger_ok_comes_late(lead_late: bool) {
    let late = std::time::Duration::from_secs(3);
    let on_time = std::time::Duration::from_millis(600);
    let mut p = Platform::provision(&["health-metric", "control-plane"]).await;
    p.practice_drill_with_trigger_ok_delays(if lead_late { [late, on_time] } else { [on_time, late] })
        .await;
    let api = RuntimeApi::start().await;
    let _f = FunctionProcess::spawn("dns-failover", &api, &p.env());
    assert_eq!(conduct(&api).await["decision"], "drill");
    let drained = deliver(&p, &api, StateValue::Alarm).await;
    assert_eq!(drained["decision"]["decision"], "failover", "{drained:#}");
    let triggers: Vec<String> = p.config["failover_drill"]["trigger_alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    if lead_late {
        // The other trigger's OK arrives first: it drives nothing.
        let event = p.state_change_event_when(&triggers[1], SOUTH, StateValue::Ok).await;
        let early = api.invoke(&event).await.expect("handled");
        assert!(early.to_string().contains("follows"), "{early:#}");
        assert_eq!(
            alarm_state(&triggers[0], SOUTH).await,
            StateValue::Alarm,
            "the lead is still in ALARM"
        );
    } else {
        // The lead's OK arrives while the other trigger is still in ALARM.
        let event = p.state_change_event_when(&triggers[0], SOUTH, StateValue::Ok).await;
        assert_eq!(
            alarm_state(&triggers[1], SOUTH).await,
            StateValue::Alarm,
            "the other is still in ALARM"
        );
        let restored = api.invoke(&event).await.expect("handled");
        assert_eq!(restored["decision"]["decision"], "failback", "{restored:#}");
        assert_eq!(restored["drill"]["report"]["restored"], true, "{restored:#}");
        assert_eq!(restored["drill"]["report"]["status"], "PASS", "{restored:#}");
        return;
    }
    let restored = deliver(&p, &api, StateValue::Ok).await;
    assert_eq!(restored["decision"]["decision"], "failback", "{restored:#}");
    assert_eq!(restored["drill"]["report"]["restored"], true, "{restored:#}");
    assert_eq!(restored["drill"]["report"]["status"], "PASS", "{restored:#}");
}

#[tokio::test]
async fn the_lead_trigger_ok_first_and_the_other_late_fails_back_measured() {
    fails_back_measured_whichever_trigger_ok_comes_late(false).await;
}

#[tokio::test]
async fn the_other_trigger_ok_first_and_the_lead_late_fails_back_measured() {
    fails_back_measured_whichever_trigger_ok_comes_late(true).await;
}
