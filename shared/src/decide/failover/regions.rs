//! The regions: whether each is failing or healthy (`verdict`), and which region's function
//! acts on a decision (the preferred region that serves and is not failing).

use crate::config::{RegionConfig, SuiteConfig};
use crate::model::Region;
use crate::model::{AlarmState, HealthView, RegionHealth, Unread};
use crate::signal::{Signal, SignalKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use super::{Decision, DnsState, NoAction, NoActionReason};

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
    let quorum = config.policy.quorum;
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
    let reading = Reading {
        region,
        rc,
        health,
        open_issues: state.open_health_issues.get(region).map_or(0, BTreeSet::len),
        unreachable: health.is_none_or(|h| !h.reachable),
    };
    let in_alarm = reading.in_alarm();
    let not_ok = reading.not_ok();
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
    let votes = in_alarm.len() + reading.health_vote();
    let (failing, why) = reading.judge(config, &in_alarm, votes);
    Verdict {
        failing,
        healthy: !reading.unreachable && not_ok.is_empty(),
        in_alarm,
        not_ok,
        votes,
        quorum,
        why,
    }
}

/// One configured region's signals as read: its alarms' states, its open AWS Health issues,
/// and whether its CloudWatch could be reached at all.
struct Reading<'a> {
    region: &'a Region,
    rc: &'a RegionConfig,
    health: Option<&'a RegionHealth>,
    open_issues: usize,
    unreachable: bool,
}

impl Reading<'_> {
    /// An alarm's state as read (None: not found, or not read).
    fn state_of(&self, name: &str) -> Option<AlarmState> {
        self.health.and_then(|h| h.alarms.get(name)).copied()
    }

    /// The health alarms in ALARM: each is one vote.
    fn in_alarm(&self) -> Vec<String> {
        self.rc
            .health_alarms
            .iter()
            .filter(|a| self.state_of(a) == Some(AlarmState::Alarm))
            .cloned()
            .collect()
    }

    /// The AWS Health issues' vote: one, however many are open.
    fn health_vote(&self) -> usize {
        usize::from(self.open_issues > 0)
    }

    /// Each alarm that is not OK, with why: a configured alarm that DescribeAlarms does not find
    /// is a configuration error, named as such in the decision's audit record and notification.
    /// Open AWS Health issues count too.
    fn not_ok(&self) -> Vec<String> {
        let region = self.region;
        let mut not_ok: Vec<String> = self
            .rc
            .health_alarms
            .iter()
            .chain(self.rc.composite_alarm.iter())
            .filter_map(|a| match self.state_of(a) {
                Some(AlarmState::Ok) => None,
                Some(s) => Some(format!("{a} {s}")),
                None if self.unreachable => Some(format!("{a} unread")),
                None => Some(format!(
                    "{a} DOES NOT EXIST in {region} (configuration error: fix regions.{region} or create the alarm)"
                )),
            })
            .collect();
        if self.open_issues > 0 {
            not_ok.push(format!("{} open AWS Health issue(s)", self.open_issues));
        }
        not_ok
    }

    /// Whether the region is failing, and why, in order of precedence: CloudWatch unreachable
    /// from outside, the composite alarm, a decisive AWS Health issue, then the vote (quorum,
    /// or a lone configured alarm in ALARM when the policy lets it fail the region).
    fn judge(&self, config: &SuiteConfig, in_alarm: &[String], votes: usize) -> (bool, String) {
        let (policy, rc, region, open_issues) = (&config.policy, self.rc, self.region, self.open_issues);
        let quorum = policy.quorum;
        let composite = rc
            .composite_alarm
            .as_deref()
            .is_some_and(|c| self.state_of(c) == Some(AlarmState::Alarm));
        let lone = policy.single_alarm_fails_region && rc.health_alarms.len() == 1 && in_alarm.len() == 1;
        let decisive_health = config.health_events.decisive && open_issues > 0;
        if self.unreachable {
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
                    rc.health_alarms.len() + self.health_vote(),
                    in_alarm.join(", ")
                ),
            )
        } else {
            (
                false,
                format!("{votes} of {} health signals failing, quorum is {quorum}", rc.health_alarms.len()),
            )
        }
    }
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
