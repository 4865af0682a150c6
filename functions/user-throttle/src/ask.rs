//! What a signal asks of user-throttle (pure): an offence by a principal, a release, a refusal
//! (an operator not allowed, an alarm CloudWatch does not confirm), or nothing.

use crate::DEFAULT_DETECTOR_SOURCE;
use chrono::{DateTime, Utc};
use resilience_core::act::health::AlarmNow;
use resilience_core::config::{SuiteConfig, ThrottleConfig};
use resilience_core::decide::throttle::Offence;
use resilience_core::model::{AlarmState, Principal};
use resilience_core::signal::{AlarmChange, OperatorCommandKind, Signal, SignalKind};
use std::collections::BTreeMap;

/// What one signal asks of user-throttle (pure).
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    Offence(Principal, Offence),
    Release(Principal),
    Refused(String),
    Nothing(String),
}

/// Whether `alarm` is an offence alarm by name (`throttle.offence_alarm_prefixes`).
pub(crate) fn is_offence_alarm(config: &SuiteConfig, t: &ThrottleConfig, alarm: &str) -> bool {
    if t.offence_alarm_prefixes.is_empty() {
        alarm.starts_with(&format!("{}-anomaly-", config.platform))
    } else {
        t.offence_alarm_prefixes.iter().any(|p| alarm.starts_with(p.as_str()))
    }
}

/// The principal an alarm's metric dimensions name (`throttle.principal_dimensions`), if any.
fn principal_in(
    t: &ThrottleConfig,
    dimensions: &BTreeMap<String, String>,
) -> Option<Result<Principal, resilience_core::model::InvalidPrincipal>> {
    t.principal_dimensions
        .iter()
        .find_map(|(dim, kind)| dimensions.get(dim).map(|v| Principal::of(kind, v)))
}

/// Whether CloudWatch confirms an alarm offence (pure): the alarm exists, is in ALARM now,
/// and its own metric names the principal the event names. Anyone who can put an event or
/// invoke the function can claim an alarm fired for any user.
pub fn confirm_alarm(t: &ThrottleConfig, alarm: &AlarmChange, principal: &Principal, now: Option<&AlarmNow>) -> Result<(), String> {
    let name = &alarm.alarm_name;
    let Some(now) = now else {
        return Err(format!("alarm {name} does not exist (a forged or deleted alarm)"));
    };
    if now.state != AlarmState::Alarm {
        return Err(format!("alarm {name} is {} now, not ALARM", now.state));
    }
    match principal_in(t, &now.dimensions) {
        Some(Ok(p)) if &p == principal => Ok(()),
        Some(Ok(p)) => Err(format!("alarm {name} watches {p}, not {principal}")),
        _ => Err(format!("alarm {name} has no principal dimension in CloudWatch")),
    }
}

pub fn ask(config: &SuiteConfig, t: &ThrottleConfig, signal: &Signal, now: DateTime<Utc>) -> Ask {
    match &signal.kind {
        SignalKind::Alarm(a) if a.state == AlarmState::Alarm && !is_offence_alarm(config, t, &a.alarm_name) => Ask::Nothing(format!(
            "alarm {} is not an offence alarm (throttle.offence_alarm_prefixes)",
            a.alarm_name
        )),
        SignalKind::Alarm(a) if a.state == AlarmState::Alarm => match principal_in(t, &a.dimensions) {
            Some(Ok(p)) => Ask::Offence(
                p,
                Offence {
                    at: signal.at,
                    reason: format!("alarm {}: {}", a.alarm_name, a.reason.chars().take(200).collect::<String>()),
                    source: format!("alarm:{}", a.alarm_name),
                    signal: signal.key.clone(),
                },
            ),
            Some(Err(e)) => Ask::Refused(format!("alarm {} names no valid principal: {e}", a.alarm_name)),
            None => Ask::Nothing(format!("alarm {} has no principal dimension", a.alarm_name)),
        },
        SignalKind::Alarm(a) => Ask::Nothing(format!("alarm {} is {}: nothing to throttle", a.alarm_name, a.state)),
        SignalKind::Suspicious(f) => {
            let allowed = if t.detector_sources.is_empty() {
                f.source == DEFAULT_DETECTOR_SOURCE
            } else {
                t.detector_sources.contains(&f.source)
            };
            if !allowed {
                return Ask::Refused(format!("detector source {:?} is not allowed", f.source));
            }
            Ask::Offence(
                f.principal.clone(),
                Offence {
                    at: signal.at,
                    reason: f.reason.chars().take(300).collect(),
                    source: f.source.clone(),
                    signal: signal.key.clone(),
                },
            )
        }
        SignalKind::Operator(cmd) if matches!(cmd.command, OperatorCommandKind::Throttle | OperatorCommandKind::Release) => {
            if let Err(r) = cmd.authorize(config, signal.channel, now) {
                return Ask::Refused(format!("operator command {:?} refused: {r}", cmd.command));
            }
            let principal = match cmd.detail.principal.as_deref().map(Principal::parse) {
                Some(Ok(p)) => p,
                Some(Err(e)) => return Ask::Refused(e.to_string()),
                None => return Ask::Refused(format!("{:?} command names no principal", cmd.command)),
            };
            if cmd.command == OperatorCommandKind::Release {
                Ask::Release(principal)
            } else {
                Ask::Offence(
                    principal,
                    Offence {
                        at: signal.at,
                        reason: format!("operator {}: {}", cmd.detail.requested_by, cmd.detail.reason),
                        source: "operator".into(),
                        signal: signal.key.clone(),
                    },
                )
            }
        }
        _ => Ask::Nothing("not a user-throttle signal".into()),
    }
}
