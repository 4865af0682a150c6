//! The operator's view of the suite and the operator commands, as a library the `resilience`
//! binary (and the demo) use. Reads go to the state and throttle tables of one region; commands
//! are the documented EventBridge events (source `<platform>.operator` by default, one
//! detail-type per command), put on the operator bus.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use resilience_core::config::SuiteConfig;
use resilience_core::evidence::audit::AuditRecord;
use resilience_core::model::Region;
use resilience_core::signal::{OperatorCommandDetail, OperatorCommandKind};
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
    let (_, _, state) = resilience_core::handler::dns_state::read(config, home, store, peers).await?;
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
    })
}

pub const FUNCTIONS: [&str; 5] = [
    "dns-failover",
    "capacity-scaler",
    "backup-verifier",
    "user-throttle",
    "access-authorizer",
];

/// The newest audit records of one function, or of every function merged by time.
pub async fn audit(store: &DynamoStore, function: Option<&str>, limit: usize) -> Result<Vec<AuditRecord>, CliError> {
    let mut all = Vec::new();
    for f in function.map_or(FUNCTIONS.to_vec(), |f| vec![f]) {
        all.extend(store.recent_audit(f, limit).await?);
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
    Ok(store.get_state("backup#last-report").await?.map(|v| v.value))
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
        "account": "000000000000",
        "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": region.as_str(),
        "resources": [],
        "detail": detail,
    })
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
