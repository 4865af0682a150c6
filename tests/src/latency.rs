//! The latency model: what real AWS takes time to do, where the emulator answers at once or
//! never. Scaled down (seconds instead of minutes) so tests stay quick, but never zero, so no
//! test depends on an instant answer.
//!
//! - Route 53: a submitted change stays PENDING (the proxy, [`FaultProxy::set_change_pending`]).
//! - DynamoDB: a point-in-time restore stays CREATING ([`FaultProxy::set_restore_takes`]), and
//!   PITR's latest restorable time lags the current time ([`FaultProxy::set_restorable_lag`]).
//! - Route 53 answers: the emulator does not implement TestDNSAnswer. Here a name's answer is
//!   its weighted records with weight above 0 whose health check is healthy, a health check
//!   following its drain alarm after `health_check` (Route 53's checkers report a CLOUDWATCH_METRIC
//!   check's status from the alarm's state); with none healthy, all of them, as Route 53 answers
//!   when every record in a group is unhealthy ("How Amazon Route 53 chooses records when health
//!   checking is configured"). The proxy answers TestDNSAnswer from it ([`DnsModel`]).
//! - CloudWatch: the emulator does not evaluate alarms. Here the drain alarm of each region
//!   follows its metric after an evaluation delay, as CloudWatch evaluates a 60-second alarm
//!   once a minute ("Using Amazon CloudWatch alarms"); a Route 53 CLOUDWATCH_METRIC health
//!   check follows the alarm's state.

use crate::faults::FaultProxy;
use crate::sdk;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StateValue};
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

/// Delays of the model, scaled for tests.
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    pub change_pending: Duration,
    pub alarm_evaluation: Duration,
    pub restore: Duration,
    /// LatestRestorableDateTime behind the current time (AWS: typically 5 minutes).
    pub restorable_lag: Duration,
    /// A drain alarm's state to the health check's status, in DNS answers.
    pub health_check: Duration,
}

impl Default for Delays {
    fn default() -> Self {
        Delays {
            change_pending: Duration::from_millis(800),
            alarm_evaluation: Duration::from_millis(600),
            restore: Duration::from_millis(1500),
            restorable_lag: Duration::from_secs(2),
            health_check: Duration::from_millis(400),
        }
    }
}

/// The drain metric and its alarms, as the platform names them.
#[derive(Debug, Clone)]
pub struct DrainWiring {
    pub namespace: String,
    pub metric: String,
    /// `{region}` stands for the drained region.
    pub alarm_name: String,
    /// (drained region, region where its metric and alarm live).
    pub pairs: Vec<(String, String)>,
}

/// The model running for one platform: a proxy (no faults) the functions talk through, and the
/// drain-alarm evaluator. Both stop when dropped.
#[derive(Debug)]
pub struct LatencyModel {
    pub proxy: FaultProxy,
    pub delays: Delays,
    drain_alarms: Vec<DrainAlarms>,
    dns: Vec<DnsModel>,
}

impl LatencyModel {
    pub async fn start(upstream: &str, wiring: DrainWiring, delays: Delays) -> Self {
        let proxy = FaultProxy::start(upstream, 0.0, 0, Duration::from_secs(5)).await;
        proxy.set_change_pending(delays.change_pending);
        proxy.set_restore_takes(delays.restore);
        proxy.set_restorable_lag(delays.restorable_lag);
        let mut clients = BTreeMap::new();
        for (_, home) in &wiring.pairs {
            clients.insert(home.clone(), aws_sdk_cloudwatch::Client::new(&sdk(home).await));
        }
        LatencyModel {
            proxy,
            delays,
            drain_alarms: vec![DrainAlarms::start(wiring, delays.alarm_evaluation, clients)],
            dns: vec![],
        }
    }

    /// Evaluates another set of drain alarms (a practice name's).
    pub async fn add_drain_alarms(&mut self, wiring: DrainWiring) {
        let mut clients = BTreeMap::new();
        for (_, home) in &wiring.pairs {
            clients.insert(home.clone(), aws_sdk_cloudwatch::Client::new(&sdk(home).await));
        }
        self.drain_alarms
            .push(DrainAlarms::start(wiring, self.delays.alarm_evaluation, clients));
    }

    /// Answers TestDNSAnswer for `name` from its records and their drain alarms.
    pub async fn answer_dns(&mut self, name: DnsWiring) {
        let r53 = aws_sdk_route53::Client::new(&sdk("us-east-1").await);
        let mut clients = BTreeMap::new();
        for home in name.alarms.values().map(|(home, _)| home) {
            clients.insert(home.clone(), aws_sdk_cloudwatch::Client::new(&sdk(home).await));
        }
        let answers = self.proxy.dns_answers();
        self.dns
            .push(DnsModel::start(name, self.delays.health_check, r53, clients, answers));
    }
}

/// A name whose answers the model gives: its zone, and per set identifier the drain alarm its
/// health check follows (region where the alarm lives, alarm name).
#[derive(Debug, Clone)]
pub struct DnsWiring {
    pub zone_id: String,
    pub record_name: String,
    pub alarms: BTreeMap<String, (String, String)>,
}

/// Route 53's answers, as a background task; stops when dropped.
#[derive(Debug)]
pub struct DnsModel(tokio::task::JoinHandle<()>);

impl DnsModel {
    /// Keeps `answers` (a proxy's) to what Route 53 would answer for `name`; `clients`: a
    /// CloudWatch client for each region where its drain alarms live.
    pub fn start(
        name: DnsWiring,
        health_check: Duration,
        r53: aws_sdk_route53::Client,
        clients: BTreeMap<String, aws_sdk_cloudwatch::Client>,
        answers: crate::faults::DnsAnswers,
    ) -> Self {
        DnsModel(tokio::spawn(resolve(name, health_check, r53, clients, answers)))
    }
}

impl Drop for DnsModel {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn resolve(
    name: DnsWiring,
    delay: Duration,
    r53: aws_sdk_route53::Client,
    clients: BTreeMap<String, aws_sdk_cloudwatch::Client>,
    answers: crate::faults::DnsAnswers,
) {
    // Per set identifier: the health the checkers report, and a change seen since when.
    let mut health: BTreeMap<String, bool> = BTreeMap::new();
    let mut changing: BTreeMap<String, (bool, Instant)> = BTreeMap::new();
    loop {
        if let Ok(listed) = r53
            .list_resource_record_sets()
            .hosted_zone_id(&name.zone_id)
            .start_record_name(&name.record_name)
            .send()
            .await
        {
            let mut serving = Vec::new();
            let mut all = Vec::new();
            for rrs in listed.resource_record_sets().iter().filter(|r| r.name() == name.record_name) {
                let id = rrs.set_identifier().unwrap_or_default().to_owned();
                let weight = rrs.weight().unwrap_or(0);
                let alarm_ok = match name.alarms.get(&id) {
                    Some((home, alarm)) => clients[home]
                        .describe_alarms()
                        .alarm_names(alarm)
                        .send()
                        .await
                        .ok()
                        .and_then(|o| o.metric_alarms().first().and_then(|a| a.state_value().cloned()))
                        .is_none_or(|s| s != StateValue::Alarm),
                    None => true,
                };
                let reported = *health.entry(id.clone()).or_insert(alarm_ok);
                if alarm_ok != reported {
                    let since = changing.entry(id.clone()).or_insert((alarm_ok, Instant::now()));
                    if since.0 != alarm_ok {
                        *since = (alarm_ok, Instant::now());
                    }
                    if since.1.elapsed() >= delay {
                        health.insert(id.clone(), alarm_ok);
                        changing.remove(&id);
                    }
                } else {
                    changing.remove(&id);
                }
                for v in rrs.resource_records() {
                    if weight > 0 {
                        all.push((v.value().to_owned(), weight));
                        if health[&id] {
                            serving.push((v.value().to_owned(), weight));
                        }
                    }
                }
            }
            let answer = if serving.is_empty() { all } else { serving };
            answers.lock().expect("dns").insert(name.record_name.clone(), answer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// CloudWatch's evaluation of the drain alarms, as a background task; stops when dropped.
#[derive(Debug)]
pub struct DrainAlarms(tokio::task::JoinHandle<()>);

impl Drop for DrainAlarms {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl DrainAlarms {
    /// `clients`: a CloudWatch client for each region where drain alarms live.
    pub fn start(wiring: DrainWiring, delay: Duration, clients: BTreeMap<String, aws_sdk_cloudwatch::Client>) -> Self {
        DrainAlarms(tokio::spawn(evaluate(wiring, delay, clients)))
    }
}

/// Sets each drain alarm to ALARM (latest datapoint >= 1) or OK (< 1) once the value has been
/// seen for the evaluation delay.
async fn evaluate(wiring: DrainWiring, delay: Duration, clients: BTreeMap<String, aws_sdk_cloudwatch::Client>) {
    // Per (drained region, where its alarm lives): the state set, and the state seen in the
    // metric since when.
    let mut set: BTreeMap<(String, String), StateValue> = BTreeMap::new();
    let mut seen: BTreeMap<(String, String), (StateValue, Instant)> = BTreeMap::new();
    loop {
        for pair in &wiring.pairs {
            let (region, home) = pair;
            let cw = &clients[home];
            let Some(value) = latest(cw, &wiring, region).await else { continue };
            let wanted = if value >= 1.0 { StateValue::Alarm } else { StateValue::Ok };
            if set.get(pair) == Some(&wanted) {
                seen.remove(pair);
                continue;
            }
            let since = match seen.get(pair) {
                Some((s, at)) if *s == wanted => *at,
                _ => {
                    seen.insert(pair.clone(), (wanted.clone(), Instant::now()));
                    continue;
                }
            };
            if since.elapsed() >= delay {
                let name = wiring.alarm_name.replace("{region}", region);
                let ok = cw
                    .set_alarm_state()
                    .alarm_name(&name)
                    .state_value(wanted.clone())
                    .state_reason("latency model: the drain metric evaluated")
                    .send()
                    .await
                    .is_ok();
                if ok {
                    set.insert(pair.clone(), wanted);
                    seen.remove(pair);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn latest(cw: &aws_sdk_cloudwatch::Client, wiring: &DrainWiring, region: &str) -> Option<f64> {
    latest_drain(cw, &wiring.namespace, &wiring.metric, region).await.ok()?
}

/// The latest drain value published for `region` through `cw` (60-second datapoints, the
/// newest first), or the query's error.
pub async fn latest_drain(cw: &aws_sdk_cloudwatch::Client, namespace: &str, metric: &str, region: &str) -> Result<Option<f64>, String> {
    let now = aws_smithy_types::DateTime::from(SystemTime::now()).secs();
    let minute = now - now.rem_euclid(60);
    let q = MetricDataQuery::builder()
        .id("m")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(namespace)
                        .metric_name(metric)
                        .dimensions(Dimension::builder().name("Region").value(region).build())
                        .build(),
                )
                .period(60)
                .stat("Maximum")
                .build(),
        )
        .build();
    let out = cw
        .get_metric_data()
        .metric_data_queries(q)
        .start_time(aws_smithy_types::DateTime::from_secs(minute - 900))
        .end_time(aws_smithy_types::DateTime::from_secs(minute + 180))
        .scan_by(ScanBy::TimestampDescending)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(out.metric_data_results().first().and_then(|r| r.values().first().copied()))
}
