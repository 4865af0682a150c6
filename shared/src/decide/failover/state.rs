//! The DNS state of the protected name: what is drained, frozen, healthy since when, the
//! switches holding each region out, queued notifications; how a signal updates it (`observe`),
//! how a decision changes it (`apply`), how the regions' copies merge, and drift.

use crate::config::SuiteConfig;
use crate::model::HealthView;
use crate::model::Region;
use crate::signal::{HealthStatus, Signal, SignalKind};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::{Decision, secs, verdict};

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
    /// The open issues counted although the Health API could not confirm them
    /// (`health_events.confirm = false`): they never stop a signed manual command.
    #[serde(default)]
    pub unconfirmed_health_issues: BTreeSet<String>,
    /// Notifications that could not be sent yet; the next invocation sends them first.
    #[serde(default)]
    pub outbox: Vec<crate::model::Notification>,
}

impl DnsState {
    /// The state as a signed manual command sees it: open AWS Health issues that the Health
    /// API did not confirm do not count (anyone who can invoke the function can claim one).
    pub fn for_manual_command(&self) -> DnsState {
        let mut view = self.clone();
        for issues in view.open_health_issues.values_mut() {
            issues.retain(|arn| !self.unconfirmed_health_issues.contains(arn));
        }
        view.open_health_issues.retain(|_, issues| !issues.is_empty());
        view
    }
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
                if h.taken_as_it_came {
                    next.unconfirmed_health_issues.insert(h.event_arn.clone());
                } else {
                    next.unconfirmed_health_issues.remove(&h.event_arn);
                }
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
    next.unconfirmed_health_issues.retain(|arn| open.contains(arn));
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

/// How far ahead of this function's clock a time in a state copy may be and still be believed:
/// clocks of AWS hosts agree within seconds (Lambda and DynamoDB use the Amazon Time Sync
/// Service), so anything further ahead was written by someone else.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// A copy of the state as read from the table, with every time register that lies in the
/// future (beyond [`MAX_CLOCK_SKEW_SECONDS`]) dropped, and what was dropped. The table can be
/// written by anyone with DynamoDB rights in the account: a far-future `frozen_at` would make a
/// freeze that no unfreeze lifts, a far-future `changed_at` a drain no failback undoes, a
/// far-future `last_failover_at` a hold-down for ever, a far-future `health_issue_seen` an
/// issue that never expires.
pub fn believable(copy: &DnsState, now: DateTime<Utc>) -> (DnsState, Vec<String>) {
    let limit = now + Duration::seconds(MAX_CLOCK_SKEW_SECONDS);
    let mut out = copy.clone();
    let mut dropped = Vec::new();
    let mut future = |what: String, at: &DateTime<Utc>| {
        let bad = *at > limit;
        if bad {
            dropped.push(format!("{what} {} is in the future", at.to_rfc3339()));
        }
        bad
    };
    if out.frozen_at.as_ref().is_some_and(|t| future("frozen_at".into(), t)) {
        out.frozen_at = None;
    }
    if out.last_failover_at.as_ref().is_some_and(|t| future("last_failover_at".into(), t)) {
        out.last_failover_at = None;
    }
    out.changed_at.retain(|r, t| !future(format!("changed_at[{r}]"), t));
    out.healthy_since.retain(|r, t| !future(format!("healthy_since[{r}]"), t));
    for (arn, t) in &mut out.health_issue_seen {
        if future(format!("health_issue_seen[{arn}]"), t) {
            *t = now;
        }
    }
    (out, dropped)
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
        Decision::Freeze { signed_at, .. } => {
            next.frozen = true;
            next.frozen_at = Some(signed_at.unwrap_or(now));
        }
        Decision::Unfreeze { signed_at, .. } => {
            next.frozen = false;
            next.frozen_at = Some(signed_at.unwrap_or(now));
        }
        Decision::ClearHealthIssues { region, .. } => {
            for arn in next.open_health_issues.remove(region).unwrap_or_default() {
                next.health_issue_seen.remove(&arn);
                next.unconfirmed_health_issues.remove(&arn);
            }
        }
        Decision::Refused { .. } | Decision::NoAction(_) => {}
    }
    next
}
