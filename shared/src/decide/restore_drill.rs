//! The restore drill as a state machine that lives across invocations: a point-in-time restore
//! can take hours ("Restoring a DynamoDB table to a point in time": the time depends on the
//! table's size), so no invocation waits for it. Each schedule tick reads the drill's state
//! document, takes one step, and writes it back.
//!
//! The drill is true on a live table because it validates only its own canary items, never
//! items the platform may change meanwhile:
//! 1. **start**: canaries are written into the source table ("before" values), and the restore
//!    time is fixed just after the last write was acknowledged;
//! 2. **await PITR**: `LatestRestorableDateTime` is typically 5 minutes behind the current time
//!    (`PointInTimeRecoveryDescription`), and `RestoreDateTime` must not be later than it
//!    (`RestoreTableToPointInTime`), so the drill waits until PITR has reached the restore time;
//! 3. **submit**: `RestoreTableToPointInTime` to the explicit restore time, then every canary is
//!    changed ("after" values) and one late canary is written: both happen after the restore
//!    time, so a true point-in-time restore holds neither;
//! 4. **restoring**: the scratch table is CREATING; each tick looks once;
//! 5. **validate**: ACTIVE: every canary must hold its "before" value and the late one must be
//!    absent; then the scratch table and the canaries are deleted.
//!
//! A drill older than `abandon_after_hours` is abandoned: FAIL, scratch table and canaries
//! removed. Pure: the adapter (`act::backup::drill`) reads and writes.

use crate::decide::backup::Status;
use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};

/// The partition-key prefix of every canary: the template grants backup-verifier writes into
/// a protected table only under it (`dynamodb:LeadingKeys`).
pub const CANARY_PREFIX: &str = "resilience-drill#";
/// The attribute holding a canary's value.
pub const CANARY_ATTRIBUTE: &str = "resilience_drill_value";
/// The sort-key value of canaries in a table with a string sort key.
pub const CANARY_SORT_KEY: &str = "resilience-drill";

/// Where a drill is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Canaries written; PITR has not reached the restore time yet.
    AwaitingPitr,
    /// Restore submitted; the scratch table is not ACTIVE yet.
    Restoring,
}

/// One canary: its partition key and the value written before the restore time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canary {
    pub key: String,
    pub before: String,
}

/// A drill in progress, as kept in the state table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillState {
    pub id: String,
    pub table: String,
    pub region: String,
    pub scratch_table: String,
    /// The table's key attributes (string-typed: the canaries' keys are strings).
    pub hash_key: String,
    #[serde(default)]
    pub sort_key: Option<String>,
    pub phase: Phase,
    pub started_at: DateTime<Utc>,
    /// The explicit point in time restored: after every canary's "before" write.
    pub restore_time: DateTime<Utc>,
    pub canaries: Vec<Canary>,
    /// Written after the restore was submitted: must not be in the restore.
    pub late_canary: String,
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
    /// When PITR was first seen to have reached the restore time.
    #[serde(default)]
    pub restorable_at: Option<DateTime<Utc>>,
    /// Invocations that moved this drill (the first included).
    pub steps: u32,
}

impl DrillState {
    /// A new drill: `id` names it, the canaries' keys derive from it.
    pub fn new(
        table: &str,
        region: &str,
        keys: (&str, Option<&str>),
        id: &str,
        started_at: DateTime<Utc>,
        values: &[String],
    ) -> DrillState {
        DrillState {
            id: id.to_owned(),
            table: table.to_owned(),
            region: region.to_owned(),
            scratch_table: format!("{table}-drill-{id}"),
            hash_key: keys.0.to_owned(),
            sort_key: keys.1.map(str::to_owned),
            phase: Phase::AwaitingPitr,
            started_at,
            restore_time: started_at,
            canaries: values
                .iter()
                .enumerate()
                .map(|(n, v)| Canary {
                    key: format!("{CANARY_PREFIX}{id}#{n}"),
                    before: v.clone(),
                })
                .collect(),
            late_canary: format!("{CANARY_PREFIX}{id}#late"),
            submitted_at: None,
            restorable_at: None,
            steps: 1,
        }
    }

    /// Every canary key the drill wrote (or may have written) into the source.
    pub fn all_keys(&self) -> Vec<String> {
        self.canaries
            .iter()
            .map(|c| c.key.clone())
            .chain(std::iter::once(self.late_canary.clone()))
            .collect()
    }
}

/// The restore time for canaries whose last write was acknowledged at `last_ack`: the next
/// whole second after it (PITR restores to the second), so every write is before it.
pub fn restore_time_after(last_ack: DateTime<Utc>) -> DateTime<Utc> {
    last_ack.duration_trunc(Duration::seconds(1)).unwrap_or(last_ack) + Duration::seconds(1)
}

/// What the scratch table is, as DescribeTable says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scratch {
    /// Not asked (the restore is not submitted yet).
    NotAsked,
    Missing,
    Status(String),
}

/// The one thing to do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// PITR has not reached the restore time: look again next tick.
    AwaitPitr { latest: Option<DateTime<Utc>> },
    /// Submit the restore to `restore_time` now.
    Submit,
    /// The restore is running: look again next tick.
    AwaitRestore { status: String, for_seconds: f64 },
    /// The scratch table is ACTIVE: validate, then clean up.
    Validate,
    /// Give up: report FAIL with this reason, then clean up.
    Abandon(String),
}

/// The step a drill takes now.
pub fn step(state: &DrillState, now: DateTime<Utc>, abandon_after: Duration, latest: Option<DateTime<Utc>>, scratch: &Scratch) -> Step {
    let age = now - state.started_at;
    match state.phase {
        Phase::AwaitingPitr => {
            if latest.is_some_and(|l| l >= state.restore_time) {
                Step::Submit
            } else if age >= abandon_after {
                Step::Abandon(format!(
                    "point-in-time recovery did not reach the restore time {} in {} h (latest restorable {})",
                    state.restore_time,
                    abandon_after.num_hours(),
                    latest.map_or("unknown".into(), |l| l.to_string())
                ))
            } else {
                Step::AwaitPitr { latest }
            }
        }
        Phase::Restoring => {
            let since = state.submitted_at.unwrap_or(state.started_at);
            match scratch {
                Scratch::Status(s) if s == "ACTIVE" => Step::Validate,
                Scratch::Missing => Step::Abandon(format!("the scratch table {} disappeared while restoring", state.scratch_table)),
                _ if age >= abandon_after => Step::Abandon(format!(
                    "the restore was not ACTIVE {} h after the drill started: the RTO data point is missed",
                    abandon_after.num_hours()
                )),
                Scratch::Status(s) => Step::AwaitRestore {
                    status: s.clone(),
                    for_seconds: (now - since).num_milliseconds() as f64 / 1000.0,
                },
                Scratch::NotAsked => Step::AwaitRestore {
                    status: "unknown".into(),
                    for_seconds: (now - since).num_milliseconds() as f64 / 1000.0,
                },
            }
        }
    }
}

/// What the restored table holds for each canary key (`None`: absent).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Restored {
    pub values: std::collections::BTreeMap<String, Option<String>>,
}

/// Validates the restore on the canaries: each holds its "before" value (written before the
/// restore time), none holds its "after" value, and the late canary is absent.
pub fn validate(state: &DrillState, restored: &Restored) -> (Status, usize, Vec<String>) {
    let mut problems = Vec::new();
    for c in &state.canaries {
        match restored.values.get(&c.key).cloned().flatten() {
            Some(v) if v == c.before => {}
            Some(v) => problems.push(format!("{} holds {v:?}, written after the restore time, not {:?}", c.key, c.before)),
            None => problems.push(format!("{} is missing, though written before the restore time", c.key)),
        }
    }
    if restored.values.get(&state.late_canary).cloned().flatten().is_some() {
        problems.push(format!("{} is present, though written after the restore time", state.late_canary));
    }
    let status = if problems.is_empty() { Status::Pass } else { Status::Fail };
    (status, state.canaries.len() + 1, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + s, 0).unwrap()
    }

    fn drill() -> DrillState {
        let mut d = DrillState::new("orders", "eu-north-1", ("id", None), "d1", at(0), &["a".into(), "b".into()]);
        d.restore_time = at(2);
        d
    }

    #[test]
    fn the_restore_time_is_after_the_last_acknowledged_write() {
        let ack = Utc.timestamp_opt(1_790_000_000, 400_000_000).unwrap();
        assert_eq!(restore_time_after(ack), at(1));
        assert!(restore_time_after(at(5)) > at(5));
    }

    #[test]
    fn canary_keys_carry_the_granted_prefix_and_the_scratch_table_the_drill_id() {
        let d = drill();
        assert!(d.all_keys().iter().all(|k| k.starts_with(CANARY_PREFIX)));
        assert_eq!(d.all_keys().len(), 3);
        assert_eq!(d.scratch_table, "orders-drill-d1");
    }

    #[test]
    fn the_restore_is_submitted_only_once_pitr_has_reached_the_restore_time() {
        let d = drill();
        let day = Duration::hours(24);
        assert_eq!(
            step(&d, at(10), day, Some(at(1)), &Scratch::NotAsked),
            Step::AwaitPitr { latest: Some(at(1)) }
        );
        assert_eq!(step(&d, at(10), day, None, &Scratch::NotAsked), Step::AwaitPitr { latest: None });
        assert_eq!(step(&d, at(400), day, Some(at(2)), &Scratch::NotAsked), Step::Submit);
        assert!(matches!(step(&d, at(90_000), day, Some(at(1)), &Scratch::NotAsked), Step::Abandon(r) if r.contains("did not reach")));
    }

    #[test]
    fn a_restore_in_progress_waits_across_ticks_and_is_abandoned_after_the_limit() {
        let mut d = drill();
        d.phase = Phase::Restoring;
        d.submitted_at = Some(at(300));
        let day = Duration::hours(24);
        let creating = Scratch::Status("CREATING".into());
        assert_eq!(
            step(&d, at(3900), day, None, &creating),
            Step::AwaitRestore {
                status: "CREATING".into(),
                for_seconds: 3600.0
            }
        );
        assert_eq!(step(&d, at(3900), day, None, &Scratch::Status("ACTIVE".into())), Step::Validate);
        assert!(matches!(step(&d, at(86_400), day, None, &creating), Step::Abandon(r) if r.contains("RTO")));
        assert!(matches!(step(&d, at(400), day, None, &Scratch::Missing), Step::Abandon(r) if r.contains("disappeared")));
    }

    #[test]
    fn validation_passes_only_the_before_values_and_no_late_canary() {
        let d = drill();
        let mut r = Restored::default();
        r.values.insert(d.canaries[0].key.clone(), Some("a".into()));
        r.values.insert(d.canaries[1].key.clone(), Some("b".into()));
        r.values.insert(d.late_canary.clone(), None);
        assert_eq!(validate(&d, &r), (Status::Pass, 3, vec![]));
        // A restore of the current data (not point in time): "after" values and the late one.
        r.values.insert(d.canaries[1].key.clone(), Some("after".into()));
        r.values.insert(d.late_canary.clone(), Some("late".into()));
        let (status, _, problems) = validate(&d, &r);
        assert_eq!(status, Status::Fail);
        assert_eq!(problems.len(), 2, "{problems:?}");
        // A restore from before the canaries were written.
        r.values.clear();
        let (status, _, problems) = validate(&d, &r);
        assert_eq!((status, problems.len()), (Status::Fail, 2));
        assert!(problems[0].contains("missing"));
    }
}
