//! Whole-process benchmarks on the local emulator (`make bench`, release binaries):
//! - AWS API calls per reaction of every function, by operation, counted by the proxy of
//!   `resilience_tests::faults` with faults off; items per throttle-table write for a burst;
//! - the dns-failover reaction, cold (process start → answer) and warm, against the same AWS
//!   calls made directly in sequence with the SDK by this program;
//! - the peak RSS of the dns-failover process after a failover.
//!
//! Medians over `runs` samples, interleaved. Writes `<target dir>/reaction.json` for bench-report.py.
//! Usage (under scripts/with-moto.sh): `reaction [runs]`

use aws_sdk_cloudwatch::types::{Dimension, MetricDataQuery, MetricDatum, MetricStat, StateValue};
use aws_sdk_dynamodb::types::AttributeValue;
use jsonwebtoken::Algorithm;
use resilience_core::evidence::notify::{Notifier, SnsNotifier};
use resilience_core::model::{Notification, Severity};
use resilience_tests::faults::FaultProxy;
use resilience_tests::platform::{NORTH, Platform, SOUTH};
use resilience_tests::runtime::{FunctionProcess, RuntimeApi};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A release binary beside this one (`make bench` builds the functions in the same profile).
fn release(name: &str) -> PathBuf {
    resilience_tests::runtime::profile_dir().join(name)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn spawn(name: &str, api: &RuntimeApi, p: &Platform, endpoint: &str) -> FunctionProcess {
    let mut env = p.env();
    env.push(("AWS_ENDPOINT_URL", endpoint.to_owned()));
    FunctionProcess::spawn_path(&release(name), api, &env)
}

/// The calls `event` costs `function`, by operation (a fresh process, faults off).
async fn calls(function: &str, p: &Platform, events: &[Value]) -> (BTreeMap<String, usize>, Vec<Value>) {
    let proxy = FaultProxy::start(&resilience_tests::endpoint(), 0.0, 1, Duration::from_secs(4)).await;
    let api = RuntimeApi::start().await;
    let _f = spawn(function, &api, p, &proxy.url());
    let mut answers = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if i + 1 == events.len() {
            proxy.reset_calls();
        }
        answers.push(api.invoke(e).await.unwrap_or_else(|e| e));
    }
    if std::env::var("REACTION_VERBOSE").is_ok() {
        for c in proxy.calls().iter().filter(|c| c.upstream_ms > 500.0) {
            eprintln!("  slow: {}:{} {:.0} ms", c.service, c.operation, c.upstream_ms);
        }
    }
    (proxy.forwarded_by_operation(), answers)
}

fn total(m: &BTreeMap<String, usize>) -> usize {
    m.values().sum()
}

async fn failing(p: &Platform) {
    p.set_alarm(SOUTH, "api-5xx", StateValue::Alarm).await;
    p.set_alarm(SOUTH, "api-latency", StateValue::Alarm).await;
}

/// A platform for the timed reaction: data-plane strategy, no capacity resources (the direct
/// program makes the failover's own calls; capacity is counted separately above).
async fn timed_platform() -> Platform {
    let mut p = Platform::provision(&["health-metric"]).await;
    p.config["capacity"]["resources"] = json!([]);
    // moto's GetMetricData matches other namespaces' datapoints of the same metric name: a
    // name of its own per platform keeps earlier samples' drains out of this one.
    p.config["dns"]["health_metric"]["metric_name"] = json!(format!("RegionDrained-{}", p.id));
    failing(&p).await;
    // moto spends ~40 ms on the first publish to a new topic (an emulator artefact): spend it
    // here, so neither the function nor the direct calls pay it.
    let sns = aws_sdk_sns::Client::new(&resilience_tests::sdk(NORTH).await);
    for topic in p.config["notifications"]["topics"].as_object().into_iter().flat_map(|m| m.values()) {
        let region = topic.as_str().unwrap_or_default().split(':').nth(3).unwrap_or(NORTH).to_owned();
        let client = if region == NORTH {
            sns.clone()
        } else {
            aws_sdk_sns::Client::new(&resilience_tests::sdk(SOUTH).await)
        };
        client
            .publish()
            .topic_arn(topic.as_str().unwrap_or_default())
            .message("warm-up")
            .send()
            .await
            .expect("warm-up publish");
    }
    p
}

/// The dns-failover reaction's calls made directly, in the function's order.
async fn direct(p: &Platform, clients: &Direct) -> f64 {
    let started = Instant::now();
    let (ddb, table) = (&clients.ddb, &p.state_table);
    let key = uuid::Uuid::new_v4().to_string();
    let item = |pk: &str, sk: &str| {
        [
            ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
            ("body".to_owned(), AttributeValue::S("{}".into())),
        ]
        .into_iter()
        .collect::<std::collections::HashMap<_, _>>()
    };
    let put = |pk: String| ddb.put_item().table_name(table).set_item(Some(item(&pk, "x")));
    put(format!("key#{key}"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("claim");
    put(format!("lease#{key}"))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect("lease");
    ddb.get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("state#{key}")))
        .key("sk", AttributeValue::S("x".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("state");
    for (cw, region) in [(&clients.cw_south, SOUTH), (&clients.cw_north, NORTH)] {
        let names: Vec<String> = resilience_tests::platform::HEALTH_ALARMS
            .iter()
            .map(|b| p.alarm_name(b, region))
            .collect();
        cw.describe_alarms().set_alarm_names(Some(names)).send().await.expect("alarms");
    }
    let ns = p.config["dns"]["health_metric"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let metric = p.config["dns"]["health_metric"]["metric_name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let dim = Dimension::builder().name("Region").value(SOUTH).build();
    let now = aws_smithy_types::DateTime::from_secs(chrono::Utc::now().timestamp());
    let query = MetricDataQuery::builder()
        .id("d")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    aws_sdk_cloudwatch::types::Metric::builder()
                        .namespace(&ns)
                        .metric_name(&metric)
                        .dimensions(dim.clone())
                        .build(),
                )
                .period(1)
                .stat("Maximum")
                .build(),
        )
        .build();
    let past = aws_smithy_types::DateTime::from_secs(chrono::Utc::now().timestamp() - 300);
    clients
        .cw_north
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(past)
        .end_time(now)
        .send()
        .await
        .expect("read");
    clients
        .cw_north
        .put_metric_data()
        .namespace(&ns)
        .metric_data(
            MetricDatum::builder()
                .metric_name(&metric)
                .dimensions(dim)
                .value(1.0)
                .storage_resolution(1)
                .build(),
        )
        .send()
        .await
        .expect("drain");
    put(format!("audit#{key}")).send().await.expect("audit");
    put(format!("state#{key}")).send().await.expect("state");
    // The same message the function sends (both forms, attributes), through the same notifier.
    let notifier = SnsNotifier::new(
        clients.sns.clone(),
        p.config["notifications"]["topics"][NORTH].as_str().unwrap_or_default(),
    );
    let note = Notification {
        severity: Severity::Critical,
        function: "dns-failover".into(),
        region: NORTH.parse().expect("region"),
        subject: format!("Failover: {SOUTH} drained from {}", p.record_name),
        summary: "What failed: 2 of 3 health signals failing (quorum 2).\nWhat was done: drained.\nWhat to check: capacity.\nHow to fail back: send a failback command.".into(),
        body: json!({ "decision": { "decision": "failover", "drain": SOUTH, "target": NORTH }, "audit_id": key }),
    };
    notifier.notify(&note).await.expect("publish");
    put(format!("state#{key}")).send().await.expect("outbox");
    ddb.delete_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("lease#{key}")))
        .key("sk", AttributeValue::S("x".into()))
        .send()
        .await
        .expect("release");
    ddb.update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("key#{key}")))
        .key("sk", AttributeValue::S("x".into()))
        .update_expression("SET body = :b")
        .expression_attribute_values(":b", AttributeValue::S("done".into()))
        .send()
        .await
        .expect("complete");
    started.elapsed().as_secs_f64() * 1000.0
}

struct Direct {
    ddb: aws_sdk_dynamodb::Client,
    cw_south: aws_sdk_cloudwatch::Client,
    cw_north: aws_sdk_cloudwatch::Client,
    sns: aws_sdk_sns::Client,
}

impl Direct {
    async fn new(endpoint: Option<String>) -> Self {
        let config = |region: &'static str| {
            let endpoint = endpoint.clone();
            async move {
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).region(aws_config::Region::new(region));
                if let Some(url) = endpoint {
                    loader = loader.endpoint_url(url);
                }
                loader.load().await
            }
        };
        let north = config(NORTH).await;
        Direct {
            ddb: aws_sdk_dynamodb::Client::new(&north),
            cw_south: aws_sdk_cloudwatch::Client::new(&config(SOUTH).await),
            cw_north: aws_sdk_cloudwatch::Client::new(&north),
            sns: aws_sdk_sns::Client::new(&north),
        }
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let endpoint = resilience_tests::endpoint();
    let mut report = json!({});

    // 1. API calls per reaction, by operation.
    let mut per_function = Vec::new();
    let p = Platform::provision(&["control-plane"]).await;
    failing(&p).await;
    let alarm = p.alarm_event("api-5xx", SOUTH, "ALARM", chrono::Utc::now());
    let (ops, _) = calls("dns-failover", &p, std::slice::from_ref(&alarm)).await;
    per_function.push(("dns-failover: failover (control plane, 3 capacity resources)", ops));
    let (ops, _) = calls("dns-failover", &p, &[alarm.clone(), alarm.clone()]).await;
    per_function.push(("dns-failover: duplicate delivery", ops));
    let p = Platform::provision(&["health-metric"]).await;
    failing(&p).await;
    let mut no_capacity = p;
    no_capacity.config["capacity"]["resources"] = json!([]);
    let (ops, _) = calls(
        "dns-failover",
        &no_capacity,
        &[no_capacity.alarm_event("api-5xx", SOUTH, "ALARM", chrono::Utc::now())],
    )
    .await;
    per_function.push(("dns-failover: failover (data plane, no capacity)", ops));
    let p = Platform::provision(&["control-plane"]).await;
    let (ops, _) = calls("capacity-scaler", &p, &[p.command("Resilience Failover Command", Some(NORTH))]).await;
    per_function.push(("capacity-scaler: failover intent (3 resources)", ops));
    let (ops, _) = calls("backup-verifier", &p, &[p.command("Resilience Verify Now Command", None)]).await;
    per_function.push(("backup-verifier: verify now + restore drill (2 tables x 2 regions)", ops));
    let (ops, _) = calls("user-throttle", &p, &[p.suspicious("user#bench-1")]).await;
    per_function.push(("user-throttle: one detector event", ops));
    let mut p = p;
    // A burst of new principals above the default ceiling (50 a minute) would stop at the ceiling.
    p.config["throttle"]["max_new_per_minute"] = json!(5000);
    let bodies: Vec<Value> = (0..1000).map(|i| p.suspicious(&format!("user#burst-{i}"))).collect();
    let (burst, answers) = calls("user-throttle", &p, &[p.sqs_batch(&bodies)]).await;
    let writes = &answers[0]["writes"];
    if std::env::var("REACTION_VERBOSE").is_ok() {
        let results = answers[0]["results"].as_array().cloned().unwrap_or_default();
        let odd: Vec<&Value> = results.iter().filter(|r| r["decision"] != "throttle").take(3).collect();
        eprintln!(
            "burst: {} results, unusual: {odd:?}, failures {}",
            results.len(),
            answers[0]["batchItemFailures"]
        );
    }
    let burst_items_per_write = writes["items"].as_f64().unwrap_or(0.0) / writes["calls"].as_f64().unwrap_or(1.0).max(1.0);
    // A burst that wrote nothing, or failed records, is a failed benchmark, not a figure.
    let failures = answers[0]["batchItemFailures"].as_array().map_or(usize::MAX, Vec::len);
    if writes["items"].as_u64() != Some(1000) || failures != 0 {
        eprintln!(
            "FAILED: the burst of 1,000 detector events wrote {} throttle items with {failures} failed records ({writes})",
            writes["items"]
        );
        std::process::exit(1);
    }
    per_function.push(("user-throttle: SQS batch of 1,000 detector events", burst.clone()));
    let keys = resilience_tests::jwt::generate();
    let mut p = Platform::provision(&["control-plane"]).await;
    p.config["auth"] = json!({ "issuer": resilience_tests::jwt::ISSUER, "audience": resilience_tests::jwt::AUDIENCE, "jwks": keys.jwks, "default_usage_plan_key": "aworldUsagePlanDefault0001", "cache_seconds": 60 });
    let token = resilience_tests::jwt::sign(&keys.rsa, Algorithm::RS256, "rsa-1", &resilience_tests::jwt::claims("u-1", 300));
    let request = json!({ "type": "TOKEN", "authorizationToken": format!("Bearer {token}"), "methodArn": "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/GET/orders" });
    let (ops, _) = calls("access-authorizer", &p, std::slice::from_ref(&request)).await;
    per_function.push(("access-authorizer: request, cache miss", ops));
    let (ops, _) = calls("access-authorizer", &p, &[request.clone(), request]).await;
    per_function.push(("access-authorizer: request, cache hit", ops));

    println!("AWS API calls per reaction (emulator, counted by the proxy):");
    let mut rows = Vec::new();
    for (what, ops) in &per_function {
        let list = ops.iter().map(|(k, v)| format!("{k} x{v}")).collect::<Vec<_>>().join(", ");
        println!("  {what}: {} calls ({list})", total(ops));
        rows.push(json!({ "reaction": what, "calls": total(ops), "by_operation": ops }));
    }
    println!("  user-throttle burst: {burst_items_per_write:.0} throttle items per DynamoDB write call ({writes})");
    report["api_calls"] = json!(rows);
    report["burst"] = json!({ "events": 1000, "writes": writes, "items_per_write_call": burst_items_per_write, "dynamodb_calls_total": burst.iter().filter(|(k, _)| k.starts_with("dynamodb:")).map(|(_, v)| v).sum::<usize>() });

    // 2. The reaction, cold and warm, against the direct calls; 3. peak RSS.
    let direct_clients = Direct::new(None).await;
    let (mut cold, mut warm, mut direct_ms, mut rss, mut python) = (vec![], vec![], vec![], vec![], vec![]);
    let mut cold_parameter = vec![];
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let interpreter = root.join(".venv/bin/python");
    let script = root.join("tools/python/python_failover.py");
    for _ in 0..runs {
        // The Python/boto3 alternative: cold start + first event, same calls.
        let p = timed_platform().await;
        let api = RuntimeApi::start().await;
        let mut env = p.env();
        env.push(("AWS_ENDPOINT_URL", endpoint.clone()));
        let started = Instant::now();
        let _py = FunctionProcess::spawn_program(&interpreter, &[script.to_str().unwrap_or_default()], &api, &env);
        let out = api
            .invoke(&p.alarm_event("api-5xx", SOUTH, "ALARM", chrono::Utc::now()))
            .await
            .expect("python reaction");
        python.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out["decision"]["decision"], "failover", "{out}");

        let p = timed_platform().await;
        let event = p.alarm_event("api-5xx", SOUTH, "ALARM", chrono::Utc::now());
        let api = RuntimeApi::start().await;
        let started = Instant::now();
        let f = spawn("dns-failover", &api, &p, &endpoint);
        let out = api.invoke(&event).await.expect("cold reaction");
        cold.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out["decision"]["decision"], "failover", "{out}");
        if let Some(kib) = f.pid().and_then(peak_rss_kib) {
            #[allow(clippy::cast_precision_loss)]
            rss.push(kib as f64 / 1024.0);
        }

        // Cold again, the configuration read from its SSM parameter at init, as deployed.
        let p = timed_platform().await;
        let parameter = format!("/bench/{}", p.id);
        let sdk = resilience_tests::sdk(resilience_tests::platform::HOME).await;
        let key = resilience_tests::ConfigKey::create(&sdk).await;
        resilience_tests::put_config_parameter(&sdk, &key, &parameter, &p.config).await;
        let event = p.alarm_event("api-5xx", SOUTH, "ALARM", chrono::Utc::now());
        let api = RuntimeApi::start().await;
        let mut env = p.env();
        env.push(("AWS_ENDPOINT_URL", endpoint.clone()));
        env.push(("RESILIENCE_CONFIG_PARAMETER", parameter));
        env.push(("RESILIENCE_CONFIG_SIGNER", key.public_key));
        let started = Instant::now();
        let _f = FunctionProcess::spawn_path(&release("dns-failover"), &api, &env);
        let out = api.invoke(&event).await.expect("cold reaction, configuration parameter");
        cold_parameter.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out["decision"]["decision"], "failover", "{out}");

        let p = timed_platform().await;
        let api = RuntimeApi::start().await;
        let verbose = std::env::var("REACTION_VERBOSE").is_ok();
        let probe = FaultProxy::start(&endpoint, 0.0, 1, Duration::from_secs(4)).await;
        let _f = spawn("dns-failover", &api, &p, &if verbose { probe.url() } else { endpoint.clone() });
        // Warm: the process has served an event (a lone alarm that changes nothing) first.
        let _ = api.invoke(&p.alarm_event("canary", NORTH, "OK", chrono::Utc::now())).await;
        let event = p.alarm_event("api-5xx", SOUTH, "ALARM", chrono::Utc::now());
        let started = Instant::now();
        let out = api.invoke(&event).await.expect("warm reaction");
        warm.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out["decision"]["decision"], "failover", "{out}");
        if verbose {
            for c in probe.calls().iter().rev().take(13).rev() {
                eprintln!("  {}:{} {} {:.1} ms", c.service, c.operation, c.region, c.upstream_ms);
            }
        }

        direct(&p, &direct_clients).await; // connections warm, as the function's are
        direct_ms.push(direct(&p, &direct_clients).await);
        if verbose {
            let probed = Direct::new(Some(probe.url())).await;
            probe.reset_calls();
            let ms = direct(&p, &probed).await;
            eprintln!("direct through the probe: {ms:.1} ms");
            for c in probe.calls() {
                eprintln!("  {}:{} {} {:.1} ms", c.service, c.operation, c.region, c.upstream_ms);
            }
        }
    }
    let (cold, warm, direct_ms, python) = (median(cold), median(warm), median(direct_ms), median(python));
    let cold_parameter = median(cold_parameter);
    let rss = if rss.is_empty() { 0.0 } else { median(rss) };
    println!("dns-failover reaction on the emulator, median of {runs}:");
    println!("  cold (process start -> answer)  {cold:8.1} ms");
    println!("  warm                            {warm:8.1} ms");
    println!(
        "  same calls made directly (SDK)  {direct_ms:8.1} ms  -> overhead of the function {:+.1} %",
        (warm / direct_ms - 1.0) * 100.0
    );
    println!(
        "  Python/boto3 handler, cold      {python:8.1} ms  -> the function is {:.1}x faster cold",
        python / cold
    );
    println!("  peak RSS after a cold failover  {rss:8.1} MiB");
    println!(
        "  cold, configuration from SSM    {cold_parameter:8.1} ms  -> reading the parameter at init costs {:+.1} ms",
        cold_parameter - cold
    );
    report["reaction"] = json!({ "runs": runs, "cold_ms": cold, "warm_ms": warm, "direct_ms": direct_ms, "overhead_pct": (warm / direct_ms - 1.0) * 100.0, "peak_rss_mib": rss, "python_cold_ms": python, "python_ratio": python / cold, "cold_parameter_ms": cold_parameter, "parameter_init_ms": cold_parameter - cold });
    std::fs::write(
        resilience_tests::runtime::profile_dir()
            .parent()
            .unwrap_or(Path::new("."))
            .join("reaction.json"),
        serde_json::to_string_pretty(&report).expect("json"),
    )
    .expect("write report");
}
