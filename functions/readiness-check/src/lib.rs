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
use resilience_core::handler::reaction::{Core, once};
use resilience_core::handler::{Answer, ReactError, Reaction, serve};
use resilience_core::model::audit::{AuditRecord, DecisionName, Outcome};
use resilience_core::model::{Function, Region};
use resilience_core::model::{Notification, Severity};
use resilience_core::signal::{Signal, SignalKind};
use resilience_core::store::StateStore;
use serde_json::{Value, json};

pub const FUNCTION: &str = Function::ReadinessCheck.as_str();

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
    /// The configuration key the stack pins for it.
    pub signer: Option<resilience_core::config::signed::Signer>,
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

impl<S: StateStore, N: Notifier> Reaction for ReadinessCheck<S, N> {
    type Store = S;
    type Error = CheckError;
    const FUNCTION: Function = Function::ReadinessCheck;

    fn core(&self) -> Core<'_, S> {
        Core::new(&self.config, &self.region, &self.store)
    }

    fn lease(&self, _signal: &Signal) -> String {
        format!("readiness@{}", self.region)
    }

    /// A retried tick is the same check: one report, one notification; a check reads for
    /// minutes, so its claim and lease are held at least five.
    fn policy(&self) -> Policy {
        Policy {
            lease_seconds: self.config.policy.lease_seconds.max(300),
            ..self.config.policy.clone()
        }
    }

    async fn route(&self, signal: &Signal) -> Result<Option<Answer>, CheckError> {
        Ok((!matches!(signal.kind, SignalKind::Schedule(_)))
            .then(|| Answer::decided(&signal.key, DecisionName::NoAction, "readiness-check runs on its schedule only")))
    }

    async fn react(&self, signal: &Signal) -> Result<(String, Answer), CheckError> {
        self.check(signal).await
    }
}

impl<S: StateStore, N: Notifier> ReadinessCheck<S, N> {
    pub async fn handle(&self, payload: Value) -> Result<Value, CheckError> {
        serve(self, &payload).await
    }

    /// One signal, exactly once.
    pub async fn react(&self, signal: &Signal) -> Result<Answer, CheckError> {
        once(self, signal).await
    }

    async fn check(&self, signal: &Signal) -> Result<(String, Answer), CheckError> {
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
            config_signer: self.signer.clone(),
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
            Answer::audited(&record)
                .with("grade", report.grade())
                .with("summary", report.summary())
                .with("changes", &changes)
                .with("report", &report),
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
