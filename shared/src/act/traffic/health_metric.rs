//! The data-plane switch: a CloudWatch metric whose alarm a Route 53 health check follows.

use crate::act::alarms;
use crate::act::traffic::SwitchError;
use crate::aws::clients::AwsClients;
use crate::config::HealthMetricConfig;
use crate::model::audit::{ActionRecord, Outcome};
use crate::model::said;
use crate::model::{AlarmState, Region};
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit};
use std::time::{Duration, Instant, SystemTime};

/// Data plane: publishes the "region drained" metric that a CloudWatch alarm watches; a Route 53
/// health check of type CLOUDWATCH_METRIC follows that alarm (OK = healthy, ALARM = unhealthy,
/// Route 53 `HealthCheckConfig`). The metric for region R is published in every other region
/// (never in R, which may be down), where R's drain alarm lives.
///
/// Route 53 supports alarms on standard-resolution metrics only ("High-resolution metrics aren't
/// supported", Route 53 API `AlarmIdentifier`), so the metric is stored at 60-second resolution
/// and the alarm's period is 60 s. The alarm keeps its state while no datapoint arrives
/// (`TreatMissingData: ignore`), so one datapoint per change is enough, without re-publication.
#[derive(Debug, Clone)]
pub struct HealthMetricSwitch {
    pub(crate) metric: HealthMetricConfig,
    pub(crate) clients: AwsClients,
    pub(crate) regions: Vec<Region>,
}

/// Why a drain's effect was not seen.
enum NotSeen {
    /// No peer region has the drain alarm (a configuration error).
    Missing(String),
    /// The alarm did not reach the wanted state within `confirm_seconds`.
    Behind(String),
}

/// Seconds since the epoch, as CloudWatch buckets a 60-second metric.
fn minute_of(secs: i64) -> i64 {
    secs - secs.rem_euclid(60)
}

impl HealthMetricSwitch {
    /// Publishes the drain value in every other region, then waits (bounded by
    /// `confirm_seconds`) until the drain alarm there shows the effect: ALARM when drained, OK
    /// when restored. Not seen in time: `Unconfirmed`, and the caller tries the next strategy.
    pub(crate) async fn set_drained(&self, region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
        let peers: Vec<&Region> = self.regions.iter().filter(|r| *r != region).collect();
        self.set_at(&peers, region, drained).await
    }

    /// The same, with the metric and its alarm in the regions `peers` (the practice drill's
    /// trigger lives in the drilled region itself).
    pub(crate) async fn set_at(&self, peers: &[&Region], region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
        let value = if drained { 1.0 } else { 0.0 };
        let alarm = self.metric.alarm_of(region);
        let action = format!(
            "health-metric {}/{} {region}={value}",
            self.metric.namespace, self.metric.metric_name
        );
        let mut details = Vec::new();
        let mut changed = false;
        let published = self.publish(peers, region, value, &mut details, &mut changed).await;
        let started = Instant::now();
        // Once a datapoint is out, the drain may take effect whatever happens next: from here
        // on, a failure is `Unconfirmed` (applied), never an error that would leave it unrecorded.
        let unconfirmed = |mut details: Vec<String>, why: String| {
            details.push(why);
            Ok(ActionRecord {
                action: action.clone(),
                outcome: Outcome::Unconfirmed,
                detail: details.join("; "),
                millis: 0,
                confirm_ms: None,
            })
        };
        if let Err(e) = published {
            return if changed { unconfirmed(details, e.to_string()) } else { Err(e) };
        }
        match self.confirm(peers, &alarm, drained).await {
            Ok(()) if changed => {
                let waited = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                details.push(format!(
                    "confirmed: {alarm} {} after {waited} ms",
                    if drained { "ALARM" } else { "OK" },
                ));
                Ok(ActionRecord {
                    action,
                    outcome: Outcome::Succeeded,
                    detail: details.join("; "),
                    millis: 0,
                    confirm_ms: Some(waited),
                })
            }
            Ok(()) => Ok(ActionRecord {
                action,
                outcome: Outcome::AlreadyInPlace,
                detail: details.join("; "),
                millis: 0,
                confirm_ms: None,
            }),
            Err(NotSeen::Missing(why) | NotSeen::Behind(why)) if changed => unconfirmed(details, why),
            // Nothing published and no alarm to follow it: this strategy cannot work here.
            Err(NotSeen::Missing(why)) => Err(SwitchError::next(&action, why)),
            // Already published, its effect still not seen: as unconfirmed as a fresh one.
            Err(NotSeen::Behind(why)) => unconfirmed(details, why),
        }
    }

    /// Whether this switch holds `region` out of DNS now: its drain alarm is in ALARM in a peer
    /// region. That is what Route 53 follows: a CLOUDWATCH_METRIC health check reports the
    /// alarm's state ("Monitoring other health checks / CloudWatch alarms", Route 53 Developer
    /// Guide), not the metric. The metric itself is published once per change and the alarm
    /// keeps its state while no datapoint arrives (`TreatMissingData: ignore`), so after the
    /// window a metric read covers (15 minutes) the metric says nothing while the drain holds:
    /// reading it gave a false "DNS SWITCH DRIFT" page in every failover that lasted longer.
    /// A peer with no such alarm holds nothing (readiness reports the missing alarm).
    pub(crate) async fn holds(&self, region: &Region) -> Result<bool, String> {
        let alarm = self.metric.alarm_of(region);
        let mut held = false;
        for peer in self.regions.iter().filter(|r| *r != region) {
            let found = alarms::one(&self.clients.cloudwatch(peer), peer, &alarm)
                .await
                .map_err(|e| e.to_string())?;
            held |= found.is_some_and(|a| !a.composite && a.state == AlarmState::Alarm);
        }
        Ok(held)
    }

    /// Publishes `value` for `region` in each peer where it is not the latest value already.
    async fn publish(
        &self,
        peers: &[&Region],
        region: &Region,
        value: f64,
        details: &mut Vec<String>,
        changed: &mut bool,
    ) -> Result<(), SwitchError> {
        let dimension = Dimension::builder()
            .name(&self.metric.region_dimension)
            .value(region.as_str())
            .build();
        for peer in peers {
            let action = format!(
                "cloudwatch:PutMetricData {peer} {}/{}{{{}={region}}}={value}",
                self.metric.namespace, self.metric.metric_name, self.metric.region_dimension
            );
            let fail = |message: String| SwitchError::next(&action, message);
            let client = self.clients.cloudwatch(peer);
            let latest = self.current(&client, &dimension).await.map_err(fail)?;
            if latest.map(|(v, _)| v) == Some(value) {
                details.push(format!("{peer}: already {value}"));
                continue;
            }
            // Two values in one minute are aggregated into one datapoint, and the alarm's
            // Maximum would hide a restore (PutMetricData, `StorageResolution`). If the opposite
            // value is in the current minute, this one is stamped at the start of the next
            // (CloudWatch accepts time stamps up to two hours ahead: "Amazon CloudWatch concepts", Time stamps): the alarm sees it
            // one evaluation later instead of never.
            let now = aws_smithy_types::DateTime::from(SystemTime::now()).secs();
            let mut datum = MetricDatum::builder()
                .metric_name(&self.metric.metric_name)
                .dimensions(dimension.clone())
                .value(value)
                .unit(StandardUnit::Count)
                .storage_resolution(60);
            if let Some((_, at)) = latest
                && minute_of(at.secs()) >= minute_of(now)
            {
                datum = datum.timestamp(aws_smithy_types::DateTime::from_secs(minute_of(at.secs()) + 60));
            }
            client
                .put_metric_data()
                .namespace(&self.metric.namespace)
                .metric_data(datum.build())
                .send()
                .await
                .map_err(|e| fail(said(&e)))?;
            *changed = true;
            details.push(format!("{peer}: published {value}"));
        }
        Ok(())
    }

    /// Polls the drain alarm in each peer region where it exists until it shows the wanted
    /// state, within `confirm_seconds`. A read that fails is "not seen yet", polled again. The
    /// error says what was still not in the wanted state, or that no peer has the alarm (a
    /// configuration error).
    async fn confirm(&self, peers: &[&Region], alarm: &str, drained: bool) -> Result<(), NotSeen> {
        let wanted = if drained { AlarmState::Alarm } else { AlarmState::Ok };
        let deadline = Instant::now() + Duration::from_secs(self.metric.confirm_seconds);
        // A 60-second alarm changes at most once a minute: every 5 s is plenty on AWS, and a
        // short configured wait (the emulator's latency model) polls proportionally faster.
        let pause = Duration::from_millis((self.metric.confirm_seconds * 1000 / 20).clamp(100, 5000));
        loop {
            let mut seen = 0;
            let mut answered = 0;
            let mut behind = Vec::new();
            for peer in peers {
                let found = match alarms::one(&self.clients.cloudwatch(peer), peer, alarm).await {
                    Ok(found) => found,
                    Err(e) => {
                        behind.push(format!("{alarm} in {peer} unread ({e})"));
                        continue;
                    }
                };
                answered += 1;
                if let Some(a) = found.filter(|a| !a.composite) {
                    seen += 1;
                    if a.state != wanted {
                        behind.push(format!("{alarm} in {peer} is {}", a.state));
                    }
                }
            }
            if answered == peers.len() && seen == 0 {
                return Err(NotSeen::Missing(format!(
                    "drain alarm {alarm} DOES NOT EXIST in {} (configuration error: dns.health_metric.alarm_name or the template)",
                    peers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                )));
            }
            if behind.is_empty() {
                return Ok(());
            }
            if Instant::now() + pause > deadline {
                return Err(NotSeen::Behind(format!(
                    "NOT confirmed within {}s: {}; Route 53 may still follow it",
                    self.metric.confirm_seconds,
                    behind.join(", ")
                )));
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// The latest published value in the last 15 minutes (or stamped ahead) and its minute.
    async fn current(
        &self,
        client: &aws_sdk_cloudwatch::Client,
        dimension: &Dimension,
    ) -> Result<Option<(f64, aws_smithy_types::DateTime)>, String> {
        let now = SystemTime::now();
        let query = MetricDataQuery::builder()
            .id("drained")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(&self.metric.namespace)
                            .metric_name(&self.metric.metric_name)
                            .dimensions(dimension.clone())
                            .build(),
                    )
                    .period(60)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        // Start and end on minute boundaries, so each returned value is one 60-second datapoint
        // ("specify StartTime and EndTime values that align with the value of the metric's
        // Period", GetMetricData).
        let secs = aws_smithy_types::DateTime::from(now).secs();
        let out = client
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(aws_smithy_types::DateTime::from_secs(minute_of(secs) - 900))
            .end_time(aws_smithy_types::DateTime::from_secs(minute_of(secs) + 180))
            .scan_by(aws_sdk_cloudwatch::types::ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| said(&e))?;
        Ok(out
            .metric_data_results()
            .first()
            .and_then(|r| Some((*r.values().first()?, *r.timestamps().first()?))))
    }
}
