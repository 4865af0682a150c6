//! The restore drill's reads and writes, one step per invocation (the state machine is
//! `decide::restore_drill`): write canaries, wait for PITR to reach the restore time, submit
//! `RestoreTableToPointInTime` to that explicit time, change the canaries, look at the scratch
//! table, validate it on the canaries, delete the scratch table and the canaries.

use super::{BackupInspector, api_error};
use crate::act::tables;
use crate::config::DrillConfig;
use crate::decide::backup::{DrillReport, Status};
use crate::decide::restore_drill::{self, CANARY_ATTRIBUTE, CANARY_SORT_KEY, DrillState, Phase, Restored, Scratch, Step};
use crate::model::ReadErrorKind;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, BillingMode};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What one invocation did to the drill.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillTurn {
    /// The state to keep (None: the drill is over, or never started).
    pub state: Option<DrillState>,
    /// The finished drill's report.
    pub report: Option<DrillReport>,
    /// What happened, for the run's report.
    pub progress: String,
}

impl DrillTurn {
    /// Still in progress: `state` is kept for the next tick.
    fn waiting(state: DrillState, progress: String) -> Self {
        DrillTurn {
            state: Some(state),
            report: None,
            progress,
        }
    }

    /// Over: nothing is kept, the report is given.
    fn over(progress: String, report: DrillReport) -> Self {
        DrillTurn {
            state: None,
            report: Some(report),
            progress,
        }
    }
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// How the request for the restore went.
enum Submitted {
    /// The restore is running (submitted now, or by an invocation that got there first).
    Running,
    /// Not now, and not a verdict: the next tick asks again.
    NotNow(String),
    /// Refused: the drill fails.
    Refused(String),
}

/// Requests `RestoreTableToPointInTime` of the drill's table into its scratch table, to the
/// drill's explicit restore time, and sorts the answer into running, not now, or refused.
async fn request_restore(ddb: &aws_sdk_dynamodb::Client, state: &DrillState) -> Submitted {
    let restore_at = aws_smithy_types::DateTime::from_millis(state.restore_time.timestamp_millis());
    let submitted = ddb
        .restore_table_to_point_in_time()
        .source_table_name(&state.table)
        .target_table_name(&state.scratch_table)
        .restore_date_time(restore_at)
        // A drill should cost little: on-demand, whatever the source uses.
        .billing_mode_override(BillingMode::PayPerRequest)
        .send()
        .await;
    match submitted {
        Ok(_) => Submitted::Running,
        // A second invocation got there first: the restore is running.
        Err(e) if e.code() == Some("TableAlreadyExistsException") => Submitted::Running,
        // Not a verdict, the next tick tries again: PITR said it was there and the restore
        // says not yet; throttled; a service error; or the account's concurrent restores all
        // in use ("up to 50 concurrent restores (any type of restore) in a given account",
        // RestoreTableToPointInTime, DynamoDB API Reference). A restore that did start
        // answers TableAlreadyExistsException then.
        Err(e)
            if e.code().is_some_and(|c| {
                c == "InvalidRestoreTimeException" || c.contains("Throttl") || c == "LimitExceededException" || c == "InternalServerError"
            }) || e.raw_response().is_some_and(|r| r.status().as_u16() >= 500) =>
        {
            Submitted::NotNow(api_error("RestoreTableToPointInTime", e))
        }
        Err(e) => Submitted::Refused(api_error("RestoreTableToPointInTime", e)),
    }
}

impl BackupInspector {
    /// Starts a drill: removes leftovers of an earlier one, writes the canaries, fixes the
    /// restore time after them, and takes the first step (usually: PITR is not there yet).
    pub async fn drill_start(&self, drill: &DrillConfig, now: DateTime<Utc>) -> DrillTurn {
        let ddb = self.dynamodb(&drill.region);
        let leftovers = self.remove_leftovers(&ddb, &drill.table).await;
        let keys = match self.string_keys(&ddb, &drill.table).await {
            Ok(k) => k,
            Err(e) => return self.refused(drill, now, e),
        };
        let id = format!("{}-{}", now.format("%Y%m%d%H%M%S"), &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let values: Vec<String> = (0..drill.canaries)
            .map(|n| format!("before-{n}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
            .collect();
        let mut state = DrillState::new(&drill.table, drill.region.as_str(), (&keys.0, keys.1.as_deref()), &id, now, &values);
        let mut last_ack = now;
        for c in state.canaries.clone() {
            let written = ddb
                .put_item()
                .table_name(&drill.table)
                .set_item(Some(self.canary_item(&state, &c.key, &c.before)))
                .send()
                .await;
            if let Err(e) = written {
                let why = api_error("PutItem (canary)", e);
                let mut report = self
                    .finish(&ddb, &state, Status::Fail, format!("the canaries could not be written: {why}"))
                    .await;
                report.detail = format!("{}{}", report.detail, notes(&leftovers));
                return DrillTurn::over(report.detail.clone(), report);
            }
            last_ack = Utc::now();
        }
        state.restore_time = restore_drill::restore_time_after(last_ack);
        let mut turn = self.drill_advance(drill, state, Utc::now()).await;
        turn.progress = format!(
            "drill {id} started: {} canaries written, restore time {}{}; {}",
            drill.canaries,
            turn.state.as_ref().map_or(String::new(), |s| s.restore_time.to_rfc3339()),
            notes(&leftovers),
            turn.progress
        );
        turn
    }

    /// One step of a drill in progress.
    pub async fn drill_advance(&self, drill: &DrillConfig, mut state: DrillState, now: DateTime<Utc>) -> DrillTurn {
        let ddb = self.dynamodb(&drill.region);
        let abandon_after = chrono::Duration::hours(drill.abandon_after_hours as i64);
        let (latest, scratch) = match state.phase {
            Phase::AwaitingPitr => (self.latest_restorable(&ddb, &state.table).await, Scratch::NotAsked),
            Phase::Restoring => (Ok(None), self.scratch(&ddb, &state.scratch_table).await),
        };
        // A PITR that cannot be read is not there yet: the age limit still applies.
        let (latest, unread) = match latest {
            Ok(l) => (l, None),
            Err(e) => (None, Some(e)),
        };
        match restore_drill::step(&state, now, abandon_after, latest, &scratch) {
            Step::AwaitPitr { .. } if unread.is_some() => {
                state.steps += 1;
                let progress = format!(
                    "drill {}: PITR not read ({}); looks again next time",
                    state.id,
                    unread.unwrap_or_default()
                );
                DrillTurn::waiting(state, progress)
            }
            Step::AwaitPitr { latest } => {
                state.steps += 1;
                let progress = format!(
                    "drill {}: waiting for point-in-time recovery to reach {} (latest restorable {})",
                    state.id,
                    state.restore_time.to_rfc3339(),
                    latest.map_or("unknown".into(), |l| l.to_rfc3339())
                );
                DrillTurn::waiting(state, progress)
            }
            Step::Submit => self.submit(&ddb, state, now).await,
            Step::AwaitRestore { status, for_seconds } => {
                state.steps += 1;
                let progress = format!("drill {}: {} is {status} after {for_seconds:.0} s", state.id, state.scratch_table);
                DrillTurn::waiting(state, progress)
            }
            Step::Validate => {
                state.steps += 1;
                let restore_seconds = state.submitted_at.map(|s| seconds(s, now));
                let mut report = match self.restored(&ddb, &state).await {
                    Ok(restored) => {
                        let (status, sampled, problems) = restore_drill::validate(&state, &restored);
                        let detail = if problems.is_empty() {
                            format!(
                                "restored as of {} in {:.1} s (over {} invocations); {sampled} canaries as written before it, none of the later writes",
                                state.restore_time.to_rfc3339(),
                                restore_seconds.unwrap_or_default(),
                                state.steps
                            )
                        } else {
                            format!("{} of {sampled} canaries wrong: {}", problems.len(), problems.join("; "))
                        };
                        let mut r = self.finish(&ddb, &state, status, detail).await;
                        r.sampled = sampled;
                        r.mismatched = problems.len();
                        r
                    }
                    Err(e) => {
                        self.finish(&ddb, &state, Status::Fail, format!("the restore could not be read: {e}"))
                            .await
                    }
                };
                report.restore_seconds = restore_seconds;
                DrillTurn::over(format!("drill {}: {:?}", state.id, report.status), report)
            }
            Step::Abandon(why) => {
                state.steps += 1;
                let report = self.finish(&ddb, &state, Status::Fail, format!("drill abandoned: {why}")).await;
                DrillTurn::over(format!("drill {} abandoned", state.id), report)
            }
        }
    }

    /// Submits the restore to the drill's explicit time, then writes after it: each canary's
    /// "after" value and the late canary, which a point-in-time restore must not hold.
    async fn submit(&self, ddb: &aws_sdk_dynamodb::Client, mut state: DrillState, now: DateTime<Utc>) -> DrillTurn {
        state.steps += 1;
        match request_restore(ddb, &state).await {
            Submitted::Running => {}
            Submitted::NotNow(why) => {
                let progress = format!(
                    "drill {}: the restore to {} could not be submitted now ({why}); the next tick tries again",
                    state.id,
                    state.restore_time.to_rfc3339(),
                );
                return DrillTurn::waiting(state, progress);
            }
            Submitted::Refused(why) => {
                let report = self
                    .finish(ddb, &state, Status::Fail, format!("the restore was refused: {why}"))
                    .await;
                return DrillTurn::over(report.detail.clone(), report);
            }
        }
        state.phase = Phase::Restoring;
        state.submitted_at = Some(now);
        state.restorable_at = Some(now);
        let failed = self.write_after(ddb, &state).await;
        let progress = format!(
            "drill {}: restore to {} submitted into {} after {:.0} s waiting for PITR{}",
            state.id,
            state.restore_time.to_rfc3339(),
            state.scratch_table,
            seconds(state.started_at, now),
            if failed.is_empty() {
                String::new()
            } else {
                format!(" (later writes failed, the validation is weaker: {})", failed.join("; "))
            }
        );
        DrillTurn::waiting(state, progress)
    }

    /// The writes after the restore time: each canary's "after" value, then the late canary.
    /// Returns the writes that failed (a weaker validation, not a failed drill).
    async fn write_after(&self, ddb: &aws_sdk_dynamodb::Client, state: &DrillState) -> Vec<String> {
        let mut failed = Vec::new();
        for c in state.canaries.clone() {
            let after = c.before.replacen("before", "after", 1);
            if let Err(e) = ddb
                .put_item()
                .table_name(&state.table)
                .set_item(Some(self.canary_item(state, &c.key, &after)))
                .send()
                .await
            {
                failed.push(api_error("PutItem (canary after)", e));
            }
        }
        let late = state.late_canary.clone();
        if let Err(e) = ddb
            .put_item()
            .table_name(&state.table)
            .set_item(Some(self.canary_item(state, &late, "late")))
            .send()
            .await
        {
            failed.push(api_error("PutItem (late canary)", e));
        }
        failed
    }

    /// The report of a drill that ends now, after deleting its scratch table and canaries.
    async fn finish(&self, ddb: &aws_sdk_dynamodb::Client, state: &DrillState, status: Status, detail: String) -> DrillReport {
        let mut notes = Vec::new();
        let mut cleaned = true;
        match ddb.delete_table().table_name(&state.scratch_table).send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => {
                cleaned = false;
                notes.push(format!(
                    "scratch table {} not deleted ({}); the next drill removes it",
                    state.scratch_table,
                    api_error("DeleteTable", e)
                ));
            }
        }
        for key in state.all_keys() {
            if let Err(e) = ddb
                .delete_item()
                .table_name(&state.table)
                .set_key(Some(self.canary_key(state, &key)))
                .send()
                .await
            {
                cleaned = false;
                notes.push(format!("canary {key} not deleted: {}", api_error("DeleteItem", e)));
            }
        }
        DrillReport {
            table: state.table.clone(),
            region: state.region.clone(),
            scratch_table: state.scratch_table.clone(),
            status,
            restore_seconds: None,
            restore_point: Some(state.restore_time),
            pitr_wait_seconds: state.restorable_at.map(|r| seconds(state.started_at, r)),
            sampled: 0,
            mismatched: 0,
            steps: state.steps,
            cleaned_up: cleaned,
            detail: std::iter::once(detail).chain(notes).collect::<Vec<_>>().join("; "),
        }
    }

    fn refused(&self, drill: &DrillConfig, now: DateTime<Utc>, why: String) -> DrillTurn {
        let report = DrillReport {
            table: drill.table.clone(),
            region: drill.region.to_string(),
            scratch_table: String::new(),
            status: Status::Fail,
            restore_seconds: None,
            restore_point: None,
            pitr_wait_seconds: None,
            sampled: 0,
            mismatched: 0,
            steps: 1,
            cleaned_up: true,
            detail: format!("the drill could not start at {}: {why}", now.to_rfc3339()),
        };
        DrillTurn::over(report.detail.clone(), report)
    }

    fn canary_key(&self, state: &DrillState, key: &str) -> HashMap<String, AttributeValue> {
        let mut k = HashMap::from([(state.hash_key.clone(), AttributeValue::S(key.to_owned()))]);
        if let Some(sort) = &state.sort_key {
            k.insert(sort.clone(), AttributeValue::S(CANARY_SORT_KEY.into()));
        }
        k
    }

    fn canary_item(&self, state: &DrillState, key: &str, value: &str) -> HashMap<String, AttributeValue> {
        let mut item = self.canary_key(state, key);
        item.insert(CANARY_ATTRIBUTE.into(), AttributeValue::S(value.to_owned()));
        item
    }

    /// The table's key attributes, which must be strings: the canaries' keys are.
    async fn string_keys(&self, ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(String, Option<String>), String> {
        let t = tables::describe(ddb, table).await.map_err(|e| tables::reading_failed(&e))?;
        let mut hash = None;
        let mut sort = None;
        for k in t.keys {
            if !k.string {
                return Err(format!(
                    "key attribute {} is not a string: the drill's canaries need string keys",
                    k.name
                ));
            }
            if k.partition {
                hash = Some(k.name);
            } else {
                sort = Some(k.name);
            }
        }
        Ok((hash.ok_or("the table has no partition key")?, sort))
    }

    async fn latest_restorable(&self, ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Option<DateTime<Utc>>, String> {
        Ok(tables::pitr(ddb, table).await.map_err(|e| tables::reading_failed(&e))?.latest)
    }

    async fn scratch(&self, ddb: &aws_sdk_dynamodb::Client, scratch: &str) -> Scratch {
        match tables::describe(ddb, scratch).await {
            Ok(t) => Scratch::Status(t.status.unwrap_or_else(|| "UNKNOWN".into())),
            Err(e) if e.kind == ReadErrorKind::Missing => Scratch::Missing,
            // Throttled or unavailable: not ACTIVE as far as we know; the next tick looks again.
            Err(e) => Scratch::Status(format!("unreadable ({})", tables::reading_failed(&e))),
        }
    }

    /// Each canary's value in the restored table, strongly consistent.
    async fn restored(&self, ddb: &aws_sdk_dynamodb::Client, state: &DrillState) -> Result<Restored, String> {
        let mut out = Restored::default();
        for key in state.all_keys() {
            let got = ddb
                .get_item()
                .table_name(&state.scratch_table)
                .set_key(Some(self.canary_key(state, &key)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| api_error("GetItem (restored)", e))?;
            let value = got
                .item()
                .and_then(|i| i.get(CANARY_ATTRIBUTE))
                .and_then(|v| v.as_s().ok())
                .cloned();
            out.values.insert(key, value);
        }
        Ok(out)
    }

    async fn remove_leftovers(&self, ddb: &aws_sdk_dynamodb::Client, table: &str) -> Vec<String> {
        let prefix = format!("{table}-drill-");
        let mut notes = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let Ok(page) = ddb.list_tables().set_exclusive_start_table_name(start.clone()).send().await else {
                break;
            };
            // Only names a drill makes (`<table>-drill-<YYYYmmddHHMMSS>-<6 hex>`): never a table
            // of the platform's that merely starts the same way.
            let ours = |n: &&String| {
                n.strip_prefix(&prefix).is_some_and(|id| {
                    let b = id.as_bytes();
                    b.len() == 21 && b[..14].iter().all(u8::is_ascii_digit) && b[14] == b'-' && b[15..].iter().all(u8::is_ascii_hexdigit)
                })
            };
            for name in page.table_names().iter().filter(ours) {
                match ddb.delete_table().table_name(name).send().await {
                    Ok(_) => notes.push(format!("removed leftover scratch table {name}")),
                    Err(e) => notes.push(format!(
                        "leftover scratch table {name} not removed: {}",
                        api_error("DeleteTable", e)
                    )),
                }
            }
            start = page.last_evaluated_table_name().map(str::to_owned);
            if start.is_none() {
                break;
            }
        }
        notes
    }
}

fn notes(notes: &[String]) -> String {
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    }
}
