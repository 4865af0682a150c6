//! The data-plane switch: a CloudWatch metric that a Route 53 health check follows.

use crate::act::traffic::SwitchError;
use crate::aws::clients::AwsClients;
use crate::config::HealthMetricConfig;
use crate::evidence::audit::{ActionRecord, Outcome};
use crate::model::Region;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit};
use aws_sdk_route53::error::DisplayErrorContext;
use std::time::Duration;

/// Data plane: publishes the "region drained" metric that a CloudWatch alarm watches; a Route 53
/// health check of type CLOUDWATCH_METRIC follows that alarm. The metric for region R is
/// published in every other region (never in R, which may be down), where R's drain alarm lives.
#[derive(Debug, Clone)]
pub struct HealthMetricSwitch {
    pub(crate) metric: HealthMetricConfig,
    pub(crate) clients: AwsClients,
    pub(crate) regions: Vec<Region>,
}

impl HealthMetricSwitch {
    pub(crate) async fn set_drained(&self, region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
        let value = if drained { 1.0 } else { 0.0 };
        let dimension = Dimension::builder()
            .name(&self.metric.region_dimension)
            .value(region.as_str())
            .build();
        let mut details = Vec::new();
        let mut changed = false;
        for peer in self.regions.iter().filter(|r| *r != region) {
            let action = format!(
                "cloudwatch:PutMetricData {peer} {}/{}{{{}={region}}}={value}",
                self.metric.namespace, self.metric.metric_name, self.metric.region_dimension
            );
            let fail = |message: String| SwitchError {
                action: action.clone(),
                message,
            };
            let client = self.clients.cloudwatch(peer);
            let latest = self.current(&client, &dimension).await.map_err(fail)?;
            if latest.map(|(v, _)| v) == Some(value) {
                details.push(format!("{peer}: already {value}"));
                continue;
            }
            // The opposite value was published this very second: wait for the next 1-second
            // bucket, or both would merge and the alarm's Maximum would hide a restore.
            if let Some((_, at)) = latest {
                let age = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs() - at.secs();
                if age < 1 {
                    tokio::time::sleep(Duration::from_millis(1000 - u64::from(at.subsec_nanos() / 1_000_000).min(999) + 50)).await;
                }
            }
            client
                .put_metric_data()
                .namespace(&self.metric.namespace)
                .metric_data(
                    MetricDatum::builder()
                        .metric_name(&self.metric.metric_name)
                        .dimensions(dimension.clone())
                        .value(value)
                        .unit(StandardUnit::Count)
                        // High resolution: a drain and a restore in the same minute must stay
                        // two datapoints, or the alarm (and our read-back) would see only the max.
                        .storage_resolution(1)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| fail(DisplayErrorContext(e).to_string()))?;
            changed = true;
            details.push(format!("{peer}: published {value}"));
        }
        Ok(ActionRecord {
            action: format!(
                "health-metric {}/{} {region}={value}",
                self.metric.namespace, self.metric.metric_name
            ),
            outcome: if changed { Outcome::Succeeded } else { Outcome::AlreadyInPlace },
            detail: details.join("; "),
            millis: 0,
        })
    }

    /// The latest published value in the last 15 minutes and its 1-second bucket, if any.
    async fn current(
        &self,
        client: &aws_sdk_cloudwatch::Client,
        dimension: &Dimension,
    ) -> Result<Option<(f64, aws_smithy_types::DateTime)>, String> {
        let now = std::time::SystemTime::now();
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
                    .period(1)
                    .stat("Maximum")
                    .build(),
            )
            .build();
        let out = client
            .get_metric_data()
            .metric_data_queries(query)
            .start_time((now - Duration::from_secs(900)).into())
            .end_time((now + Duration::from_secs(60)).into())
            .scan_by(aws_sdk_cloudwatch::types::ScanBy::TimestampDescending)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        Ok(out
            .metric_data_results()
            .first()
            .and_then(|r| Some((*r.values().first()?, *r.timestamps().first()?))))
    }
}
