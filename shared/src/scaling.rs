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
    if resources.is_empty() {
        return Ok(ScaleReport::default());
    }
    let name = crate::documents::capacity(region);
    let (memory, version) = load_memory(store, &name).await?;
    let before = memory.clone();
    let mut pass = Pass::new(actuator, store, config, region, memory, now, dry_run);
    pass.memory.note_saturation(saturation_ok, now);
    pass.read_levels(&resources).await?;
    pass.read_pool(&resources).await;
    for r in &resources {
        let Some(intent) = intent_of(r) else { continue };
        pass.scale(r, intent).await?;
    }
    if pass.memory != before && !dry_run {
        store
            .put_state(&name, &serde_json::to_value(&pass.memory).unwrap_or_default(), version)
            .await?;
    }
    Ok(pass.report)
}

/// The region's capacity memory and its version (0: never written). A document that does not
/// decode is corrupt, never taken for an empty memory: that would forget cooldowns and clocks.
async fn load_memory<S: StateStore>(store: &S, name: &str) -> Result<(CapacityMemory, u64), StoreError> {
    match store.get_state(name).await? {
        Some(v) => Ok((
            serde_json::from_value::<CapacityMemory>(v.value).map_err(|e| StoreError::Corrupt {
                key: name.to_owned(),
                problem: e.to_string(),
            })?,
            v.version,
        )),
        None => Ok((CapacityMemory::default(), 0)),
    }
}

impl CapacityMemory {
    /// Starts the sustained-OK clock of each resource whose saturation alarms are all OK now
    /// (keeping an earlier start), and stops it for the others: a restore waits for OK held.
    fn note_saturation(&mut self, saturation_ok: &BTreeMap<String, bool>, now: DateTime<Utc>) {
        for (id, ok) in saturation_ok {
            if *ok {
                self.ok_since.entry(id.clone()).or_insert(now);
            } else {
                self.ok_since.remove(id);
            }
        }
    }
}

/// One scaling pass over a region: what it was given, what it has read (levels, baselines,
/// the unreserved pool left), the memory it will save and the report so far. Each resource's
/// step sees the changes applied to the ones before it (the region ceiling and the pool count
/// them all).
struct Pass<'a, S> {
    actuator: &'a CapacityActuator,
    store: &'a S,
    config: &'a SuiteConfig,
    region: &'a Region,
    now: DateTime<Utc>,
    dry_run: bool,
    cooldown: Duration,
    restore_after: Duration,
    memory: CapacityMemory,
    levels: BTreeMap<String, Level>,
    baselines: BTreeMap<String, Level>,
    pool: Option<UnreservedPool>,
    report: ScaleReport,
}

impl<'a, S: StateStore> Pass<'a, S> {
    /// A pass that has read nothing yet; the cooldown and restore delay come from the config.
    fn new(
        actuator: &'a CapacityActuator,
        store: &'a S,
        config: &'a SuiteConfig,
        region: &'a Region,
        memory: CapacityMemory,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Self {
        Pass {
            actuator,
            store,
            config,
            region,
            now,
            dry_run,
            cooldown: Duration::seconds(i64::try_from(config.policy.cooldown_seconds).unwrap_or(300)),
            restore_after: Duration::seconds(i64::try_from(config.capacity.restore_after_seconds).unwrap_or(900)),
            memory,
            levels: BTreeMap::new(),
            baselines: BTreeMap::new(),
            pool: None,
            report: ScaleReport::default(),
        }
    }

    /// Current levels and baselines of the whole region: the region ceiling counts them all.
    /// A level that cannot be read is a failed action (that resource is left alone); a stored
    /// baseline that does not decode is corrupt.
    async fn read_levels(&mut self, resources: &[&CapacityResource]) -> Result<(), StoreError> {
        for r in resources {
            let id = r.id();
            match self.actuator.read(r).await {
                Ok(level) => {
                    self.levels.insert(id.clone(), level);
                }
                Err(e) => self.report.actions.push(unread(format!("read {id}"), e)),
            }
            if let Some(b) = self.store.load_baseline(&id).await? {
                self.baselines.insert(
                    id,
                    serde_json::from_value::<Level>(b).map_err(|e| StoreError::Corrupt {
                        key: r.id(),
                        problem: e.to_string(),
                    })?,
                );
            }
        }
        Ok(())
    }

    /// Reserved concurrency comes out of the account's unreserved pool: read it once, and count
    /// down each raise applied below. Unreadable: no check here, Lambda's own refusal stands.
    async fn read_pool(&mut self, resources: &[&CapacityResource]) {
        if !resources.iter().any(|r| is_reservation(r)) {
            return;
        }
        match self.actuator.unreserved_pool(self.region).await {
            Ok(now) => {
                self.pool = Some(UnreservedPool {
                    now,
                    keep: self.config.capacity.min_unreserved_concurrency,
                });
            }
            Err(e) => {
                let action = format!("read the unreserved concurrency of {}", self.region);
                self.report.actions.push(unread(action, e));
            }
        }
    }

    /// Plans one resource's step and carries it out (or, in a dry run, records the plan). A
    /// resource whose level could not be read is not planned: its outcome says so.
    async fn scale(&mut self, r: &CapacityResource, mut intent: Intent) -> Result<(), StoreError> {
        let id = r.id();
        if let Intent::Recovery { ok_since } = &mut intent {
            *ok_since = self.memory.ok_since.get(&id).copied();
        }
        let Some(current) = self.levels.get(&id).copied() else {
            self.report.outcomes.push(ResourceOutcome {
                resource: id,
                step: CapacityStep::Unchanged {
                    why: "level could not be read".into(),
                },
                confirmed: false,
                error: Some("level could not be read".into()),
            });
            return Ok(());
        };
        let step = self.plan(r, current, intent);
        let mut outcome = ResourceOutcome {
            resource: id.clone(),
            step: step.clone(),
            confirmed: false,
            error: None,
        };
        if let Some(to) = step.target() {
            let change = Change {
                resource: r,
                step: &step,
                current,
                to,
            };
            if self.dry_run {
                self.take_from_pool(&change);
                self.report.actions.push(ActionRecord {
                    action: format!("plan {id} {} {} -> {}", step.name(), current.min, to.min),
                    outcome: Outcome::Planned,
                    detail: "dry run".into(),
                    millis: 0,
                    confirm_ms: None,
                });
            } else {
                self.apply(&change, &mut outcome).await?;
            }
        }
        self.report.outcomes.push(outcome);
        Ok(())
    }

    /// The pure step for one resource, from what the pass knows of the whole region now.
    fn plan(&self, r: &CapacityResource, current: Level, intent: Intent) -> CapacityStep {
        let id = r.id();
        let inputs = Inputs {
            baseline: self.baselines.get(&id).copied(),
            region_added_elsewhere: added_above_baseline(&self.levels, &self.baselines, &id),
            region_ceiling: self.config.capacity.region_ceilings.get(self.region).copied(),
            last_change: self.memory.last_change.get(&id).copied(),
            unreserved_pool: self.pool.filter(|_| is_reservation(r)),
        };
        capacity::plan(r, current, &inputs, intent, self.now, self.cooldown, self.restore_after)
    }

    /// What a reservation change takes from (or gives back to) the pool, once it is applied
    /// (or planned, in a dry run): the next resource of the region is judged against it.
    fn take_from_pool(&mut self, change: &Change<'_>) {
        if let (Some(p), true) = (self.pool.as_mut(), is_reservation(change.resource)) {
            p.now -= change.to.min - change.current.min;
        }
    }

    /// Applies a planned change: saves the baseline before a raise, sets the level, and records
    /// the result (confirmed by a read back, or the error on the outcome).
    async fn apply(&mut self, change: &Change<'_>, outcome: &mut ResourceOutcome) -> Result<(), StoreError> {
        let id = change.resource.id();
        if matches!(change.step, CapacityStep::Raise { .. }) {
            // First value wins: a second raise in one emergency keeps the pre-emergency level.
            self.store
                .save_baseline(&id, &serde_json::to_value(change.current).unwrap_or_default(), self.now)
                .await?;
            // Known from now on to the region guard of the resources after this one.
            self.baselines.entry(id.clone()).or_insert(change.current);
        }
        let started = Instant::now();
        match self.actuator.apply(change.resource, change.to).await {
            Ok(action) => {
                outcome.confirmed = self.confirm(change, action, started).await?;
            }
            Err(e) => {
                self.report.actions.push(ActionRecord {
                    action: format!("{} {id}", change.step.name()),
                    outcome: Outcome::Failed,
                    detail: e.clone(),
                    millis: millis_since(started),
                    confirm_ms: None,
                });
                outcome.error = Some(e);
            }
        }
        Ok(())
    }

    /// After an applied change: counts it against the pool, reads the level back (success
    /// means the level is the planned one), records it, and remembers the change. A restore
    /// read back as done clears the baseline: the emergency is over for that resource.
    async fn confirm(&mut self, change: &Change<'_>, action: String, started: Instant) -> Result<bool, StoreError> {
        let (id, current, to) = (change.resource.id(), change.current, change.to);
        self.take_from_pool(change);
        let read_back = self.actuator.read(change.resource).await;
        let confirmed = read_back.as_ref().is_ok_and(|l| l.min == to.min);
        self.report.actions.push(ActionRecord {
            action,
            outcome: Outcome::Succeeded,
            detail: format!(
                "{} {} -> {}; read back: {}",
                change.step.name(),
                current.min,
                to.min,
                match &read_back {
                    Ok(l) => format!("min {}", l.min),
                    Err(e) => e.clone(),
                }
            ),
            millis: millis_since(started),
            confirm_ms: None,
        });
        self.memory.last_change.insert(id.clone(), self.now);
        self.levels.insert(id.clone(), to);
        if matches!(change.step, CapacityStep::Restore { .. }) && confirmed {
            self.store.clear_baseline(&id).await?;
            self.baselines.remove(&id);
        }
        Ok(confirmed)
    }
}

/// One planned change of one resource: from `current` to `to` by `step`.
struct Change<'a> {
    resource: &'a CapacityResource,
    step: &'a CapacityStep,
    current: Level,
    to: Level,
}

/// Whether the resource is a Lambda reservation, which draws on the account's unreserved pool.
fn is_reservation(r: &CapacityResource) -> bool {
    matches!(r.target, CapacityTarget::ReservedConcurrency { .. })
}

/// The failed action of a reading that did not succeed (nothing was changed).
fn unread(action: String, detail: String) -> ActionRecord {
    ActionRecord {
        action,
        outcome: Outcome::Failed,
        detail,
        millis: 0,
        confirm_ms: None,
    }
}

/// Milliseconds since `started`, saturating.
fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
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
