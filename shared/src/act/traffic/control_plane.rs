//! The control-plane fallback: record weights through ChangeResourceRecordSets, then GetChange.

use crate::act::traffic::SwitchError;
use crate::config::DnsConfig;
use crate::model::Region;
use crate::model::audit::{ActionRecord, Outcome};
use crate::model::said;
use aws_sdk_route53::error::ProvideErrorMetadata;
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet};
use std::time::{Duration, Instant};

/// Control plane fallback: sets the region's weighted record to weight 0 (drained) or its
/// configured weight (restored) with one ChangeResourceRecordSets, then waits for INSYNC.
#[derive(Debug, Clone)]
pub struct ControlPlaneSwitch {
    client: crate::model::Deferred<aws_sdk_route53::Client>,
    dns: DnsConfig,
}

/// Route 53 answers PriorRequestNotComplete while an earlier change to the zone propagates.
const ROUTE53_BUSY_RETRIES: u32 = 5;

/// Worth another try after a pause: a change still propagating, or throttling that outlasted
/// the SDK's own retries.
fn route53_busy(
    e: &aws_sdk_route53::error::SdkError<aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsError>,
) -> bool {
    e.as_service_error().is_some_and(|se| se.is_prior_request_not_complete())
        || matches!(e.code(), Some("Throttling" | "ThrottlingException" | "PriorRequestNotComplete"))
}

impl ControlPlaneSwitch {
    pub fn new(client: crate::model::Deferred<aws_sdk_route53::Client>, dns: DnsConfig) -> Self {
        ControlPlaneSwitch { client, dns }
    }

    async fn record_of(&self, region: &Region) -> Result<ResourceRecordSet, SwitchError> {
        let set_id = &self.dns.records[region].set_identifier;
        let action = format!(
            "route53:ListResourceRecordSets {} {}",
            self.dns.hosted_zone_id, self.dns.record_name
        );
        let sets = crate::act::dns_records::record_sets(self.client.get(), &self.dns.hosted_zone_id, &self.dns.record_name)
            .await
            .map_err(|e| SwitchError::next(&action, e.said()))?;
        let wanted = self.dns.record_name.trim_end_matches('.');
        sets.iter()
            .find(|r| r.name().trim_end_matches('.') == wanted && r.set_identifier() == Some(set_id.as_str()))
            .cloned()
            .ok_or_else(|| SwitchError::next(&action, format!("no record {} with SetIdentifier {set_id}", self.dns.record_name)))
    }

    /// Whether this switch holds `region` out of DNS now: its weighted record is at weight 0.
    pub(crate) async fn holds(&self, region: &Region) -> Result<bool, String> {
        let record = self.record_of(region).await.map_err(|e| format!("{}: {}", e.action, e.message))?;
        Ok(record.weight() == Some(0))
    }

    /// Sets the region's weighted record to 0 (`drained`) or its configured weight, unless it is
    /// there already; success is the change INSYNC (or it is reported unconfirmed).
    pub(crate) async fn set_drained(&self, region: &Region, drained: bool) -> Result<ActionRecord, SwitchError> {
        let record = self.record_of(region).await?;
        let weight = if drained { 0 } else { self.dns.records[region].weight };
        let action = format!(
            "route53:ChangeResourceRecordSets {} {} {} weight={weight}",
            self.dns.hosted_zone_id, self.dns.record_name, region
        );
        if record.weight() == Some(weight) {
            return Ok(ActionRecord {
                action,
                outcome: Outcome::AlreadyInPlace,
                detail: format!("weight already {weight}"),
                millis: 0,
                confirm_ms: None,
            });
        }
        let fail = |message: String| SwitchError::next(&action, message);
        let batch = change_batch(record, weight, region, drained).map_err(|e| fail(e.to_string()))?;
        let change_id = self.submit(&batch).await.map_err(fail)?;
        self.await_insync(action, &change_id).await
    }

    /// Submits the change, pausing and trying again (a few times) while Route 53 is busy with
    /// an earlier change to the zone or throttles; returns the change's id.
    async fn submit(&self, batch: &ChangeBatch) -> Result<String, String> {
        let mut attempt = 0;
        loop {
            let res = self
                .client
                .get()
                .change_resource_record_sets()
                .hosted_zone_id(&self.dns.hosted_zone_id)
                .change_batch(batch.clone())
                .send()
                .await;
            match res {
                Ok(out) => return Ok(out.change_info().map(|c| c.id().to_owned()).unwrap_or_default()),
                Err(e) if attempt < ROUTE53_BUSY_RETRIES && route53_busy(&e) => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
                }
                Err(e) => return Err(said(&e)),
            }
        }
    }

    /// Watches the submitted change (GetChange) until it is INSYNC, or reports it unconfirmed
    /// after the configured wait.
    async fn await_insync(&self, action: String, change_id: &str) -> Result<ActionRecord, SwitchError> {
        let started = Instant::now();
        let deadline = Duration::from_secs(self.dns.insync_wait_seconds);
        loop {
            let status = self
                .client
                .get()
                .get_change()
                .id(change_id)
                .send()
                .await
                .map_err(|e| SwitchError::next(&action, format!("change {change_id} submitted, status unknown: {}", said(&e))))?
                .change_info()
                .map(|c| c.status().clone());
            if status == Some(ChangeStatus::Insync) {
                let waited = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                return Ok(ActionRecord {
                    action,
                    outcome: Outcome::Succeeded,
                    detail: format!("change {change_id} INSYNC after {waited} ms"),
                    millis: 0,
                    confirm_ms: Some(waited),
                });
            }
            if started.elapsed() >= deadline {
                // Submitted changes are applied by Route 53 even if we stop watching, but until
                // INSYNC not every name server answers with it (`GetChange`).
                return Ok(ActionRecord {
                    action,
                    outcome: Outcome::Unconfirmed,
                    detail: format!("change {change_id} submitted, still PENDING after {}s", deadline.as_secs()),
                    millis: 0,
                    confirm_ms: None,
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// The one-change batch that upserts `record` at `weight`, commented with what it is for.
fn change_batch(
    record: ResourceRecordSet,
    weight: i64,
    region: &Region,
    drained: bool,
) -> Result<ChangeBatch, aws_sdk_route53::error::BuildError> {
    let mut updated = record;
    updated.weight = Some(weight);
    ChangeBatch::builder()
        .comment(format!(
            "aworld-resilience dns-failover: {} {region}",
            if drained { "drain" } else { "restore" }
        ))
        .changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(updated)
                .build()?,
        )
        .build()
}
