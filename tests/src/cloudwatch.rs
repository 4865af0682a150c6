//! CloudWatch's evaluation of a metric alarm, modelled from its documentation (the emulator
//! evaluates no alarm: it keeps whatever state was last set). Pure: the datapoints of the
//! evaluation range in, the alarm's next state out; [`AlarmModel::evaluate_at`] reads them
//! from the emulator for any evaluation time, so a test can evaluate "hours later" against
//! datapoints stamped in the past, without waiting.
//!
//! The rules, each from "Using Amazon CloudWatch alarms" and "Configuring how CloudWatch alarms
//! treat missing data":
//! - "Evaluation Periods is the number of the most recent periods, or data points, to evaluate
//!   when determining alarm state. Datapoints to Alarm is the number of data points within the
//!   Evaluation Periods that must be breaching to cause the alarm to go to the ALARM state."
//! - Missing datapoints: `notBreaching` "treated as good and within the threshold";
//!   `breaching` "treated as bad and breaching the threshold"; `ignore` "the current alarm state
//!   is maintained"; `missing` "if all data points in the alarm evaluation range are missing,
//!   the alarm transitions to INSUFFICIENT_DATA". With some present, the present ones decide.
//! - "Alarms that evaluate metrics in the AWS/DynamoDB namespace always ignore missing data
//!   even if you choose a different option for TreatMissingData" (PutMetricAlarm).
//! - A metric-math alarm evaluates its expression: `FILL(m1, v)` gives every period a value, so
//!   nothing is missing ("Using metric math": FILL "fills the missing values of a time series").
//! - CloudWatch evaluates an alarm once a minute.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat, StateValue};
use std::time::SystemTime;

/// How missing datapoints count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Missing,
    Ignore,
    Breaching,
    NotBreaching,
}

impl Missing {
    pub fn parse(s: Option<&str>) -> Missing {
        match s {
            Some("ignore") => Missing::Ignore,
            Some("breaching") => Missing::Breaching,
            Some("notBreaching") => Missing::NotBreaching,
            _ => Missing::Missing,
        }
    }
}

/// What CloudWatch evaluates: one metric (or `FILL(metric, value)`), compared with a threshold.
#[derive(Debug, Clone)]
pub struct AlarmModel {
    pub name: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
    pub period: i64,
    pub evaluation_periods: usize,
    pub datapoints_to_alarm: usize,
    pub threshold: f64,
    pub comparison: ComparisonOperator,
    pub missing: Missing,
    /// `FILL(m1, value)`: the value of a period without data.
    pub fill: Option<f64>,
}

impl AlarmModel {
    fn breaches(&self, v: f64) -> bool {
        match self.comparison {
            ComparisonOperator::GreaterThanThreshold => v > self.threshold,
            ComparisonOperator::GreaterThanOrEqualToThreshold => v >= self.threshold,
            ComparisonOperator::LessThanThreshold => v < self.threshold,
            ComparisonOperator::LessThanOrEqualToThreshold => v <= self.threshold,
            _ => false,
        }
    }

    /// The state after one evaluation of `range` (the evaluation range's datapoints, oldest
    /// first, `None` for a period without data), from `current`.
    pub fn next_state(&self, range: &[Option<f64>], current: StateValue) -> StateValue {
        let missing = if self.fill.is_some() {
            Missing::NotBreaching // never used: FILL leaves nothing missing
        } else if self.namespace == "AWS/DynamoDB" {
            Missing::Ignore
        } else {
            self.missing
        };
        let values: Vec<Option<bool>> = range
            .iter()
            .map(|d| d.or(self.fill).map(|v| self.breaches(v)))
            .map(|b| match (b, missing) {
                (Some(b), _) => Some(b),
                (None, Missing::Breaching) => Some(true),
                (None, Missing::NotBreaching) => Some(false),
                (None, _) => None,
            })
            .collect();
        let present: Vec<bool> = values.iter().flatten().copied().collect();
        if present.is_empty() {
            return match missing {
                Missing::Missing => StateValue::InsufficientData,
                _ => current,
            };
        }
        if present.iter().filter(|b| **b).count() >= self.datapoints_to_alarm {
            StateValue::Alarm
        } else {
            StateValue::Ok
        }
    }

    /// Reads the alarm as the emulator holds it: a metric alarm, or a metric-math alarm whose
    /// returned expression is `FILL(<id>, <number>)` over one metric.
    pub async fn read(cw: &aws_sdk_cloudwatch::Client, name: &str) -> Option<AlarmModel> {
        let out = cw.describe_alarms().alarm_names(name).send().await.ok()?;
        let a = out.metric_alarms().first()?;
        let (namespace, metric, dimensions, stat, period, fill) = if a.metrics().is_empty() {
            (
                a.namespace()?.to_owned(),
                a.metric_name()?.to_owned(),
                a.dimensions()
                    .iter()
                    .map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
                    .collect::<Option<Vec<_>>>()?,
                a.statistic()?.as_str().to_owned(),
                i64::from(a.period()?),
                None,
            )
        } else {
            let stat_query = a.metrics().iter().find(|q| q.metric_stat().is_some())?;
            let expression = a.metrics().iter().find_map(|q| q.expression())?;
            let fill = expression
                .strip_prefix("FILL(")
                .and_then(|rest| rest.trim_end_matches(')').split(',').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok());
            let ms = stat_query.metric_stat()?;
            let m = ms.metric()?;
            (
                m.namespace()?.to_owned(),
                m.metric_name()?.to_owned(),
                m.dimensions()
                    .iter()
                    .map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
                    .collect::<Option<Vec<_>>>()?,
                ms.stat()?.to_owned(),
                i64::from(ms.period()?),
                fill,
            )
        };
        Some(AlarmModel {
            name: name.to_owned(),
            namespace,
            metric,
            dimensions,
            stat,
            period,
            evaluation_periods: usize::try_from(a.evaluation_periods()?).ok()?,
            datapoints_to_alarm: usize::try_from(a.datapoints_to_alarm().or(a.evaluation_periods())?).ok()?,
            threshold: a.threshold()?,
            comparison: a.comparison_operator()?.clone(),
            missing: Missing::parse(a.treat_missing_data()),
            fill,
        })
    }

    /// The evaluation range ending at `at` (seconds since the epoch): one value per period,
    /// oldest first, `None` where the metric has no datapoint.
    pub async fn range_at(&self, cw: &aws_sdk_cloudwatch::Client, at: i64) -> Result<Vec<Option<f64>>, String> {
        let end = at - at.rem_euclid(self.period);
        let start = end - self.period * self.evaluation_periods as i64;
        let query = MetricDataQuery::builder()
            .id("m1")
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(&self.namespace)
                            .metric_name(&self.metric)
                            .set_dimensions(Some(
                                self.dimensions
                                    .iter()
                                    .map(|(n, v)| Dimension::builder().name(n).value(v).build())
                                    .collect(),
                            ))
                            .build(),
                    )
                    .period(i32::try_from(self.period).unwrap_or(60))
                    .stat(&self.stat)
                    .build(),
            )
            .build();
        let out = cw
            .get_metric_data()
            .metric_data_queries(query)
            .start_time(aws_smithy_types::DateTime::from_secs(start))
            .end_time(aws_smithy_types::DateTime::from_secs(end))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let mut range = vec![None; self.evaluation_periods];
        if let Some(r) = out.metric_data_results().first() {
            for (t, v) in r.timestamps().iter().zip(r.values()) {
                let slot = (t.secs() - start) / self.period;
                if let Some(s) = usize::try_from(slot).ok().and_then(|i| range.get_mut(i)) {
                    *s = Some(*v);
                }
            }
        }
        Ok(range)
    }

    /// One evaluation as CloudWatch would make it at `at` (seconds since the epoch; now, or a
    /// simulated later time), from the state the alarm has; sets the state it reaches.
    pub async fn evaluate_at(&self, cw: &aws_sdk_cloudwatch::Client, at: i64) -> Result<StateValue, String> {
        let current = cw
            .describe_alarms()
            .alarm_names(&self.name)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?
            .metric_alarms()
            .first()
            .and_then(|a| a.state_value().cloned())
            .unwrap_or(StateValue::InsufficientData);
        let range = self.range_at(cw, at).await?;
        let next = self.next_state(&range, current.clone());
        if next != current {
            cw.set_alarm_state()
                .alarm_name(&self.name)
                .state_value(next.clone())
                .state_reason(format!("CloudWatch model: evaluation range {range:?}"))
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
        }
        Ok(next)
    }

    /// Now, in seconds since the epoch.
    pub fn now() -> i64 {
        aws_smithy_types::DateTime::from(SystemTime::now()).secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttles(namespace: &str, missing: Missing, fill: Option<f64>) -> AlarmModel {
        AlarmModel {
            name: "t".into(),
            namespace: namespace.into(),
            metric: "ThrottledRequests".into(),
            dimensions: vec![],
            stat: "Sum".into(),
            period: 60,
            evaluation_periods: 2,
            datapoints_to_alarm: 2,
            threshold: 10.0,
            comparison: ComparisonOperator::GreaterThanThreshold,
            missing,
            fill,
        }
    }

    #[test]
    fn m_of_n_breaching_datapoints_alarm_and_fewer_are_ok() {
        let a = throttles("aworld/Test", Missing::Missing, None);
        assert_eq!(a.next_state(&[Some(50.0), Some(50.0)], StateValue::Ok), StateValue::Alarm);
        assert_eq!(a.next_state(&[Some(50.0), Some(1.0)], StateValue::Alarm), StateValue::Ok);
        let three_of_three = AlarmModel {
            evaluation_periods: 3,
            datapoints_to_alarm: 3,
            ..a.clone()
        };
        assert_eq!(
            three_of_three.next_state(&[Some(50.0), Some(1.0), Some(50.0)], StateValue::Ok),
            StateValue::Ok,
            "3 of 3 needed"
        );
        let m_of_n = AlarmModel {
            evaluation_periods: 3,
            datapoints_to_alarm: 2,
            ..a
        };
        assert_eq!(
            m_of_n.next_state(&[Some(50.0), Some(1.0), Some(50.0)], StateValue::Ok),
            StateValue::Alarm
        );
    }

    #[test]
    fn missing_data_counts_as_its_treatment_says() {
        let quiet = [None, None];
        assert_eq!(
            throttles("aworld/Test", Missing::Missing, None).next_state(&quiet, StateValue::Alarm),
            StateValue::InsufficientData
        );
        assert_eq!(
            throttles("aworld/Test", Missing::Ignore, None).next_state(&quiet, StateValue::Alarm),
            StateValue::Alarm
        );
        assert_eq!(
            throttles("aworld/Test", Missing::NotBreaching, None).next_state(&quiet, StateValue::Alarm),
            StateValue::Ok
        );
        assert_eq!(
            throttles("aworld/Test", Missing::Breaching, None).next_state(&quiet, StateValue::Ok),
            StateValue::Alarm
        );
    }

    #[test]
    fn an_aws_dynamodb_alarm_ignores_missing_data_whatever_it_says_unless_metric_math_fills_it() {
        let quiet = [None, None];
        let plain = throttles("AWS/DynamoDB", Missing::NotBreaching, None);
        assert_eq!(
            plain.next_state(&quiet, StateValue::Alarm),
            StateValue::Alarm,
            "stays in ALARM in quiet minutes"
        );
        let filled = throttles("AWS/DynamoDB", Missing::NotBreaching, Some(0.0));
        assert_eq!(
            filled.next_state(&quiet, StateValue::Alarm),
            StateValue::Ok,
            "FILL(m1, 0) returns it to OK"
        );
        assert_eq!(filled.next_state(&[Some(50.0), Some(50.0)], StateValue::Ok), StateValue::Alarm);
    }
}
