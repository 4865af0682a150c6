//! The dns-failover decision: a pure function of (signal, DNS state, region health, policy,
//! clock). No AWS here; the handler reads the inputs, calls [`decide`], and carries out the
//! plan.
//!
//! Invariants, whatever signals arrive in whatever order:
//! - the last serving region is never drained;
//! - traffic never moves to a region whose health alarms are not all OK (or that cannot be read);
//! - no automatic failback inside the hold-down window, nor before the region has been healthy
//!   without interruption for `failback_healthy_seconds` (and only if `auto_failback`);
//! - with the kill switch on, or frozen, no automatic action (the plan is still reported).

use crate::config::SuiteConfig;
use crate::model::Region;
use crate::model::Severity;
use crate::model::audit::DecisionName;
use crate::model::{AlarmState, HealthView, RegionHealth, Unread};
use crate::signal::{HealthStatus, OperatorCommandKind, Signal, SignalKind};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What dns-failover remembers about the protected DNS name (one state document).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsState {
    /// Regions currently drained from DNS.
    #[serde(default)]
    pub drained: BTreeSet<Region>,
    /// Which strategies hold each drained region out of DNS (applied, confirmed or not): a
    /// failback undoes each of them. A drained region missing here (state written before this
    /// was recorded) is restored through every configured strategy.
    #[serde(default)]
    pub drained_by: BTreeMap<Region, BTreeSet<crate::config::Strategy>>,
    /// When each region was last drained or restored: the timestamp of its register. Each
    /// region's dns-failover writes its own copy of this document; [`merge`] keeps, per
    /// region, the latest change from any copy.
    #[serde(default)]
    pub changed_at: BTreeMap<Region, DateTime<Utc>>,
    /// When `frozen` was last set or cleared (the same kind of register).
    #[serde(default)]
    pub frozen_at: Option<DateTime<Utc>>,
    /// Frozen by an operator: no automatic action until unfrozen.
    #[serde(default)]
    pub frozen: bool,
    #[serde(default)]
    pub last_failover_at: Option<DateTime<Utc>>,
    /// Since when each region has been seen healthy without interruption.
    #[serde(default)]
    pub healthy_since: BTreeMap<Region, DateTime<Utc>>,
    /// Open AWS Health issues per region (event ARNs).
    #[serde(default)]
    pub open_health_issues: BTreeMap<Region, BTreeSet<String>>,
    /// When each open issue (event ARN) was first seen: it expires after
    /// `health_events.expire_hours` without its closing event.
    #[serde(default)]
    pub health_issue_seen: BTreeMap<String, DateTime<Utc>>,
    /// Notifications that could not be sent yet; the next invocation sends them first.
    #[serde(default)]
    pub outbox: Vec<crate::model::Notification>,
}

/// A switch that does not say what the state records: changed outside the suite (a drain
/// metric written by hand or by a forger, a record's weight edited), or a change the suite lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub region: Region,
    pub strategy: crate::config::Strategy,
    /// Whether the switch holds the region out of DNS now.
    pub holds: bool,
}

impl Drift {
    pub fn describe(&self) -> String {
        let strategy = serde_json::to_value(self.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if self.holds {
            format!(
                "{} {strategy}: the switch holds it OUT of DNS, the state says it serves",
                self.region
            )
        } else {
            format!("{} {strategy}: the switch lets it SERVE, the state says it is drained", self.region)
        }
    }

    /// One drift episode (this switch, this way, since the region's last recorded change):
    /// alerted once, and put back only when seen again at a later check, so a change another
    /// region is saving at this moment is never undone.
    pub fn key(&self, state: &DnsState) -> String {
        format!(
            "drift:{}:{:?}:{}:{}",
            self.region,
            self.strategy,
            self.holds,
            state.changed_at.get(&self.region).map_or(0, DateTime::timestamp)
        )
    }
}

/// The drifts among `read` switches (region, strategy, holds it out now), against the state
/// (pure). A region recorded drained without the strategies that hold it (a state written
/// before they were recorded) is not compared: which switch should hold it is unknown.
pub fn drifts(state: &DnsState, read: &[(Region, crate::config::Strategy, bool)]) -> Vec<Drift> {
    read.iter()
        .filter_map(|(region, strategy, holds)| {
            let recorded = match state.drained_by.get(region) {
                Some(by) => by.contains(strategy),
                None if state.drained.contains(region) => return None,
                None => false,
            };
            (recorded != *holds).then(|| Drift {
                region: region.clone(),
                strategy: *strategy,
                holds: *holds,
            })
        })
        .collect()
}

/// How one region stands against the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub failing: bool,
    /// Every configured health signal is OK: traffic may move here.
    pub healthy: bool,
    pub in_alarm: Vec<String>,
    pub not_ok: Vec<String>,
    pub votes: usize,
    pub quorum: usize,
    pub why: String,
}

/// Evaluates one region's health against the policy.
pub fn verdict(config: &SuiteConfig, region: &Region, health: Option<&RegionHealth>, state: &DnsState) -> Verdict {
    let policy = &config.policy;
    let quorum = policy.quorum;
    let Some(rc) = config.regions.get(region) else {
        return Verdict {
            failing: false,
            healthy: false,
            in_alarm: vec![],
            not_ok: vec![],
            votes: 0,
            quorum,
            why: format!("{region} is not a configured region"),
        };
    };
    let open_issues = state.open_health_issues.get(region).map_or(0, BTreeSet::len);
    let unreachable = health.is_none_or(|h| !h.reachable);
    let state_of = |name: &str| health.and_then(|h| h.alarms.get(name)).copied();
    let in_alarm: Vec<String> = rc
        .health_alarms
        .iter()
        .filter(|a| state_of(a) == Some(AlarmState::Alarm))
        .cloned()
        .collect();
    // Each alarm that is not OK, with why: a configured alarm that DescribeAlarms does not find
    // is a configuration error, named as such in the decision's audit record and notification.
    let mut not_ok: Vec<String> = rc
        .health_alarms
        .iter()
        .chain(rc.composite_alarm.iter())
        .filter_map(|a| match state_of(a) {
            Some(AlarmState::Ok) => None,
            Some(s) => Some(format!("{a} {s}")),
            None if unreachable => Some(format!("{a} unread")),
            None => Some(format!(
                "{a} DOES NOT EXIST in {region} (configuration error: fix regions.{region} or create the alarm)"
            )),
        })
        .collect();
    if open_issues > 0 {
        not_ok.push(format!("{open_issues} open AWS Health issue(s)"));
    }
    let composite = rc
        .composite_alarm
        .as_deref()
        .is_some_and(|c| state_of(c) == Some(AlarmState::Alarm));
    let health_vote = usize::from(open_issues > 0);
    let votes = in_alarm.len() + health_vote;
    let lone = policy.single_alarm_fails_region && rc.health_alarms.len() == 1 && in_alarm.len() == 1;
    let decisive_health = config.health_events.decisive && open_issues > 0;

    if let Some(unread) = health.and_then(|h| h.unread.as_ref()) {
        let (Unread::Throttled(m) | Unread::Refused(m)) = unread;
        return Verdict {
            failing: false,
            healthy: false,
            in_alarm,
            not_ok: vec![format!("{region}'s alarms could not be read ({m})")],
            votes: 0,
            quorum,
            why: format!("{region}'s alarms could not be read, which says nothing about the region: {m}"),
        };
    }
    let (failing, why) = if unreachable {
        (true, format!("{region}'s CloudWatch could not be read from outside the region"))
    } else if composite {
        (
            true,
            format!("composite alarm {} is in ALARM", rc.composite_alarm.as_deref().unwrap_or_default()),
        )
    } else if decisive_health {
        (true, format!("{open_issues} open AWS Health issue(s) in {region}"))
    } else if votes >= quorum || lone {
        (
            true,
            format!(
                "{votes} of {} health signals failing (quorum {quorum}): {}",
                rc.health_alarms.len() + health_vote,
                in_alarm.join(", ")
            ),
        )
    } else {
        (
            false,
            format!("{votes} of {} health signals failing, quorum is {quorum}", rc.health_alarms.len()),
        )
    };
    Verdict {
        failing,
        healthy: !unreachable && not_ok.is_empty(),
        in_alarm,
        not_ok,
        votes,
        quorum,
        why,
    }
}

/// Updates what is remembered about health from a signal and a fresh reading (pure).
pub fn observe(config: &SuiteConfig, state: &DnsState, signal: &Signal, health: &HealthView, now: DateTime<Utc>) -> DnsState {
    let mut next = state.clone();
    if let SignalKind::Health(h) = &signal.kind
        && config.health_events.services.contains(&h.service)
        && config.regions.contains_key(&h.region)
    {
        let issues = next.open_health_issues.entry(h.region.clone()).or_default();
        match h.status {
            // Only an `issue` is evidence of failure: an open `scheduledChange` or
            // `accountNotification` (a planned lifecycle notice, open for months) is not
            // (AWS Health event types, eventTypeCategory).
            HealthStatus::Open if h.category == "issue" => {
                issues.insert(h.event_arn.clone());
                next.health_issue_seen.entry(h.event_arn.clone()).or_insert(now);
            }
            HealthStatus::Open => {}
            HealthStatus::Closed => {
                issues.remove(&h.event_arn);
                next.health_issue_seen.remove(&h.event_arn);
            }
            HealthStatus::Upcoming => {}
        }
    }
    // Issues whose closing event never came expire (one recorded before times were kept is
    // timed from now).
    let ttl = secs(config.health_events.expire_hours.saturating_mul(3600));
    for issues in next.open_health_issues.values_mut() {
        for arn in issues.iter() {
            next.health_issue_seen.entry(arn.clone()).or_insert(now);
        }
        issues.retain(|arn| next.health_issue_seen.get(arn).is_some_and(|seen| now - *seen < ttl));
    }
    next.open_health_issues.retain(|_, issues| !issues.is_empty());
    let open: BTreeSet<&String> = next.open_health_issues.values().flatten().collect();
    next.health_issue_seen.retain(|arn, _| open.contains(arn));
    for region in config.regions.keys() {
        // A reading we did not get says nothing: the healthy period neither starts nor ends.
        if health.get(region).is_some_and(|h| h.unread.is_some()) {
            continue;
        }
        if verdict(config, region, health.get(region), &next).healthy {
            next.healthy_since.entry(region.clone()).or_insert(now);
        } else {
            next.healthy_since.remove(region);
        }
    }
    next
}

/// Take `drain` out of DNS, sending its traffic to `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverPlan {
    pub drain: Region,
    pub target: Region,
    pub why: String,
    /// Asked for by an operator (not automatic).
    pub manual: bool,
}

/// Put `region` back into DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailbackPlan {
    pub region: Region,
    pub why: String,
    pub manual: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    Failover(FailoverPlan),
    Failback(FailbackPlan),
    Freeze {
        by: String,
    },
    Unfreeze {
        by: String,
    },
    /// An operator command that is not obeyed: its sender or principal is not allowed, or a
    /// safety rule stops it (traffic is never moved to a region that is not healthy).
    Refused {
        why: String,
    },
    NoAction(NoAction),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoAction {
    pub reason: NoActionReason,
    pub why: String,
    /// What would have been done, when a switch (kill switch, freeze) stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<Box<Decision>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoActionReason {
    NotForThisFunction,
    UnknownRegion,
    NotAHealthSignal,
    RegionNotFailing,
    AlreadyDrained,
    NotDrained,
    LastServingRegion,
    BothRegionsFailing,
    TargetNotHealthy,
    HoldDown,
    FailbackIsManual,
    NotHealthyLongEnough,
    KillSwitch,
    Frozen,
    /// A region's alarms were refused to us (AccessDenied, validation): a configuration error.
    HealthReadRefused,
    /// Another region's function carries this drain or restore out.
    OtherRegionActs,
}

impl NoActionReason {
    /// Some refusals need a person now.
    pub fn severity(self) -> Option<Severity> {
        match self {
            NoActionReason::LastServingRegion
            | NoActionReason::BothRegionsFailing
            | NoActionReason::TargetNotHealthy
            | NoActionReason::HealthReadRefused => Some(Severity::Critical),
            NoActionReason::KillSwitch | NoActionReason::Frozen => Some(Severity::Warning),
            _ => None,
        }
    }
}

fn none(reason: NoActionReason, why: impl Into<String>) -> Decision {
    Decision::NoAction(NoAction {
        reason,
        why: why.into(),
        withheld: None,
    })
}

impl Decision {
    pub fn name(&self) -> DecisionName {
        match self {
            Decision::Failover(_) => DecisionName::Failover,
            Decision::Failback(_) => DecisionName::Failback,
            Decision::Freeze { .. } => DecisionName::Freeze,
            Decision::Unfreeze { .. } => DecisionName::Unfreeze,
            Decision::Refused { .. } => DecisionName::Refused,
            Decision::NoAction(_) => DecisionName::NoAction,
        }
    }

    pub fn why(&self) -> String {
        match self {
            Decision::Failover(p) => format!("drain {} and send its traffic to {}: {}", p.drain, p.target, p.why),
            Decision::Failback(p) => format!("restore {} to DNS: {}", p.region, p.why),
            Decision::Freeze { by } => format!("frozen by {by}: no automatic action until unfrozen"),
            Decision::Unfreeze { by } => format!("unfrozen by {by}"),
            Decision::Refused { why } => why.clone(),
            Decision::NoAction(n) => n.why.clone(),
        }
    }

    /// Whether the decision changes DNS.
    pub fn moves_traffic(&self) -> bool {
        matches!(self, Decision::Failover(_) | Decision::Failback(_))
    }
}

/// The regions whose unreadable health kept `decision` from moving traffic: were they healthy,
/// the decision would move it. An unreachable region counts as failing (principle: outside-in
/// evidence), which is right for the region being drained but not for the target: a transient
/// fault in reading the healthy region must not consume the event. The handler audits such a
/// decision as inconclusive and fails retryably, so the event is re-driven.
pub fn inconclusive(
    config: &SuiteConfig,
    state: &DnsState,
    signal: &Signal,
    health: &HealthView,
    now: DateTime<Utc>,
    decision: &Decision,
) -> Vec<Region> {
    let unreadable: Vec<Region> = health
        .iter()
        .filter(|(_, h)| !h.reachable || matches!(h.unread, Some(Unread::Throttled(_))))
        .map(|(r, _)| r.clone())
        .collect();
    if unreadable.is_empty() || decision.moves_traffic() {
        return vec![];
    }
    // Were the unread regions readable, would traffic move? Each is tried both ways: OK (a
    // healthy target read badly) and, for a throttled one, ALARM (a failing region read badly:
    // its state-change event will not come again, so it must not be consumed).
    let assume = |throttled_state: AlarmState| {
        let mut assumed = health.clone();
        for region in &unreadable {
            let Some(rc) = config.regions.get(region) else { continue };
            let throttled = health.get(region).is_some_and(|h| h.reachable);
            let state = if throttled { throttled_state } else { AlarmState::Ok };
            let mut alarms: BTreeMap<String, AlarmState> = rc.health_alarms.iter().map(|a| (a.clone(), state)).collect();
            if let Some(c) = &rc.composite_alarm {
                alarms.insert(c.clone(), AlarmState::Ok);
            }
            assumed.insert(region.clone(), RegionHealth::read(alarms));
        }
        decide(config, state, signal, &assumed, now).moves_traffic()
    };
    if assume(AlarmState::Ok) || assume(AlarmState::Alarm) {
        unreadable
    } else {
        vec![]
    }
}

/// The decision for one signal.
pub fn decide(config: &SuiteConfig, state: &DnsState, signal: &Signal, health: &HealthView, now: DateTime<Utc>) -> Decision {
    // Alarms we are refused are a configuration problem: nothing automatic or manual moves
    // traffic on a reading we could not make (an operator command is refused too, since its
    // target's health is unknown), and a person is told what to fix.
    let refused: Vec<String> = health
        .iter()
        .filter_map(|(r, h)| match &h.unread {
            Some(Unread::Refused(m)) => Some(format!("{r}: {m}")),
            _ => None,
        })
        .collect();
    let moves = match &signal.kind {
        SignalKind::Operator(cmd) => matches!(cmd.command, OperatorCommandKind::Failover | OperatorCommandKind::Failback),
        // A schedule only re-checks failbacks: a refused read makes the region not healthy, so
        // nothing moves, without a critical alert every five minutes.
        SignalKind::Suspicious(_) | SignalKind::Schedule(_) => false,
        _ => true,
    };
    if !refused.is_empty() && moves {
        return none(
            NoActionReason::HealthReadRefused,
            format!(
                "the health alarms could not be read, the request was refused ({}): a configuration error (the role's cloudwatch:DescribeAlarms, the alarm names); no action until it is fixed",
                refused.join("; ")
            ),
        );
    }
    match &signal.kind {
        SignalKind::Operator(cmd) => {
            if let Err(refusal) = cmd.authorize(config, signal.channel, now) {
                return Decision::Refused {
                    why: format!("operator command {:?} refused: {refusal}", cmd.command),
                };
            }
            let by = cmd.detail.requested_by.clone();
            let decided = match cmd.command {
                OperatorCommandKind::Freeze => Decision::Freeze { by },
                OperatorCommandKind::Unfreeze => Decision::Unfreeze { by },
                OperatorCommandKind::Failover => match &cmd.detail.region {
                    None => none(NoActionReason::UnknownRegion, "failover command names no target region"),
                    Some(target) => manual_failover(config, state, health, target, &by, &cmd.detail.reason),
                },
                OperatorCommandKind::Failback => match &cmd.detail.region {
                    None => none(NoActionReason::UnknownRegion, "failback command names no region"),
                    Some(region) => failback(
                        config,
                        state,
                        health,
                        region,
                        true,
                        &format!("requested by {by}: {}", cmd.detail.reason),
                    ),
                },
                other => none(
                    NoActionReason::NotForThisFunction,
                    format!("{other:?} is not a dns-failover command"),
                ),
            };
            refused_by_a_safety_rule(cmd.command, decided)
        }
        SignalKind::Alarm(a) => {
            if !config.regions.contains_key(&a.region) {
                return none(
                    NoActionReason::UnknownRegion,
                    format!("alarm {} speaks for {}, which is not a configured region", a.alarm_name, a.region),
                );
            }
            let rc = &config.regions[&a.region];
            let is_health = rc.health_alarms.contains(&a.alarm_name) || rc.composite_alarm.as_deref() == Some(a.alarm_name.as_str());
            if !is_health {
                return none(
                    NoActionReason::NotAHealthSignal,
                    format!("alarm {} is not a health alarm of {}", a.alarm_name, a.region),
                );
            }
            match a.state {
                AlarmState::Alarm => automatic_failover(config, state, health, &a.region),
                _ => automatic_failback(config, state, health, &a.region, now),
            }
        }
        SignalKind::Health(h) => {
            if !config.regions.contains_key(&h.region) {
                return none(
                    NoActionReason::UnknownRegion,
                    format!("AWS Health event for {}, which is not a configured region", h.region),
                );
            }
            if !config.health_events.services.contains(&h.service) {
                return none(
                    NoActionReason::NotAHealthSignal,
                    format!("AWS Health events for {} are not configured to count", h.service),
                );
            }
            match h.status {
                HealthStatus::Open => automatic_failover(config, state, health, &h.region),
                _ => automatic_failback(config, state, health, &h.region, now),
            }
        }
        SignalKind::Suspicious(_) => none(
            NoActionReason::NotForThisFunction,
            "suspicious-activity events are for user-throttle",
        ),
        // A schedule re-evaluates every drained region for automatic failback.
        SignalKind::Schedule(_) => {
            let mut last = none(NoActionReason::NotDrained, "no region is drained");
            for region in &state.drained {
                last = automatic_failback(config, state, health, region, now);
                if last.moves_traffic() || matches!(last, Decision::NoAction(NoAction { withheld: Some(_), .. })) {
                    break;
                }
            }
            last
        }
    }
}

/// Applies the switches: a plan stopped by the kill switch or a freeze is reported, not done.
fn gate(config: &SuiteConfig, state: &DnsState, plan: Decision) -> Decision {
    let (reason, why) = if config.kill_switch {
        (NoActionReason::KillSwitch, "kill switch is on: no automatic action")
    } else if state.frozen {
        (NoActionReason::Frozen, "frozen by an operator: no automatic action")
    } else {
        return plan;
    };
    Decision::NoAction(NoAction {
        reason,
        why: format!("{why} (would have: {})", plan.why()),
        withheld: Some(Box::new(plan)),
    })
}

/// Where traffic from `drain` can go: a serving, healthy region. Errors say why none can.
fn pick_target(config: &SuiteConfig, state: &DnsState, health: &HealthView, drain: &Region) -> Result<Region, Decision> {
    let serving: Vec<&Region> = config
        .regions_by_priority()
        .into_iter()
        .filter(|r| !state.drained.contains(*r) && *r != drain)
        .collect();
    if serving.is_empty() {
        return Err(none(
            NoActionReason::LastServingRegion,
            format!("{drain} is the last serving region: it is never drained"),
        ));
    }
    let verdicts: Vec<(&Region, Verdict)> = serving.iter().map(|r| (*r, verdict(config, r, health.get(*r), state))).collect();
    if let Some((r, _)) = verdicts.iter().find(|(_, v)| v.healthy) {
        return Ok((*r).clone());
    }
    if verdicts.iter().all(|(_, v)| v.failing) {
        let detail: Vec<String> = verdicts.iter().map(|(r, v)| format!("{r}: {}", v.why)).collect();
        return Err(none(
            NoActionReason::BothRegionsFailing,
            format!(
                "{drain} and every other region are failing ({}): no automatic action, a person must decide",
                detail.join("; ")
            ),
        ));
    }
    let detail: Vec<String> = verdicts
        .iter()
        .map(|(r, v)| format!("{r} not OK: {}", v.not_ok.join(", ")))
        .collect();
    Err(none(
        NoActionReason::TargetNotHealthy,
        format!("no healthy region to take {drain}'s traffic ({})", detail.join("; ")),
    ))
}

/// A command a safety rule stops (traffic is never moved to a region that is not healthy) was
/// asked for and is not obeyed: it is refused, and says so, rather than "no action".
fn refused_by_a_safety_rule(command: OperatorCommandKind, decided: Decision) -> Decision {
    match decided {
        Decision::NoAction(n) if n.reason == NoActionReason::TargetNotHealthy => Decision::Refused {
            why: format!("operator command {command:?} refused: {}", n.why),
        },
        d => d,
    }
}

fn automatic_failover(config: &SuiteConfig, state: &DnsState, health: &HealthView, region: &Region) -> Decision {
    if state.drained.contains(region) {
        return none(NoActionReason::AlreadyDrained, format!("{region} is already drained"));
    }
    let v = verdict(config, region, health.get(region), state);
    if !v.failing {
        return none(NoActionReason::RegionNotFailing, format!("{region} is not failing: {}", v.why));
    }
    match pick_target(config, state, health, region) {
        Err(d) => d,
        Ok(target) => gate(
            config,
            state,
            Decision::Failover(FailoverPlan {
                drain: region.clone(),
                target,
                why: v.why,
                manual: false,
            }),
        ),
    }
}

fn manual_failover(config: &SuiteConfig, state: &DnsState, health: &HealthView, target: &Region, by: &str, reason: &str) -> Decision {
    if !config.regions.contains_key(target) {
        return none(NoActionReason::UnknownRegion, format!("{target} is not a configured region"));
    }
    if state.drained.contains(target) {
        return none(
            NoActionReason::TargetNotHealthy,
            format!("{target} is drained itself: fail it back first"),
        );
    }
    // Drain the other serving regions one at a time, least preferred first (with two regions:
    // the other one); a repeated command drains the next.
    let Some(drain) = config
        .regions_by_priority()
        .into_iter()
        .rev()
        .find(|r| *r != target && !state.drained.contains(*r))
    else {
        return none(NoActionReason::AlreadyDrained, format!("{target} already takes all traffic"));
    };
    let v = verdict(config, target, health.get(target), state);
    if !v.healthy {
        return none(
            NoActionReason::TargetNotHealthy,
            format!("{target} is not healthy ({}): traffic is never moved there", v.not_ok.join(", ")),
        );
    }
    Decision::Failover(FailoverPlan {
        drain: drain.clone(),
        target: target.clone(),
        why: format!("requested by {by}: {reason}"),
        manual: true,
    })
}

fn failback(config: &SuiteConfig, state: &DnsState, health: &HealthView, region: &Region, manual: bool, why: &str) -> Decision {
    if !config.regions.contains_key(region) {
        return none(NoActionReason::UnknownRegion, format!("{region} is not a configured region"));
    }
    if !state.drained.contains(region) {
        return none(NoActionReason::NotDrained, format!("{region} is not drained"));
    }
    let v = verdict(config, region, health.get(region), state);
    if !v.healthy {
        return none(
            NoActionReason::TargetNotHealthy,
            format!("{region} is not healthy ({}): traffic is never moved there", v.not_ok.join(", ")),
        );
    }
    Decision::Failback(FailbackPlan {
        region: region.clone(),
        why: why.to_owned(),
        manual,
    })
}

fn automatic_failback(config: &SuiteConfig, state: &DnsState, health: &HealthView, region: &Region, now: DateTime<Utc>) -> Decision {
    if !state.drained.contains(region) {
        return none(NoActionReason::NotDrained, format!("{region} is serving; nothing to restore"));
    }
    let policy = &config.policy;
    if let Some(at) = state.last_failover_at {
        let until = at + secs(policy.hold_down_seconds);
        if now < until {
            return none(
                NoActionReason::HoldDown,
                format!("hold-down after the failover of {at} lasts until {until}"),
            );
        }
    }
    if !policy.auto_failback {
        return none(
            NoActionReason::FailbackIsManual,
            format!("{region} may be healthy again; failback is manual (send a failback command)"),
        );
    }
    let since = state.healthy_since.get(region);
    let needed = secs(policy.failback_healthy_seconds);
    match since {
        Some(since) if now - *since >= needed => {
            let d = failback(
                config,
                state,
                health,
                region,
                false,
                &format!("healthy without interruption since {since}"),
            );
            if d.moves_traffic() { gate(config, state, d) } else { d }
        }
        _ => none(
            NoActionReason::NotHealthyLongEnough,
            format!(
                "{region} must be healthy for {}s without interruption before automatic failback",
                policy.failback_healthy_seconds
            ),
        ),
    }
}

fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

/// The view of the DNS state from this region's copy (`own`) and the copies written by the
/// other regions' dns-failover (`others`, each read from its home region when it answers).
/// Per region, the latest drain or restore wins; so does the latest freeze or unfreeze. What
/// only this region observes (its health readings, its Health events, its outbox) stays its
/// own. Copies are never written by two regions, so replication's last-writer-wins at the
/// item level never loses a change.
pub fn merge(own: &DnsState, others: &[DnsState]) -> DnsState {
    let mut view = own.clone();
    for other in others {
        for (region, at) in &other.changed_at {
            if view.changed_at.get(region).is_none_or(|mine| at > mine) {
                view.changed_at.insert(region.clone(), *at);
                if other.drained.contains(region) {
                    view.drained.insert(region.clone());
                } else {
                    view.drained.remove(region);
                }
                match other.drained_by.get(region) {
                    Some(holding) => view.drained_by.insert(region.clone(), holding.clone()),
                    None => view.drained_by.remove(region),
                };
            }
        }
        // A copy written before registers were kept: its drains count unless a register says otherwise.
        for region in other.drained.iter().filter(|r| !other.changed_at.contains_key(*r)) {
            if !view.changed_at.contains_key(region) {
                view.drained.insert(region.clone());
            }
        }
        if other.frozen_at > view.frozen_at {
            view.frozen = other.frozen;
            view.frozen_at = other.frozen_at;
        }
        view.last_failover_at = view.last_failover_at.max(other.last_failover_at);
    }
    view
}

/// Whether `home`'s dns-failover carries out what concerns `region`: never `region` itself (act
/// from outside the failure). The regions that may act are the other serving ones in order of
/// preference; the first always acts, whatever it reads, and a later one acts only when it
/// reads every earlier one failing. So the same alarm delivered everywhere is acted on by the
/// first candidate as long as its function runs, and by the next when the first's region is
/// down; with two regions, always by the other one. (Two candidates that read the first one
/// differently can both act: the switches read before they change, so the second finds the
/// change in place.) With no serving candidate (the last serving region's own failure), the
/// most preferred other region announces the refusal.
pub fn acts_here(config: &SuiteConfig, state: &DnsState, health: &HealthView, region: &Region, home: &Region) -> bool {
    if home == region {
        return false;
    }
    let others = others_by_priority(config, region);
    let candidates: Vec<&Region> = others.iter().copied().filter(|r| !state.drained.contains(*r)).collect();
    match candidates.iter().position(|r| *r == home) {
        Some(at) => candidates[..at]
            .iter()
            .all(|earlier| verdict(config, earlier, health.get(*earlier), state).failing),
        None => candidates.is_empty() && others.first() == Some(&home),
    }
}

/// The configured regions other than `region`, most preferred first.
fn others_by_priority<'a>(config: &'a SuiteConfig, region: &Region) -> Vec<&'a Region> {
    config.regions_by_priority().into_iter().filter(|r| *r != region).collect()
}

/// The region expected to act on `region` (the first candidate of [`acts_here`]).
pub fn actor(config: &SuiteConfig, state: &DnsState, region: &Region) -> Option<Region> {
    let others = others_by_priority(config, region);
    others
        .iter()
        .find(|r| !state.drained.contains(**r))
        .or_else(|| others.first())
        .map(|r| (*r).clone())
}

/// The decision as this region's function carries it out. An alarm or AWS Health event about
/// region R is delivered to every region's function; only [`actor`]`(R)` acts on it and
/// announces the outcome (a drain, a restore, or a refusal a person must hear of). The others
/// defer: audited, not notified, nothing changed. An operator command is acted on where it is
/// received; a schedule re-evaluates in every region, and the same rule applies to the drain
/// or restore it plans.
pub fn for_this_region(
    config: &SuiteConfig,
    state: &DnsState,
    signal: &Signal,
    health: &HealthView,
    home: &Region,
    decision: Decision,
) -> Decision {
    let subject = match (&signal.kind, &decision) {
        (SignalKind::Operator(_), _) => return decision,
        (_, Decision::Failover(p)) => &p.drain,
        (_, Decision::Failback(p)) => &p.region,
        (SignalKind::Alarm(a), _) => &a.region,
        (SignalKind::Health(h), _) => &h.region,
        _ => return decision,
    };
    if !config.regions.contains_key(subject) {
        return decision;
    }
    if acts_here(config, state, health, subject, home) {
        return decision;
    }
    match actor(config, state, subject) {
        Some(acting) => Decision::NoAction(NoAction {
            reason: NoActionReason::OtherRegionActs,
            why: format!(
                "{acting} acts on {subject} (from outside the failure, by configured priority); this region defers: {}",
                decision.why()
            ),
            withheld: decision.moves_traffic().then(|| Box::new(decision)),
        }),
        None => decision,
    }
}

/// What the switches hold after a drain or restore of `region`: the strategies still keeping
/// it out of DNS. Empty after a confirmed restore.
pub fn record_switches(state: &mut DnsState, region: &Region, holding: BTreeSet<crate::config::Strategy>) {
    if holding.is_empty() {
        state.drained_by.remove(region);
    } else {
        state.drained_by.insert(region.clone(), holding);
    }
}

/// The strategies a failback of `region` must undo: those recorded, or (not recorded) every
/// configured one, each of which reads its state first and leaves a serving region alone.
pub fn holding(config: &SuiteConfig, state: &DnsState, region: &Region) -> BTreeSet<crate::config::Strategy> {
    state
        .drained_by
        .get(region)
        .cloned()
        .unwrap_or_else(|| config.dns.strategies.iter().copied().collect())
}

/// The state after a decision has been carried out.
pub fn apply(state: &DnsState, decision: &Decision, now: DateTime<Utc>) -> DnsState {
    let mut next = state.clone();
    match decision {
        Decision::Failover(p) => {
            next.drained.insert(p.drain.clone());
            next.changed_at.insert(p.drain.clone(), now);
            next.last_failover_at = Some(now);
        }
        Decision::Failback(p) => {
            next.drained.remove(&p.region);
            next.changed_at.insert(p.region.clone(), now);
        }
        Decision::Freeze { .. } => {
            next.frozen = true;
            next.frozen_at = Some(now);
        }
        Decision::Unfreeze { .. } => {
            next.frozen = false;
            next.frozen_at = Some(now);
        }
        Decision::Refused { .. } | Decision::NoAction(_) => {}
    }
    next
}

#[cfg(test)]
mod tests;
