//! The operator's view of the suite and the operator commands, as a library the `resilience`
//! binary (and the demo) use. Reads go to the state and throttle tables of one region; commands
//! are the documented EventBridge events (source `<platform>.operator` by default, one
//! detail-type per command), signed with the operator KMS key and put on the operator bus.

pub mod preflight;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use resilience_core::config::SuiteConfig;
use resilience_core::decide::readiness::{Grade, Item, ReadinessReport};
use resilience_core::model::audit::AuditRecord;
use resilience_core::model::{Function, Region};
use resilience_core::signal::command::{MAX_REASON_CHARS, MAX_SIGNED_BYTES, signing_input};
use resilience_core::signal::{CommandProof, OperatorCommandDetail, OperatorCommandKind};
use resilience_core::store::StateStore;
use resilience_core::store::dynamodb::DynamoStore;
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] resilience_core::store::StoreError),
    #[error("{0}")]
    Aws(String),
    #[error("{0}")]
    Usage(String),
}

/// Which regions serve, whether automation is frozen, the open leases.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub record_name: String,
    pub serving: Vec<Region>,
    pub drained: Vec<Region>,
    pub frozen: bool,
    pub kill_switch: bool,
    pub dry_run: bool,
    pub last_failover_at: Option<DateTime<Utc>>,
    pub open_leases: Vec<Value>,
    pub pending_notifications: usize,
    /// The last readiness check run from each region, and its age.
    pub readiness: Vec<ReadinessSeen>,
    /// Regions whose last readiness report could not be read, with why.
    pub readiness_unreadable: Vec<String>,
}

/// One region's last readiness report, as `resilience status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReadinessSeen {
    pub checked_from: Region,
    pub grade: Grade,
    pub summary: String,
    pub at: DateTime<Utc>,
    pub age_seconds: i64,
    /// The items that are not PASS.
    pub not_passing: Vec<Item>,
}

/// The last readiness report of each region (its own copy, read where it is written), and the
/// regions whose report could not be read (a region down must not hide the others').
pub async fn readiness(peers: &[(Region, DynamoStore)]) -> (Vec<ReadinessSeen>, Vec<String>) {
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    for (region, store) in peers {
        let v = match store.get_state(&resilience_core::documents::readiness_report(region)).await {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(e) => {
                unreadable.push(format!("{region}: {e}"));
                continue;
            }
        };
        let Ok(report) = serde_json::from_value::<ReadinessReport>(v.value) else {
            continue;
        };
        out.push(ReadinessSeen {
            checked_from: region.clone(),
            grade: report.grade(),
            summary: report.summary(),
            at: report.at,
            age_seconds: (Utc::now() - report.at).num_seconds(),
            not_passing: report.items.into_iter().filter(|i| i.grade != Grade::Pass).collect(),
        });
    }
    (out, unreadable)
}

/// A report as a table a person reads: the items that are not PASS first, each with its fix.
pub fn readiness_table(report: &ReadinessReport) -> String {
    let mut items: Vec<&Item> = report.items.iter().collect();
    items.sort_by(|a, b| {
        b.grade
            .cmp(&a.grade)
            .then((a.area, &a.region, &a.item).cmp(&(b.area, &b.region, &b.item)))
    });
    let mut lines: Vec<String> = items
        .iter()
        .map(|i| {
            let fix = if i.fix.is_empty() {
                String::new()
            } else {
                format!("\n      fix: {}", i.fix)
            };
            format!(
                "{:<4}  {:<13} {:<10} {}: {}{fix}",
                format!("{:?}", i.grade).to_uppercase(),
                i.area.as_str(),
                i.region,
                i.item,
                i.detail
            )
        })
        .collect();
    lines.push(report.summary());
    lines.join("\n")
}

/// `store` is the state table in `home`; `peers` the same table in every configured region
/// (each region's copy of the DNS state is read where it is written).
pub async fn status(
    config: &SuiteConfig,
    home: &Region,
    store: &DynamoStore,
    peers: &[(Region, DynamoStore)],
    ddb: &aws_sdk_dynamodb::Client,
) -> Result<Status, CliError> {
    let (_, _, state) = resilience_core::documents::dns::read(config, home, store, peers).await?;
    let now = Utc::now().timestamp_millis();
    let leases = ddb
        .scan()
        .table_name(&config.state_table)
        .filter_expression("begins_with(pk, :lease)")
        .expression_attribute_values(":lease", AttributeValue::S("LEASE#".into()))
        .send()
        .await
        .map_err(|e| CliError::Aws(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
    let open_leases = leases
        .items()
        .iter()
        .filter_map(|i| {
            let until: i64 = i.get("lease_until")?.as_n().ok()?.parse().ok()?;
            let lease = i.get("pk")?.as_s().ok()?.trim_start_matches("LEASE#").to_owned();
            let owner = i.get("owner")?.as_s().ok()?.clone();
            (until > now).then(|| json!({ "lease": lease, "owner": owner, "until_ms": until }))
        })
        .collect();
    let (readiness, readiness_unreadable) = readiness(peers).await;
    Ok(Status {
        record_name: config.dns.record_name.clone(),
        serving: config.regions.keys().filter(|r| !state.drained.contains(*r)).cloned().collect(),
        drained: state.drained.iter().cloned().collect(),
        frozen: state.frozen,
        kill_switch: config.kill_switch,
        dry_run: config.dry_run,
        last_failover_at: state.last_failover_at,
        open_leases,
        pending_notifications: state.outbox.len(),
        readiness,
        readiness_unreadable,
    })
}

/// The newest audit records of one function, or of every function merged by time.
pub async fn audit(store: &DynamoStore, function: Option<Function>, limit: usize) -> Result<Vec<AuditRecord>, CliError> {
    let mut all = Vec::new();
    for f in function.map_or(Function::ALL.to_vec(), |f| vec![f]) {
        all.extend(store.recent_audit(f.as_str(), limit).await?);
    }
    all.sort_by_key(|r| std::cmp::Reverse(r.at));
    all.truncate(limit);
    Ok(all)
}

/// Principals whose limits are in force now.
pub async fn throttled(config: &SuiteConfig, ddb: &aws_sdk_dynamodb::Client) -> Result<Vec<Value>, CliError> {
    let Some(t) = &config.throttle else { return Ok(vec![]) };
    let now = Utc::now().timestamp();
    let out = ddb
        .scan()
        .table_name(&t.table)
        .filter_expression("#u > :now")
        .expression_attribute_names("#u", "until")
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .send()
        .await
        .map_err(|e| CliError::Aws(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()))?;
    Ok(out
        .items()
        .iter()
        .map(|i| {
            let s = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let n = |k: &str| i.get(k).and_then(|v| v.as_n().ok()).cloned().unwrap_or_default();
            json!({ "principal": s("pk"), "level": s("level_name"), "until": n("until"), "offences": n("offences"), "reason": s("reason") })
        })
        .collect())
}

/// backup-verifier's last report.
pub async fn last_backup_report(store: &DynamoStore) -> Result<Option<Value>, CliError> {
    Ok(store.get_state(resilience_core::documents::BACKUP_REPORT).await?.map(|v| v.value))
}

/// The documented EventBridge event of an operator command, as PutEvents takes it and as the
/// functions receive it (the envelope fields EventBridge adds are filled in for local use).
pub fn command_event(config: &SuiteConfig, kind: OperatorCommandKind, detail: &OperatorCommandDetail, region: &Region) -> Value {
    let source = config
        .operators
        .sources
        .first()
        .cloned()
        .unwrap_or_else(|| resilience_core::signal::DEFAULT_OPERATOR_SOURCE.to_owned());
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": kind.detail_type(),
        "source": source,
        // The account of the signed requester (an ARN's fifth field): EventBridge fills in the
        // sender's account on PutEvents; the printed event shows the same.
        "account": detail.requested_by.split(':').nth(4).filter(|a| a.len() == 12).unwrap_or("000000000000"),
        "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": region.as_str(),
        "resources": [],
        "detail": detail,
    })
}

/// The caller, as AWS authenticates it (STS `GetCallerIdentity`): never a name the user types.
/// The call needs no permission ("GetCallerIdentity", STS API reference): it works for any
/// operator credentials.
pub async fn caller(sts: &aws_sdk_sts::Client) -> Result<String, CliError> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| CliError::Aws(aws_sdk_sts::error::DisplayErrorContext(e).to_string()))?;
    out.arn()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Aws("GetCallerIdentity returned no ARN".into()))
}

/// The operator key the CLI signs with: `requested` (an ARN from operators.signing_keys), or
/// the configured key of `region`, so a command is signed in the region it is sent to and a
/// failed region's KMS is never needed.
pub fn signing_key(config: &SuiteConfig, region: &Region, requested: Option<&str>) -> Result<String, CliError> {
    let keys = &config.operators.signing_keys;
    if let Some(k) = requested {
        return keys.iter().find(|c| c.key_id == k).map(|c| c.key_id.clone()).ok_or_else(|| {
            CliError::Usage(format!(
                "--key {k}: not one of operators.signing_keys (the functions would refuse it)"
            ))
        });
    }
    let in_region = format!(":kms:{region}:");
    keys.iter()
        .find(|k| k.key_id.contains(&in_region))
        .or_else(|| keys.first())
        .map(|k| k.key_id.clone())
        .ok_or_else(|| {
            CliError::Usage(
                "operators.signing_keys is empty: the functions refuse every command (deploy the stack, whose deploy renders the keys)"
                    .into(),
            )
        })
}

/// Signs `detail` for `kind` with the operator KMS key `key_id` (KMS `Sign`, `ECDSA_SHA_256`
/// over the RAW signing input, at most 4096 bytes), with the time and a fresh nonce, exactly
/// as the functions verify it.
pub async fn sign(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    kind: OperatorCommandKind,
    detail: &mut OperatorCommandDetail,
) -> Result<(), CliError> {
    use aws_sdk_kms::primitives::Blob;
    use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
    use base64::Engine;
    if detail.reason.chars().count() > MAX_REASON_CHARS {
        return Err(CliError::Usage(format!("--reason is longer than {MAX_REASON_CHARS} characters")));
    }
    detail.proof = None;
    let issued_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let nonce = uuid::Uuid::new_v4().to_string();
    let message = signing_input(kind, detail, key_id, &issued_at, &nonce);
    if message.len() > MAX_SIGNED_BYTES {
        return Err(CliError::Usage(format!(
            "the command is {} bytes signed; KMS signs at most {MAX_SIGNED_BYTES} (shorten --reason)",
            message.len()
        )));
    }
    let out = kms
        .sign()
        .key_id(key_id)
        .message(Blob::new(message))
        .message_type(MessageType::Raw)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .map_err(|e| CliError::Aws(format!("signing with {key_id}: {}", aws_sdk_kms::error::DisplayErrorContext(e))))?;
    let signature = out
        .signature()
        .ok_or_else(|| CliError::Aws("KMS Sign returned no signature".into()))?;
    // KMS returns either of the two valid forms; the functions accept only the low-S one.
    let signature = resilience_core::signal::command::low_s::normalise(signature.as_ref())
        .map_err(|e| CliError::Aws(format!("KMS Sign returned a signature that is not DER ECDSA: {e}")))?;
    detail.proof = Some(CommandProof {
        key_id: key_id.to_owned(),
        issued_at,
        nonce,
        signature: base64::engine::general_purpose::STANDARD.encode(signature),
    });
    Ok(())
}

/// Puts the command on the operator bus. Returns the event id.
pub async fn send(eb: &aws_sdk_eventbridge::Client, bus: &str, event: &Value) -> Result<String, CliError> {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(event["source"].as_str().unwrap_or_default())
        .detail_type(event["detail-type"].as_str().unwrap_or_default())
        .detail(event["detail"].to_string())
        .build();
    let out = eb
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| CliError::Aws(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string()))?;
    let first = out.entries().first();
    match first.and_then(|e| e.event_id()) {
        Some(id) => Ok(id.to_owned()),
        None => Err(CliError::Aws(format!(
            "event refused: {}",
            first.and_then(|e| e.error_message()).unwrap_or("no entry returned")
        ))),
    }
}

/// The newest practice drill report of any region (its phase table and timeline), and the
/// regions whose report could not be read (named, never taken as "no drill yet").
pub async fn last_practice(
    config: &SuiteConfig,
    peers: &[(Region, DynamoStore)],
) -> (Option<resilience_core::decide::practice::Report>, Vec<String>) {
    use resilience_core::decide::practice;
    let Some(d) = config.practice_drill.as_ref() else {
        return (None, Vec::new());
    };
    let mut newest: Option<practice::Report> = None;
    let mut unreadable = Vec::new();
    for (region, store) in peers {
        let report = match resilience_core::documents::load::<practice::Report, _>(
            store,
            &resilience_core::documents::practice_last(&d.record_name),
        )
        .await
        {
            Ok((Some(report), _)) => report,
            Ok((None, _)) => continue,
            Err(e) => {
                unreadable.push(format!("{region}: {e}"));
                continue;
            }
        };
        let at = |r: &practice::Report| r.rows.first().map(|x| x.at);
        if newest.as_ref().is_none_or(|n| at(&report) > at(n)) {
            newest = Some(report);
        }
    }
    (newest, unreadable)
}

/// Every region's drill history, oldest first, and the regions whose history could not be read.
pub async fn drills(peers: &[(Region, DynamoStore)]) -> (Vec<resilience_core::decide::drills::DrillRecord>, Vec<String>) {
    use resilience_core::decide::drills;
    let mut all = Vec::new();
    let mut unreadable = Vec::new();
    for (region, store) in peers {
        match store.get_state(&resilience_core::documents::drill_history(region)).await {
            Ok(Some(v)) => match serde_json::from_value::<Vec<drills::DrillRecord>>(v.value) {
                Ok(records) => all.extend(records),
                Err(e) => unreadable.push(format!("{region}: {e}")),
            },
            Ok(None) => {}
            Err(e) => unreadable.push(format!("{region}: {e}")),
        }
    }
    all.sort_by_key(|r| r.at);
    (all, unreadable)
}
