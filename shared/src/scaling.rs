//! Carrying out capacity steps: read each resource's level (Application Auto Scaling
//! DescribeScalableTargets, Lambda GetFunctionConcurrency), plan with [`crate::decide::capacity::plan`],
//! save the baseline before the first raise, apply, and read back to confirm. Used by
//! capacity-scaler, and by dns-failover to scale before it shifts traffic.

use crate::act::capacity::CapacityActuator;
use crate::config::{CapacityResource, CapacityTarget, SuiteConfig};
use crate::decide::capacity::{self, CapacityStep, Inputs, Intent, Level, UnreservedPool};
use crate::handler::once as guard;
use crate::handler::once::GuardError;
use crate::model::Region;
use crate::model::audit::{ActionRecord, Outcome};
use crate::store::{StateStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// The lease that serialises every capacity change.
pub const CAPACITY_LEASE: &str = "capacity";

/// What capacity remembers between invocations (one state document per region).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CapacityMemory {
    #[serde(default)]
    pub last_change: BTreeMap<String, DateTime<Utc>>,
    /// Since when each resource's saturation alarms have all been OK.
    #[serde(default)]
    pub ok_since: BTreeMap<String, DateTime<Utc>>,
}

/// The outcome for one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceOutcome {
    pub resource: String,
    pub step: CapacityStep,
    /// Read back after the change: the level is the planned one.
    pub confirmed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScaleReport {
    pub outcomes: Vec<ResourceOutcome>,
    pub actions: Vec<ActionRecord>,
}

impl ScaleReport {
    pub fn changed(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| o.step.target().is_some() && o.error.is_none())
            .count()
    }
    pub fn refused(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.step, CapacityStep::Refused { .. }))
            .count()
    }
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.error.is_some()).count()
    }
    /// Every planned change was applied and read back.
    pub fn all_confirmed(&self) -> bool {
        self.outcomes.iter().filter(|o| o.step.target().is_some()).all(|o| o.confirmed)
    }
}

/// Applies `intent_of` to the configured resources of `region` (those for which it returns an
/// intent). The caller holds [`CAPACITY_LEASE`]. `saturation_ok` says, per resource id, whether
/// its saturation alarms are all OK now (feeds the sustained-OK clock).
pub async fn scale_region<S: StateStore>(
    actuator: &CapacityActuator,
    store: &S,
    config: &SuiteConfig,
    region: &Region,
    intent_of: impl Fn(&CapacityResource) -> Option<Intent>,
    saturation_ok: &BTreeMap<String, bool>,
    dry_run: bool,
) -> Result<ScaleReport, StoreError> {
    let now = Utc::now();
    let resources: Vec<&CapacityResource> = config.capacity.resources.iter().filter(|r| r.region == *region).collect();
    let mut report = ScaleReport::default();
    if resources.is_empty() {
        return Ok(report);
    }
    let name = crate::documents::capacity(region);
    let (mut memory, version) = match store.get_state(&name).await? {
        Some(v) => (
            serde_json::from_value::<CapacityMemory>(v.value).map_err(|e| StoreError::Corrupt {
                key: name.clone(),
                problem: e.to_string(),
            })?,
            v.version,
        ),
        None => (CapacityMemory::default(), 0),
    };
    let before = memory.clone();
    for (id, ok) in saturation_ok {
        if *ok {
            memory.ok_since.entry(id.clone()).or_insert(now);
        } else {
            memory.ok_since.remove(id);
        }
    }

    // Current levels and baselines of the whole region: the region ceiling counts them all.
    let mut levels = BTreeMap::new();
    let mut baselines = BTreeMap::new();
    for r in &resources {
        let id = r.id();
        match actuator.read(r).await {
            Ok(level) => {
                levels.insert(id.clone(), level);
            }
            Err(e) => report.actions.push(ActionRecord {
                action: format!("read {id}"),
                outcome: Outcome::Failed,
                detail: e,
                millis: 0,
                confirm_ms: None,
            }),
        }
        if let Some(b) = store.load_baseline(&id).await? {
            baselines.insert(
                id,
                serde_json::from_value::<Level>(b).map_err(|e| StoreError::Corrupt {
                    key: r.id(),
                    problem: e.to_string(),
                })?,
            );
        }
    }
    // Reserved concurrency comes out of the account's unreserved pool: read it once, and count
    // down each raise applied below. Unreadable: no check here, Lambda's own refusal stands.
    let mut pool = None;
    if resources
        .iter()
        .any(|r| matches!(r.target, CapacityTarget::ReservedConcurrency { .. }))
    {
        match actuator.unreserved_pool(region).await {
            Ok(now) => {
                pool = Some(UnreservedPool {
                    now,
                    keep: config.capacity.min_unreserved_concurrency,
                });
            }
            Err(e) => report.actions.push(ActionRecord {
                action: format!("read the unreserved concurrency of {region}"),
                outcome: Outcome::Failed,
                detail: e,
                millis: 0,
                confirm_ms: None,
            }),
        }
    }
    let cooldown = Duration::seconds(i64::try_from(config.policy.cooldown_seconds).unwrap_or(300));
    let restore_after = Duration::seconds(i64::try_from(config.capacity.restore_after_seconds).unwrap_or(900));

    for r in &resources {
        let id = r.id();
        let Some(mut intent) = intent_of(r) else { continue };
        if let Intent::Recovery { ok_since } = &mut intent {
            *ok_since = memory.ok_since.get(&id).copied();
        }
        let Some(current) = levels.get(&id).copied() else {
            report.outcomes.push(ResourceOutcome {
                resource: id.clone(),
                step: CapacityStep::Unchanged {
                    why: "level could not be read".into(),
                },
                confirmed: false,
                error: Some("level could not be read".into()),
            });
            continue;
        };
        let inputs = Inputs {
            baseline: baselines.get(&id).copied(),
            region_added_elsewhere: added_above_baseline(&levels, &baselines, &id),
            region_ceiling: config.capacity.region_ceilings.get(region).copied(),
            last_change: memory.last_change.get(&id).copied(),
            unreserved_pool: pool.filter(|_| matches!(r.target, CapacityTarget::ReservedConcurrency { .. })),
        };
        let step = capacity::plan(r, current, &inputs, intent, now, cooldown, restore_after);
        // What a reservation change takes from (or gives back to) the pool, once it is applied
        // (or planned, in a dry run): the next resource of the region is judged against it.
        let account = |pool: &mut Option<UnreservedPool>, to: Level| {
            if let (Some(p), CapacityTarget::ReservedConcurrency { .. }) = (pool.as_mut(), &r.target) {
                p.now -= to.min - current.min;
            }
        };
        let mut outcome = ResourceOutcome {
            resource: id.clone(),
            step: step.clone(),
            confirmed: false,
            error: None,
        };
        if let Some(to) = step.target() {
            if dry_run {
                account(&mut pool, to);
                report.actions.push(ActionRecord {
                    action: format!("plan {id} {} {} -> {}", step.name(), current.min, to.min),
                    outcome: Outcome::Planned,
                    detail: "dry run".into(),
                    millis: 0,
                    confirm_ms: None,
                });
            } else {
                if matches!(step, CapacityStep::Raise { .. }) {
                    // First value wins: a second raise in one emergency keeps the pre-emergency level.
                    store
                        .save_baseline(&id, &serde_json::to_value(current).unwrap_or_default(), now)
                        .await?;
                    // Known from now on to the region guard of the resources after this one.
                    baselines.entry(id.clone()).or_insert(current);
                }
                let started = Instant::now();
                match actuator.apply(r, to).await {
                    Ok(action) => {
                        account(&mut pool, to);
                        let read_back = actuator.read(r).await;
                        outcome.confirmed = read_back.as_ref().is_ok_and(|l| l.min == to.min);
                        report.actions.push(ActionRecord {
                            action,
                            outcome: Outcome::Succeeded,
                            detail: format!(
                                "{} {} -> {}; read back: {}",
                                step.name(),
                                current.min,
                                to.min,
                                match &read_back {
                                    Ok(l) => format!("min {}", l.min),
                                    Err(e) => e.clone(),
                                }
                            ),
                            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                            confirm_ms: None,
                        });
                        memory.last_change.insert(id.clone(), now);
                        levels.insert(id.clone(), to);
                        if matches!(step, CapacityStep::Restore { .. }) && outcome.confirmed {
                            store.clear_baseline(&id).await?;
                            baselines.remove(&id);
                        }
                    }
                    Err(e) => {
                        report.actions.push(ActionRecord {
                            action: format!("{} {id}", step.name()),
                            outcome: Outcome::Failed,
                            detail: e.clone(),
                            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                            confirm_ms: None,
                        });
                        outcome.error = Some(e);
                    }
                }
            }
        }
        report.outcomes.push(outcome);
    }
    if memory != before && !dry_run {
        store
            .put_state(&name, &serde_json::to_value(&memory).unwrap_or_default(), version)
            .await?;
    }
    Ok(report)
}

/// Units the region's resources other than `except` have added above their baselines.
fn added_above_baseline(levels: &BTreeMap<String, Level>, baselines: &BTreeMap<String, Level>, except: &str) -> i64 {
    baselines
        .iter()
        .filter(|(id, _)| id.as_str() != except)
        .filter_map(|(id, b)| levels.get(id).map(|l| (l.min - b.min).max(0)))
        .sum()
}

/// Scale-before-shift for dns-failover: raises `region` by the configured failover steps under
/// the capacity lease, and reports whether every change was confirmed.
pub async fn scale_before_shift<S: StateStore>(
    actuator: &CapacityActuator,
    store: &S,
    config: &SuiteConfig,
    region: &Region,
    dry_run: bool,
) -> Result<ScaleReport, GuardError> {
    let lease = guard::take_lease(store, &config.policy, CAPACITY_LEASE).await?;
    let steps = config.capacity.failover_steps;
    let result = scale_region(
        actuator,
        store,
        config,
        region,
        |_| Some(Intent::Failover { steps }),
        &BTreeMap::new(),
        dry_run,
    )
    .await;
    guard::release_lease(store, &lease).await;
    Ok(result?)
}
