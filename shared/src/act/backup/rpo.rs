//! The RPO probe: canary items written in this region's replica of the state table (a global
//! table) and read back in every other region's, so the replication lag of each region pair is
//! measured as it is now, not as CloudWatch's one-minute `ReplicationLatency` average. Each lag
//! is from the write's acknowledgement here to the first read that finds the item there, both
//! on this function's clock (no clock skew between regions). The canaries are deleted after
//! (the deletes replicate too) and expire by TTL (`expires_at`) if a run is cut short.

use super::BackupInspector;
use crate::config::{RpoProbeConfig, SuiteConfig};
use crate::decide::backup::{self, CheckResult, Status};
use crate::model::Region;
use aws_sdk_dynamodb::types::AttributeValue;
use std::time::{Duration, Instant};

/// How often a peer replica is read while a canary is awaited.
const POLL: Duration = Duration::from_millis(50);

impl BackupInspector {
    pub async fn rpo_probe(&self, config: &SuiteConfig, home: &Region, probe: &RpoProbeConfig) -> Vec<CheckResult> {
        let table = &config.state_table;
        let peers: Vec<&Region> = config.peers_of(home).collect();
        if peers.is_empty() {
            return vec![];
        }
        let local = self.dynamodb(home);
        let run = uuid::Uuid::new_v4().simple().to_string();
        let pk = format!("RPO#{home}");
        let timeout = Duration::from_secs(probe.timeout_seconds);
        // Per peer: the lags seen, the canaries never seen.
        let mut seen: Vec<Vec<f64>> = vec![Vec::new(); peers.len()];
        let mut missing = vec![0usize; peers.len()];
        let mut written = Vec::new();
        for i in 0..probe.samples {
            let sk = format!("{run}#{i}");
            let now = chrono::Utc::now();
            let put = local
                .put_item()
                .table_name(table)
                .item("pk", AttributeValue::S(pk.clone()))
                .item("sk", AttributeValue::S(sk.clone()))
                .item("written_at", AttributeValue::S(now.to_rfc3339()))
                .item("expires_at", AttributeValue::N((now.timestamp() + 3600).to_string()))
                .send()
                .await;
            if let Err(e) = put {
                return vec![CheckResult::new(
                    table,
                    home.as_str(),
                    "replication-lag",
                    Status::Fail,
                    None,
                    format!("canary not written: {}", super::api_error("PutItem", e)),
                )];
            }
            let acked = Instant::now();
            written.push(sk.clone());
            let waits = peers.iter().map(|peer| self.await_canary(peer, table, &pk, &sk, acked, timeout));
            let mut unreadable = Vec::new();
            for (n, lag) in futures_util::future::join_all(waits).await.into_iter().enumerate() {
                match lag {
                    Ok(Some(ms)) => seen[n].push(ms),
                    Ok(None) => missing[n] += 1,
                    Err(e) => unreadable.push((n, e)),
                }
            }
            if !unreadable.is_empty() {
                self.delete_canaries(&local, table, &pk, &written).await;
                return unreadable
                    .into_iter()
                    .map(|(n, e)| {
                        CheckResult::new(
                            table,
                            &format!("{home}->{}", peers[n]),
                            "replication-lag",
                            Status::Fail,
                            None,
                            format!("canary not readable in {}: {e}", peers[n]),
                        )
                    })
                    .collect();
            }
            // A replication that missed one canary by the timeout is stalled: waiting for the
            // rest would only repeat the timeout.
            if missing.iter().any(|m| *m > 0) {
                break;
            }
        }
        self.delete_canaries(&local, table, &pk, &written).await;
        peers
            .iter()
            .enumerate()
            .map(|(n, peer)| {
                backup::grade_lag(
                    &config.backup,
                    table,
                    home.as_str(),
                    peer.as_str(),
                    &seen[n],
                    missing[n],
                    probe.timeout_seconds,
                )
            })
            .collect()
    }

    /// Best effort: the deletes replicate too, and TTL removes what is left.
    async fn delete_canaries(&self, local: &aws_sdk_dynamodb::Client, table: &str, pk: &str, written: &[String]) {
        for sk in written {
            let _ = local
                .delete_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk.to_owned()))
                .key("sk", AttributeValue::S(sk.clone()))
                .send()
                .await;
        }
    }

    /// Milliseconds from `acked` until the canary is read in `peer` (strongly consistent there:
    /// the peer replica's own latest state), `None` after `timeout`, or why it cannot be read
    /// (denied, the region down): never mistaken for a stalled replication.
    async fn await_canary(
        &self,
        peer: &Region,
        table: &str,
        pk: &str,
        sk: &str,
        acked: Instant,
        timeout: Duration,
    ) -> Result<Option<f64>, String> {
        let client = self.dynamodb(peer);
        loop {
            let got = client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk.to_owned()))
                .key("sk", AttributeValue::S(sk.to_owned()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| super::api_error("GetItem", e))?;
            if got.item().is_some() {
                return Ok(Some(acked.elapsed().as_secs_f64() * 1000.0));
            }
            if acked.elapsed() >= timeout {
                return Ok(None);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}
