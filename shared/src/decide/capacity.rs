//! The capacity step policy: pure functions of (resource, current level, baseline, what the
//! region already added, memory, intent, clock). The adapters in `scaling` read the inputs and
//! carry the step out.
//!
//! Rules:
//! - a step never takes a resource above its ceiling, nor the region's added units above the
//!   region ceiling (the cost guard); a step that cannot add anything is refused, not skipped;
//! - saturation steps respect a per-resource cooldown; a failover intent does not (it is the
//!   emergency the capacity is for, and it arrives once per failover);
//! - restore goes back to the saved baseline exactly, and only after the resource's saturation
//!   alarms have stayed OK for `restore_after_seconds` (or on an operator's failback).

use crate::config::{CapacityResource, CapacityTarget};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A resource's capacity: MinCapacity / MaxCapacity of a scalable target, or reserved
/// concurrency (`max` unused; `unreserved` when the function has no reservation at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub min: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    /// A function without reserved concurrency: it can use the whole unreserved pool of the
    /// account, which no reservation of `min` describes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreserved: bool,
}

impl Level {
    pub fn new(min: i64, max: Option<i64>) -> Level {
        Level {
            min,
            max,
            unreserved: false,
        }
    }

    /// A function with no reservation.
    pub fn unreserved() -> Level {
        Level {
            min: 0,
            max: None,
            unreserved: true,
        }
    }
}

/// Why capacity should change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "intent", rename_all = "kebab-case")]
pub enum Intent {
    /// Traffic is about to move here: add `steps` steps now.
    Failover { steps: u32 },
    /// A saturation alarm went to ALARM: add one step, cooldown permitting.
    Saturation,
    /// The emergency may be over: restore the baseline once OK has been sustained.
    Recovery { ok_since: Option<DateTime<Utc>> },
    /// An operator failed back: restore the baseline now.
    Failback,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum CapacityStep {
    Raise { from: Level, to: Level, clipped: Option<String> },
    Restore { from: Level, to: Level },
    Unchanged { why: String },
    Refused { why: String },
}

impl CapacityStep {
    pub fn name(&self) -> &'static str {
        match self {
            CapacityStep::Raise { .. } => "raise",
            CapacityStep::Restore { .. } => "restore",
            CapacityStep::Unchanged { .. } => "unchanged",
            CapacityStep::Refused { .. } => "refused",
        }
    }

    /// The level to apply, if the step changes anything.
    pub fn target(&self) -> Option<Level> {
        match self {
            CapacityStep::Raise { to, .. } | CapacityStep::Restore { to, .. } => Some(*to),
            _ => None,
        }
    }
}

/// What the policy needs to know about a resource besides its level.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// The level saved before the emergency, if one is saved.
    pub baseline: Option<Level>,
    /// Units the region's *other* resources have added above their baselines.
    pub region_added_elsewhere: i64,
    pub region_ceiling: Option<i64>,
    pub last_change: Option<DateTime<Utc>>,
    /// For reserved concurrency: the account's unreserved concurrency now
    /// (GetAccountSettings), and how much of it must stay unreserved.
    pub unreserved_pool: Option<UnreservedPool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreservedPool {
    pub now: i64,
    pub keep: i64,
}

/// The step for one resource.
pub fn plan(
    resource: &CapacityResource,
    current: Level,
    inputs: &Inputs,
    intent: Intent,
    now: DateTime<Utc>,
    cooldown: Duration,
    restore_after: Duration,
) -> CapacityStep {
    match intent {
        // Anchored on the saved baseline: an intent re-driven after a partial failure asks for
        // the same level again instead of stacking its steps on the ones already applied.
        Intent::Failover { steps } => {
            let anchor = inputs.baseline.map_or(current.min, |b| b.min);
            raise(resource, current, inputs, anchor, i64::from(steps))
        }
        Intent::Saturation => match inputs.last_change {
            Some(at) if now < at + cooldown => CapacityStep::Refused {
                why: format!("{} changed at {at}; cooldown lasts until {}", resource.id(), at + cooldown),
            },
            _ => raise(resource, current, inputs, current.min, 1),
        },
        Intent::Recovery { ok_since } => match (inputs.baseline, ok_since) {
            (None, _) => CapacityStep::Unchanged {
                why: "no baseline saved: nothing to restore".into(),
            },
            (Some(_), Some(since)) if now - since >= restore_after => restore(current, inputs),
            (Some(_), _) => CapacityStep::Unchanged {
                why: format!(
                    "saturation alarms must stay OK for {}s before the baseline is restored",
                    restore_after.num_seconds()
                ),
            },
        },
        Intent::Failback => match inputs.baseline {
            None => CapacityStep::Unchanged {
                why: "no baseline saved: nothing to restore".into(),
            },
            Some(_) => restore(current, inputs),
        },
    }
}

fn raise(resource: &CapacityResource, current: Level, inputs: &Inputs, anchor: i64, steps: i64) -> CapacityStep {
    // Reserved concurrency is also a maximum ("Lambda function scaling", reserved concurrency):
    // reserving `steps` for a function that draws on the whole unreserved pool would cap it.
    // A raise never lowers what a resource can use, so an unreserved function stays unreserved.
    if current.unreserved {
        return CapacityStep::Unchanged {
            why: format!(
                "{} has no reserved concurrency: it can already use the account's unreserved pool, and a reservation would cap it",
                resource.id()
            ),
        };
    }
    let wanted = anchor.saturating_add(resource.step.saturating_mul(steps.max(0)));
    if anchor < current.min && wanted <= current.min {
        return CapacityStep::Unchanged {
            why: format!("{} is at {}, at or above the failover level {wanted}", resource.id(), current.min),
        };
    }
    let mut to_min = wanted.min(resource.ceiling);
    let mut clipped = (to_min < wanted).then(|| format!("clipped at the resource ceiling {}", resource.ceiling));
    if let Some(region_ceiling) = inputs.region_ceiling {
        let base = inputs.baseline.map_or(current.min, |b| b.min);
        let budget = region_ceiling - inputs.region_added_elsewhere - (current.min - base).max(0);
        if to_min - current.min > budget {
            to_min = current.min + budget.max(0);
            clipped = Some(format!("clipped by the region ceiling of {region_ceiling} added units"));
        }
    }
    if to_min <= current.min {
        return CapacityStep::Refused {
            why: format!(
                "{} is at {}; {}",
                resource.id(),
                current.min,
                clipped
                    .unwrap_or_else(|| "no step configured".into())
                    .replace("clipped", "ceiling reached:")
            ),
        };
    }
    if let (CapacityTarget::ReservedConcurrency { .. }, Some(pool)) = (&resource.target, inputs.unreserved_pool) {
        let left = pool.now - (to_min - current.min);
        if left < pool.keep {
            return CapacityStep::Refused {
                why: format!(
                    "{} at {to_min} would leave {left} unreserved concurrent executions in the account; at least {} must stay unreserved (Lambda refuses PutFunctionConcurrency below its minimum)",
                    resource.id(),
                    pool.keep
                ),
            };
        }
    }
    // Never below the current maximum: a raise only adds.
    let to = Level::new(to_min, current.max.map(|m| m.max(to_min)));
    CapacityStep::Raise {
        from: current,
        to,
        clipped,
    }
}

fn restore(current: Level, inputs: &Inputs) -> CapacityStep {
    let Some(baseline) = inputs.baseline else {
        return CapacityStep::Unchanged {
            why: "no baseline saved".into(),
        };
    };
    if current == baseline {
        return CapacityStep::Unchanged {
            why: "already at baseline".into(),
        };
    }
    CapacityStep::Restore {
        from: current,
        to: baseline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn resource(step: i64, ceiling: i64) -> CapacityResource {
        CapacityResource {
            region: "eu-north-1".parse().unwrap(),
            target: CapacityTarget::ReservedConcurrency {
                function_name: "api".into(),
            },
            step,
            ceiling,
            saturation_alarms: vec![],
        }
    }

    fn t0() -> DateTime<Utc> {
        "2026-11-24T17:00:00Z".parse().unwrap()
    }

    fn lvl(min: i64, max: Option<i64>) -> Level {
        Level::new(min, max)
    }

    const COOL: Duration = Duration::seconds(300);
    const RESTORE: Duration = Duration::seconds(900);

    #[test]
    fn failover_intent_adds_its_steps_and_lifts_max_where_needed() {
        let s = plan(
            &resource(100, 1000),
            lvl(100, Some(250)),
            &Inputs::default(),
            Intent::Failover { steps: 2 },
            t0(),
            COOL,
            RESTORE,
        );
        assert_eq!(s.target(), Some(lvl(300, Some(300))));
    }

    #[test]
    fn a_failover_intent_re_driven_after_a_partial_failure_asks_for_the_same_level() {
        let inputs = Inputs {
            baseline: Some(lvl(100, Some(250))),
            ..Inputs::default()
        };
        // First delivery raised this resource (100 -> 300), then failed on another one.
        let again = plan(
            &resource(100, 1000),
            lvl(300, Some(300)),
            &inputs,
            Intent::Failover { steps: 2 },
            t0(),
            COOL,
            RESTORE,
        );
        assert!(matches!(again, CapacityStep::Unchanged { .. }), "{again:?}");
        // A resource the first delivery did not reach gets the whole raise.
        let missed = plan(
            &resource(100, 1000),
            lvl(100, Some(250)),
            &inputs,
            Intent::Failover { steps: 2 },
            t0(),
            COOL,
            RESTORE,
        );
        assert_eq!(missed.target(), Some(lvl(300, Some(300))));
    }

    #[test]
    fn a_function_without_reserved_concurrency_is_never_capped_by_a_raise() {
        for intent in [Intent::Failover { steps: 2 }, Intent::Saturation] {
            let s = plan(
                &resource(100, 800),
                Level::unreserved(),
                &Inputs::default(),
                intent,
                t0(),
                COOL,
                RESTORE,
            );
            assert!(
                matches!(&s, CapacityStep::Unchanged { why } if why.contains("unreserved pool")),
                "{intent:?}: {s:?}"
            );
            assert_eq!(s.target(), None, "nothing applied");
        }
        // With a reservation, the same resource is raised from it.
        let s = plan(
            &resource(100, 800),
            lvl(50, None),
            &Inputs::default(),
            Intent::Failover { steps: 2 },
            t0(),
            COOL,
            RESTORE,
        );
        assert_eq!(s.target(), Some(lvl(250, None)));
    }

    #[test]
    fn a_reserved_concurrency_raise_that_would_leave_too_little_unreserved_is_refused() {
        let pool = |now| Inputs {
            unreserved_pool: Some(UnreservedPool { now, keep: 100 }),
            ..Inputs::default()
        };
        // 262 reserved elsewhere, this function at 100: 638 unreserved; +200 leaves 438.
        let ok = plan(
            &resource(100, 800),
            lvl(100, None),
            &pool(638),
            Intent::Failover { steps: 2 },
            t0(),
            COOL,
            RESTORE,
        );
        assert_eq!(ok.target(), Some(lvl(300, None)));
        // 250 unreserved: +200 would leave 50.
        let refused = plan(
            &resource(100, 800),
            lvl(100, None),
            &pool(250),
            Intent::Failover { steps: 2 },
            t0(),
            COOL,
            RESTORE,
        );
        assert!(
            matches!(&refused, CapacityStep::Refused { why } if why.contains("leave 50 unreserved")),
            "{refused:?}"
        );
    }

    #[test]
    fn restoring_an_unreserved_baseline_restores_no_reservation() {
        let inputs = Inputs {
            baseline: Some(Level::unreserved()),
            ..Inputs::default()
        };
        let s = plan(&resource(100, 800), lvl(300, None), &inputs, Intent::Failback, t0(), COOL, RESTORE);
        assert!(s.target().is_some_and(|l| l.unreserved), "{s:?}");
    }

    proptest! {
        /// Whatever the level, ceilings and intent, a raise never lowers the maximum a scalable
        /// target allows, nor its minimum.
        #[test]
        fn a_raise_never_lowers_what_a_resource_can_use(min in 0i64..2000, extra in 0i64..2000, step in 1i64..500, ceiling in 1i64..5000, steps in 0u32..5) {
            let current = lvl(min, Some(min + extra));
            let s = plan(&resource(step, ceiling), current, &Inputs::default(), Intent::Failover { steps }, t0(), COOL, RESTORE);
            if let CapacityStep::Raise { to, .. } = s {
                prop_assert!(to.min >= current.min);
                prop_assert!(to.max >= current.max);
            }
        }
    }

    #[test]
    fn raise_is_clipped_at_the_ceiling_and_refused_at_it() {
        let s = plan(
            &resource(100, 250),
            lvl(100, None),
            &Inputs::default(),
            Intent::Failover { steps: 2 },
            t0(),
            COOL,
            RESTORE,
        );
        assert!(
            matches!(&s, CapacityStep::Raise { to, clipped: Some(_), .. } if to.min == 250),
            "{s:?}"
        );
        let s = plan(
            &resource(100, 250),
            lvl(250, None),
            &Inputs::default(),
            Intent::Saturation,
            t0(),
            COOL,
            RESTORE,
        );
        assert!(matches!(&s, CapacityStep::Refused { why } if why.contains("ceiling")), "{s:?}");
    }

    #[test]
    fn region_ceiling_is_a_cost_guard_across_resources() {
        let inputs = Inputs {
            baseline: Some(lvl(100, None)),
            region_added_elsewhere: 450,
            region_ceiling: Some(500),
            last_change: None,
            unreserved_pool: None,
        };
        let s = plan(
            &resource(100, 1000),
            lvl(100, None),
            &inputs,
            Intent::Failover { steps: 2 },
            t0(),
            COOL,
            RESTORE,
        );
        assert_eq!(s.target(), Some(lvl(150, None)));
        let full = Inputs {
            region_added_elsewhere: 500,
            ..inputs
        };
        assert!(matches!(
            plan(
                &resource(100, 1000),
                lvl(100, None),
                &full,
                Intent::Failover { steps: 2 },
                t0(),
                COOL,
                RESTORE
            ),
            CapacityStep::Refused { .. }
        ));
    }

    #[test]
    fn saturation_respects_cooldown_but_failover_does_not() {
        let inputs = Inputs {
            last_change: Some(t0()),
            ..Default::default()
        };
        let soon = t0() + Duration::seconds(10);
        assert!(matches!(
            plan(&resource(10, 100), lvl(10, None), &inputs, Intent::Saturation, soon, COOL, RESTORE),
            CapacityStep::Refused { .. }
        ));
        assert!(matches!(
            plan(
                &resource(10, 100),
                lvl(10, None),
                &inputs,
                Intent::Failover { steps: 1 },
                soon,
                COOL,
                RESTORE
            ),
            CapacityStep::Raise { .. }
        ));
        let later = t0() + COOL;
        assert!(matches!(
            plan(&resource(10, 100), lvl(10, None), &inputs, Intent::Saturation, later, COOL, RESTORE),
            CapacityStep::Raise { .. }
        ));
    }

    #[test]
    fn recovery_restores_the_exact_baseline_only_after_sustained_ok() {
        let inputs = Inputs {
            baseline: Some(lvl(5, Some(40))),
            ..Default::default()
        };
        let current = lvl(205, Some(205));
        let early = Intent::Recovery {
            ok_since: Some(t0() - Duration::seconds(60)),
        };
        assert!(matches!(
            plan(&resource(100, 1000), current, &inputs, early, t0(), COOL, RESTORE),
            CapacityStep::Unchanged { .. }
        ));
        let sustained = Intent::Recovery {
            ok_since: Some(t0() - RESTORE),
        };
        assert_eq!(
            plan(&resource(100, 1000), current, &inputs, sustained, t0(), COOL, RESTORE).target(),
            Some(lvl(5, Some(40)))
        );
        assert_eq!(
            plan(&resource(100, 1000), current, &inputs, Intent::Failback, t0(), COOL, RESTORE).target(),
            Some(lvl(5, Some(40)))
        );
        assert!(matches!(
            plan(
                &resource(100, 1000),
                current,
                &Inputs::default(),
                Intent::Failback,
                t0(),
                COOL,
                RESTORE
            ),
            CapacityStep::Unchanged { .. }
        ));
    }

    proptest! {
        #[test]
        fn step_policy_never_exceeds_ceilings_and_never_lowers_on_raise(
            step in 1i64..500, ceiling in 1i64..5000, current in 0i64..6000, max in proptest::option::of(0i64..6000),
            elsewhere in 0i64..3000, region_ceiling in proptest::option::of(0i64..4000), base in proptest::option::of(0i64..3000),
            steps in 0u32..5, saturation in any::<bool>(),
        ) {
            let inputs = Inputs { baseline: base.map(|b| lvl(b, None)), region_added_elsewhere: elsewhere, region_ceiling, last_change: None, unreserved_pool: None };
            let intent = if saturation { Intent::Saturation } else { Intent::Failover { steps } };
            let s = plan(&resource(step, ceiling), lvl(current, max), &inputs, intent, t0(), COOL, RESTORE);
            if let CapacityStep::Raise { from, to, .. } = s {
                prop_assert!(to.min > from.min, "a raise raises");
                prop_assert!(to.min <= ceiling, "resource ceiling");
                if let Some(m) = to.max { prop_assert!(m >= to.min, "max >= min"); }
                if let Some(rc) = region_ceiling {
                    let b = base.unwrap_or(current);
                    prop_assert!(elsewhere + (to.min - b).max(0) <= rc.max(elsewhere + (current - b).max(0)), "region ceiling");
                }
            }
        }
    }
}
