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

mod decision;
mod regions;
mod state;

pub use decision::*;
pub use regions::*;
pub use state::*;

use crate::config::SuiteConfig;
use crate::model::Region;
use crate::model::{AlarmState, HealthView, RegionHealth, Unread};
use crate::signal::{AlarmChange, HealthEvent, HealthStatus, OperatorCommand, OperatorCommandKind, Signal, SignalKind};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// What dns-failover makes of one signal, in one call: the state the signal leaves
/// ([`observe`]), the decision ([`decide`]), the regions whose unreadable health kept it from
/// moving traffic ([`inconclusive`]: audited and retried), and, when it is conclusive, whether
/// this region's function carries it out ([`for_this_region`]). `refusal`: the input was
/// refused before any decision (an AWS Health event the Health API denies).
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub observed: DnsState,
    pub decision: Decision,
    /// Non-empty: the decision rests on health that could not be read.
    pub unreadable: Vec<Region>,
}

pub fn judge(
    config: &SuiteConfig,
    state: &DnsState,
    signal: &Signal,
    health: &HealthView,
    (here, now): (&Region, DateTime<Utc>),
    refusal: Option<String>,
) -> Judgement {
    let (observed, decision) = match refusal {
        Some(why) => (state.clone(), Decision::Refused { why }),
        None => {
            let observed = observe(config, state, signal, health, now);
            let decision = decide(config, &observed, signal, health, now);
            (observed, decision)
        }
    };
    let unreadable = inconclusive(config, &observed, signal, health, now, &decision);
    let decision = if unreadable.is_empty() {
        for_this_region(config, &observed, signal, health, here, decision)
    } else {
        decision
    };
    Judgement {
        observed,
        decision,
        unreadable,
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
        SignalKind::Operator(cmd) => on_command(config, state, signal, cmd, health, now),
        SignalKind::Alarm(a) => on_alarm(config, state, a, health, now),
        SignalKind::Health(h) => on_health_event(config, state, h, health, now),
        SignalKind::Suspicious(_) => none(
            NoActionReason::NotForThisFunction,
            "suspicious-activity events are for user-throttle",
        ),
        SignalKind::Schedule(_) => on_schedule(config, state, health, now),
    }
}

/// An operator command: authorised (signature, sender, principal), then obeyed unless a
/// safety rule stops it, in which case it is refused.
fn on_command(
    config: &SuiteConfig,
    state: &DnsState,
    signal: &Signal,
    cmd: &OperatorCommand,
    health: &HealthView,
    now: DateTime<Utc>,
) -> Decision {
    if let Err(refusal) = cmd.authorize(config, signal.channel, now) {
        return Decision::Refused {
            why: format!("operator command {:?} refused: {refusal}", cmd.command),
        };
    }
    let by = cmd.detail.requested_by.clone();
    let state = &state.for_manual_command();
    let decided = match cmd.command {
        OperatorCommandKind::Freeze | OperatorCommandKind::Unfreeze => in_signed_order(state, cmd, by),
        OperatorCommandKind::ClearHealthIssues => match &cmd.detail.region {
            None => none(NoActionReason::UnknownRegion, "clear-health-issues command names no region"),
            Some(region) => Decision::ClearHealthIssues {
                region: region.clone(),
                by,
            },
        },
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

/// A freeze or unfreeze, applied in the order the commands were signed, not the order they
/// arrived (EventBridge may deliver them out of order, and a delayed copy can be replayed
/// within the age window): one signed before the freeze or unfreeze in force is refused.
fn in_signed_order(state: &DnsState, cmd: &OperatorCommand, by: String) -> Decision {
    let signed_at = cmd.signed_at();
    if let (Some(signed), Some(last)) = (signed_at, state.frozen_at)
        && signed < last
    {
        return Decision::Refused {
            why: format!(
                "{:?} signed at {}, before the {} in force (signed at {}): freezes and unfreezes apply in the order they were signed",
                cmd.command,
                signed.to_rfc3339(),
                if state.frozen { "freeze" } else { "unfreeze" },
                last.to_rfc3339()
            ),
        };
    }
    if cmd.command == OperatorCommandKind::Freeze {
        Decision::Freeze { by, signed_at }
    } else {
        Decision::Unfreeze { by, signed_at }
    }
}

/// A health alarm's change: ALARM drains its region, OK may restore it.
fn on_alarm(config: &SuiteConfig, state: &DnsState, a: &AlarmChange, health: &HealthView, now: DateTime<Utc>) -> Decision {
    let Some(rc) = config.regions.get(&a.region) else {
        return none(
            NoActionReason::UnknownRegion,
            format!("alarm {} speaks for {}, which is not a configured region", a.alarm_name, a.region),
        );
    };
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

/// An AWS Health event for a configured service: open drains its region, closed may restore it.
fn on_health_event(config: &SuiteConfig, state: &DnsState, h: &HealthEvent, health: &HealthView, now: DateTime<Utc>) -> Decision {
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

/// A schedule re-evaluates every drained region for automatic failback.
fn on_schedule(config: &SuiteConfig, state: &DnsState, health: &HealthView, now: DateTime<Utc>) -> Decision {
    let mut last = none(NoActionReason::NotDrained, "no region is drained");
    for region in &state.drained {
        last = automatic_failback(config, state, health, region, now);
        if last.moves_traffic() || matches!(last, Decision::NoAction(NoAction { withheld: Some(_), .. })) {
            break;
        }
    }
    last
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

pub(super) fn secs(s: u64) -> Duration {
    Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000))
}

#[cfg(test)]
mod tests;
