//! readiness-check: every 30 minutes, in each region, read the whole failover path on the live
//! account (signals, DNS, capacity, data, notifications, permissions, configuration) and grade
//! each item PASS / WARN / FAIL with what is wrong and the fix. The report is kept in the state
//! table (`resilience status` shows it and its age); a change of grade is notified once; EMF
//! metrics per grade feed the dashboard. Reads only: it changes nothing it checks.

use chrono::Utc;
use resilience_core::act::readiness::{CheckInputs, ReadinessProbe};
use resilience_core::config::{Policy, SuiteConfig};
use resilience_core::decide::readiness::{self, Change, Grade, ReadinessReport};
use resilience_core::documents::dns as dns_state;
use resilience_core::evidence;
use resilience_core::evidence::notify::Notifier;
use resilience_core::evidence::telemetry::{Metrics, Unit};
use resilience_core::handler::once::{Once, exactly_once};
use resilience_core::handler::{ReactError, audit_rejected, dispatch};
use resilience_core::model::Region;
use resilience_core::model::audit::{AuditRecord, DecisionName, Outcome};
use resilience_core::model::{Notification, Severity};
use resilience_core::signal::{Signal, SignalKind};
use resilience_core::store::StateStore;
use serde_json::{Value, json};

pub const FUNCTION: &str = "readiness-check";

#[derive(Debug)]
pub struct ReadinessCheck<S, N> {
    pub config: SuiteConfig,
    pub region: Region,
    pub store: S,
    /// Every region's state table, to read the recorded DNS state where each copy is written.
    pub peers: Vec<(Region, S)>,
    pub notifier: N,
    pub probe: ReadinessProbe,
    /// The SSM parameter the functions read their configuration from.
    pub parameter: Option<String>,
}

/// Its failures: the store, the exactly-once guard, input that is not a signal.
pub type CheckError = ReactError;

/// The notification for the changes of one check, if any: critical when an item newly fails,
/// a warning when one newly warns, information when items only got better.
pub fn notification(region: &Region, report: &ReadinessReport, changes: &[Change]) -> Option<Notification> {
    let worst = changes.iter().map(|c| c.to).max()?;
    let severity = match worst {
        Grade::Fail => Severity::Critical,
        Grade::Warn => Severity::Warning,
        Grade::Pass => Severity::Info,
    };
    let lines: Vec<String> = changes
        .iter()
        .map(|c| {
            format!(
                "{} -> {:?}: {}: {}{}",
                c.from.map_or("new".to_owned(), |g| format!("{g:?}")),
                c.to,
                c.key,
                c.detail,
                if c.fix.is_empty() {
                    String::new()
                } else {
                    format!(" (fix: {})", c.fix)
                }
            )
        })
        .collect();
    Some(Notification {
        severity,
        function: FUNCTION.into(),
        region: region.clone(),
        subject: format!(
            "Readiness {:?} seen from {region}: {} item(s) changed",
            report.grade(),
            changes.len()
        ),
        summary: format!("{}\n\n{}", report.summary(), lines.join("\n")),
        body: json!({ "changes": changes, "summary": report.summary() }),
    })
}

impl<S: StateStore, N: Notifier> ReadinessCheck<S, N> {
    pub async fn handle(&self, payload: Value) -> Result<Value, CheckError> {
        dispatch(
            &payload,
            &self.config,
            (FUNCTION, self.region.as_str()),
            async |signal| self.react(signal).await,
            async |e| audit_rejected(&self.store, &self.config, FUNCTION, self.region.as_str(), e, &payload).await,
        )
        .await
    }

    pub async fn react(&self, signal: &Signal) -> Result<Value, CheckError> {
        if !matches!(signal.kind, SignalKind::Schedule(_)) {
            return Ok(json!({ "signal": signal.key, "decision": "no-action", "why": "readiness-check runs on its schedule only" }));
        }
        // A retried tick is the same check: one report, one notification.
        let policy = Policy {
            lease_seconds: self.config.policy.lease_seconds.max(300),
            ..self.config.policy.clone()
        };
        let lease = format!("readiness@{}", self.region);
        match exactly_once(&self.store, &policy, FUNCTION, &signal.key, &lease, async || {
            self.check(signal).await
        })
        .await?
        {
            Once::Ran(v) => Ok(v),
            Once::Duplicate { status } => {
                let mut m = Metrics::for_function(&self.config.platform, FUNCTION, self.region.as_str());
                evidence::duplicate(&mut m, &signal.key, &status);
                Ok(json!({ "signal": signal.key, "duplicate": true, "status": status }))
            }
        }
    }

    async fn check(&self, signal: &Signal) -> Result<(String, Value), CheckError> {
        let started = std::time::Instant::now();
        let recorded_drained = match dns_state::read(&self.config, &self.region, &self.store, &self.peers).await {
            Ok((_, _, merged)) => Some(merged.drained),
            Err(e) => {
                tracing::warn!(error = %e, "the recorded DNS state is unreadable: the DNS answer is not compared");
                None
            }
        };
        let inputs = CheckInputs {
            config_parameter: self.parameter.clone(),
            recorded_drained,
        };
        let report = self.probe.run(&self.config, &self.region, &inputs).await;
        let name = resilience_core::documents::readiness_report(&self.region);
        let previous = self.store.get_state(&name).await?;
        let version = previous.as_ref().map_or(0, |v| v.version);
        let previous: Option<ReadinessReport> = previous.and_then(|v| serde_json::from_value(v.value).ok());
        let changes = readiness::changes(previous.as_ref(), &report);
        let mut record = AuditRecord::new(
            FUNCTION,
            self.region.as_str(),
            Utc::now(),
            &signal.key,
            serde_json::to_value(signal).unwrap_or_default(),
            DecisionName::Verified,
            report.summary(),
        );
        record.outcome = if report.grade() == Grade::Fail {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        };
        if let Some(n) = notification(&self.region, &report, &changes) {
            let sent = evidence::notify(&self.notifier, &n).await;
            if sent.outcome == Outcome::Failed {
                record.reason.push_str(&format!(" (notification failed: {})", sent.detail));
            }
            record.actions.push(sent);
        }
        // The last report, for `resilience status` and the next check's comparison.
        self.store
            .put_state(&name, &serde_json::to_value(&report).unwrap_or_default(), version)
            .await?;
        let mut m = Metrics::for_function(&self.config.platform, FUNCTION, self.region.as_str());
        m.metric("ReadinessGrade", report.grade().level(), Unit::None)
            .metric("ReadinessPass", report.count(Grade::Pass) as f64, Unit::Count)
            .metric("ReadinessWarn", report.count(Grade::Warn) as f64, Unit::Count)
            .metric("ReadinessFail", report.count(Grade::Fail) as f64, Unit::Count)
            .metric("ReadinessApiCalls", report.api_calls as f64, Unit::Count)
            .metric("ReadinessChanges", changes.len() as f64, Unit::Count);
        evidence::record(&self.store, &self.config.policy, &record, &mut m, started).await?;
        Ok((
            record.decision.to_string(),
            json!({
                "signal": signal.key,
                "grade": report.grade(),
                "summary": report.summary(),
                "changes": changes,
                "report": report,
                "audit_id": record.id,
            }),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use resilience_core::decide::readiness::{Area, Item};

    fn report(grade: Grade) -> ReadinessReport {
        ReadinessReport {
            at: Utc::now(),
            checked_from: "eu-south-1".into(),
            items: vec![Item::new(Area::Data, "eu-south-1", "pitr", grade, "d", "f")],
            api_calls: 1,
            seconds: 0.1,
        }
    }

    #[test]
    fn a_new_failure_is_critical_a_healed_item_is_information_and_no_change_is_silence() {
        let region: Region = "eu-south-1".parse().unwrap();
        let failing = report(Grade::Fail);
        let changes = readiness::changes(None, &failing);
        assert_eq!(notification(&region, &failing, &changes).unwrap().severity, Severity::Critical);
        let healed = report(Grade::Pass);
        let changes = readiness::changes(Some(&failing), &healed);
        let n = notification(&region, &healed, &changes).unwrap();
        assert_eq!(n.severity, Severity::Info);
        assert!(
            n.summary.contains("FAIL -> Pass") || n.summary.contains("Fail -> Pass"),
            "{}",
            n.summary
        );
        assert!(notification(&region, &failing, &readiness::changes(Some(&failing), &failing)).is_none());
    }
}
