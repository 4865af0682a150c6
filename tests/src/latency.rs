//! The latency model: what real AWS takes time to do, where the emulator answers at once or
//! never. Scaled down (seconds instead of minutes) so tests stay quick, but never zero, so no
//! test depends on an instant answer.
//!
//! - Route 53: a submitted change stays PENDING (the proxy, [`FaultProxy::set_change_pending`]).
//! - DynamoDB: a point-in-time restore stays CREATING ([`FaultProxy::set_restore_takes`]), and
//!   PITR's latest restorable time lags the current time ([`FaultProxy::set_restorable_lag`]).
//! - Route 53 answers: the emulator does not implement TestDNSAnswer, and reports every health
//!   check healthy. Here a name's answer is one of its weighted records with weight above 0
//!   whose health check is healthy, drawn by weight ("Weighted routing"); with none healthy, all
//!   of them, as Route 53 answers when every record in a group is unhealthy ("How Amazon Route
//!   53 chooses records when health checking is configured"). Each health check follows what
//!   its own configuration names, read from Route 53 (a record without one is always healthy):
//!   a CLOUDWATCH_METRIC check the alarm's state ("the CloudWatch alarm that you want Amazon
//!   Route 53 health checkers to use to determine whether this health check is healthy";
//!   INSUFFICIENT_DATA keeps the last status, `LastKnownStatus`), a RECOVERY_CONTROL check its
//!   routing control (On = healthy). Eight checkers each follow a change within `health_check`,
//!   one after another, and the check is healthy while more than 18% of them say so ("How Amazon
//!   Route 53 determines whether a health check is healthy"). The proxy answers TestDNSAnswer and
//!   GetHealthCheckStatus (one observation per checker) from it ([`DnsModel`]).
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
    controls: SharedControls,
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
            controls: SharedControls::default(),
        }
    }

    /// Evaluates another set of drain alarms (a practice name's).
    pub async fn add_drain_alarms(&mut self, wiring: DrainWiring) {
        let delay = self.delays.alarm_evaluation;
        self.add_drain_alarms_returning_ok_after(wiring, delay).await;
    }

    /// The same, the alarms returning to OK only `ok_delay` after their metric does:
    /// "CloudWatch evaluates each alarm on its own", so alarms on one metric can leave ALARM
    /// an evaluation period or more apart.
    pub async fn add_drain_alarms_returning_ok_after(&mut self, wiring: DrainWiring, ok_delay: Duration) {
        let mut clients = BTreeMap::new();
        for (_, home) in &wiring.pairs {
            clients.insert(home.clone(), aws_sdk_cloudwatch::Client::new(&sdk(home).await));
        }
        self.drain_alarms.push(DrainAlarms(tokio::spawn(evaluate(
            wiring,
            (self.delays.alarm_evaluation, ok_delay),
            clients,
        ))));
    }

    /// Answers TestDNSAnswer for `name`, and GetHealthCheckStatus for its records' health
    /// checks, from the wiring Route 53 holds.
    pub async fn answer_dns(&mut self, name: DnsWiring) {
        let r53 = aws_sdk_route53::Client::new(&sdk("us-east-1").await);
        let answers = self.proxy.dns_answers();
        let reports = self.proxy.checker_reports();
        self.dns.push(DnsModel::start(
            name,
            self.delays.health_check,
            r53,
            BTreeMap::new(),
            (answers, reports),
            self.controls.clone(),
        ));
    }

    /// RECOVERY_CONTROL health checks follow these routing controls (an ARC cluster's).
    pub fn follow_routing_controls(&self, controls: RoutingControls) {
        *self.controls.0.lock().expect("controls") = Some(controls);
    }
}

/// A routing control's state by ARN (On = true), as a RECOVERY_CONTROL health check reads it.
pub type RoutingControls = std::sync::Arc<dyn Fn(&str) -> Option<bool> + Send + Sync>;

/// The routing controls the DNS model follows, once a test has a cluster.
#[derive(Clone, Default)]
pub struct SharedControls(std::sync::Arc<std::sync::Mutex<Option<RoutingControls>>>);

impl std::fmt::Debug for SharedControls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedControls")
    }
}

/// A name whose answers the model gives: its zone and name. What each record's health check
/// follows is read from Route 53, as its checkers would.
#[derive(Debug, Clone)]
pub struct DnsWiring {
    pub zone_id: String,
    pub record_name: String,
}

/// Route 53's answers and checkers, as a background task; stops when dropped.
#[derive(Debug)]
pub struct DnsModel(tokio::task::JoinHandle<()>);

impl DnsModel {
    /// Keeps `answers` and `reports` (a proxy's) to what Route 53 would answer for `name` and
    /// what its checkers would report. `cloudwatch`: a client for each region where alarms the
    /// health checks follow live (others are made for the shared emulator on first use).
    pub fn start(
        name: DnsWiring,
        health_check: Duration,
        r53: aws_sdk_route53::Client,
        cloudwatch: BTreeMap<String, aws_sdk_cloudwatch::Client>,
        (answers, reports): (crate::faults::DnsAnswers, crate::faults::CheckerReports),
        controls: SharedControls,
    ) -> Self {
        let checkers = Checkers {
            cloudwatch,
            ..Checkers::default()
        };
        DnsModel(tokio::spawn(resolve(
            name,
            health_check,
            r53,
            checkers,
            (answers, reports),
            controls,
        )))
    }
}

impl Drop for DnsModel {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Route 53's checkers per health check.
const CHECKERS: usize = 8;

/// What a health check follows, by its configuration (GetHealthCheck).
#[derive(Debug, Clone)]
enum Follows {
    Alarm { region: String, name: String },
    Control(String),
    Nothing,
}

/// The model's view of Route 53: what each health check's checkers report, and the truth they
/// are moving to (since when).
#[derive(Default)]
struct Checkers {
    reports: BTreeMap<String, Vec<bool>>,
    truth: BTreeMap<String, (bool, Instant)>,
    cloudwatch: BTreeMap<String, aws_sdk_cloudwatch::Client>,
}

impl Checkers {
    /// Read every time, as Route 53's checkers act on the configuration as it is now. A disabled
    /// check is healthy ("Route 53 considers the status of the health check to always be
    /// healthy", `Disabled`); one that cannot be read (deleted: "the future status of the health
    /// check can't be predicted") is taken as healthy too.
    async fn follows(&mut self, r53: &aws_sdk_route53::Client, id: &str) -> Follows {
        let Ok(out) = r53.get_health_check().health_check_id(id).send().await else {
            return Follows::Nothing;
        };
        match out.health_check().and_then(|h| h.health_check_config()) {
            Some(c) if c.disabled() == Some(true) => Follows::Nothing,
            Some(c) if c.alarm_identifier().is_some() => {
                let a = c.alarm_identifier().expect("checked");
                Follows::Alarm {
                    region: a.region().as_str().to_owned(),
                    name: a.name().to_owned(),
                }
            }
            Some(c) if c.routing_control_arn().is_some() => Follows::Control(c.routing_control_arn().expect("checked").to_owned()),
            _ => Follows::Nothing,
        }
    }

    /// Whether what health check `id` follows says healthy now (`None`: no answer this time).
    async fn truth(&mut self, r53: &aws_sdk_route53::Client, id: &str, controls: &SharedControls) -> Option<bool> {
        match self.follows(r53, id).await {
            Follows::Alarm { region, name } => {
                if !self.cloudwatch.contains_key(&region) {
                    let client = aws_sdk_cloudwatch::Client::new(&sdk(&region).await);
                    self.cloudwatch.insert(region.clone(), client);
                }
                let out = self.cloudwatch[&region].describe_alarms().alarm_names(&name).send().await.ok()?;
                match out.metric_alarms().first().and_then(|a| a.state_value().cloned()) {
                    Some(StateValue::Alarm) => Some(false),
                    Some(StateValue::Ok) => Some(true),
                    // INSUFFICIENT_DATA (LastKnownStatus), or no such alarm: as before.
                    _ => None,
                }
            }
            Follows::Control(arn) => {
                let read = controls.0.lock().expect("controls").clone()?;
                read(&arn)
            }
            Follows::Nothing => Some(true),
        }
    }

    /// Moves health check `id`'s checkers towards `truth`: checker `i` reports a change once it
    /// has held for `(i + 1) / CHECKERS` of `delay`. Returns whether Route 53 calls it healthy.
    fn report(&mut self, id: &str, truth: Option<bool>, delay: Duration) -> bool {
        let reports = self
            .reports
            .entry(id.to_owned())
            .or_insert_with(|| vec![truth.unwrap_or(true); CHECKERS]);
        if let Some(truth) = truth {
            let since = self.truth.entry(id.to_owned()).or_insert((truth, Instant::now()));
            if since.0 != truth {
                *since = (truth, Instant::now());
            }
            let held = since.1.elapsed();
            for (i, r) in reports.iter_mut().enumerate() {
                if held >= delay * (i as u32 + 1) / CHECKERS as u32 {
                    *r = truth;
                }
            }
        }
        reports.iter().filter(|h| **h).count() as f64 / CHECKERS as f64 > 0.18
    }
}

async fn resolve(
    name: DnsWiring,
    delay: Duration,
    r53: aws_sdk_route53::Client,
    mut checkers: Checkers,
    (answers, reports): (crate::faults::DnsAnswers, crate::faults::CheckerReports),
    controls: SharedControls,
) {
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
                let weight = rrs.weight().unwrap_or(0);
                let healthy = match rrs.health_check_id() {
                    Some(id) => {
                        let truth = checkers.truth(&r53, id, &controls).await;
                        let healthy = checkers.report(id, truth, delay);
                        reports
                            .lock()
                            .expect("checkers")
                            .insert(id.to_owned(), checkers.reports[id].clone());
                        healthy
                    }
                    None => true,
                };
                for v in rrs.resource_records() {
                    if weight > 0 {
                        all.push((v.value().to_owned(), weight));
                        if healthy {
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
        DrainAlarms(tokio::spawn(evaluate(wiring, (delay, delay), clients)))
    }
}

/// Sets each drain alarm to ALARM (latest datapoint >= 1) or OK (< 1) once the value has been
/// seen for the evaluation delay (`to_alarm`, `to_ok`).
async fn evaluate(wiring: DrainWiring, (to_alarm, to_ok): (Duration, Duration), clients: BTreeMap<String, aws_sdk_cloudwatch::Client>) {
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
            let delay = if wanted == StateValue::Ok { to_ok } else { to_alarm };
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
