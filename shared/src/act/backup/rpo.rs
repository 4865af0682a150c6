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

/// One run of the probe from `home`: where its canaries go and what it has seen so far.
struct ProbeRun<'a> {
    table: &'a str,
    home: &'a Region,
    peers: Vec<&'a Region>,
    pk: String,
    timeout: Duration,
    /// Per peer: the lags seen, the canaries never seen.
    seen: Vec<Vec<f64>>,
    missing: Vec<usize>,
    /// The canaries written so far (their sort keys), to delete at the end.
    written: Vec<String>,
}

impl ProbeRun<'_> {
    /// Counts one canary's lags per peer; returns the peers that could not be read, with why.
    fn tally(&mut self, lags: Vec<Result<Option<f64>, String>>) -> Vec<(usize, String)> {
        let mut unreadable = Vec::new();
        for (n, lag) in lags.into_iter().enumerate() {
            match lag {
                Ok(Some(ms)) => self.seen[n].push(ms),
                Ok(None) => self.missing[n] += 1,
                Err(e) => unreadable.push((n, e)),
            }
        }
        unreadable
    }

    /// The probe failed because a canary could not be written here: nothing was measured.
    fn unwritten(&self, why: String) -> Vec<CheckResult> {
        vec![CheckResult::new(
            self.table,
            self.home.as_str(),
            "replication-lag",
            Status::Fail,
            None,
            format!("canary not written: {why}"),
        )]
    }

    /// The probe failed for each peer whose replica could not be read: a region that cannot be
    /// read is never graded as a stalled replication.
    fn unreadable(&self, unreadable: Vec<(usize, String)>) -> Vec<CheckResult> {
        unreadable
            .into_iter()
            .map(|(n, e)| {
                CheckResult::new(
                    self.table,
                    &format!("{}->{}", self.home, self.peers[n]),
                    "replication-lag",
                    Status::Fail,
                    None,
                    format!("canary not readable in {}: {e}", self.peers[n]),
                )
            })
            .collect()
    }

    /// Each peer's lags graded against the RPO target.
    fn grades(&self, config: &SuiteConfig, probe: &RpoProbeConfig) -> Vec<CheckResult> {
        self.peers
            .iter()
            .enumerate()
            .map(|(n, peer)| {
                backup::grade_lag(
                    &config.backup,
                    self.table,
                    self.home.as_str(),
                    peer.as_str(),
                    &self.seen[n],
                    self.missing[n],
                    probe.timeout_seconds,
                )
            })
            .collect()
    }
}

impl BackupInspector {
    /// Writes `probe.samples` canaries here one after the other, each awaited in every peer
    /// region, then deletes them and grades each peer's lags.
    pub async fn rpo_probe(&self, config: &SuiteConfig, home: &Region, probe: &RpoProbeConfig) -> Vec<CheckResult> {
        let peers: Vec<&Region> = config.peers_of(home).collect();
        if peers.is_empty() {
            return vec![];
        }
        let local = self.dynamodb(home);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut run = ProbeRun {
            table: &config.state_table,
            home,
            seen: vec![Vec::new(); peers.len()],
            missing: vec![0usize; peers.len()],
            peers,
            pk: format!("RPO#{home}"),
            timeout: Duration::from_secs(probe.timeout_seconds),
            written: Vec::new(),
        };
        for i in 0..probe.samples {
            let sk = format!("{id}#{i}");
            if let Err(why) = put_canary(&local, run.table, &run.pk, &sk).await {
                return run.unwritten(why);
            }
            let acked = Instant::now();
            run.written.push(sk.clone());
            let waits = run
                .peers
                .iter()
                .map(|peer| self.await_canary(peer, run.table, &run.pk, &sk, acked, run.timeout));
            let lags = futures_util::future::join_all(waits).await;
            let unreadable = run.tally(lags);
            if !unreadable.is_empty() {
                self.delete_canaries(&local, run.table, &run.pk, &run.written).await;
                return run.unreadable(unreadable);
            }
            // A replication that missed one canary by the timeout is stalled: waiting for the
            // rest would only repeat the timeout.
            if run.missing.iter().any(|m| *m > 0) {
                break;
            }
        }
        self.delete_canaries(&local, run.table, &run.pk, &run.written).await;
        run.grades(config, probe)
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

/// Writes one canary here, stamped with its write time and a TTL of an hour (`expires_at`) so
/// a run cut short leaves nothing behind for long.
async fn put_canary(local: &aws_sdk_dynamodb::Client, table: &str, pk: &str, sk: &str) -> Result<(), String> {
    let now = chrono::Utc::now();
    local
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.to_owned()))
        .item("sk", AttributeValue::S(sk.to_owned()))
        .item("written_at", AttributeValue::S(now.to_rfc3339()))
        .item("expires_at", AttributeValue::N((now.timestamp() + 3600).to_string()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| super::api_error("PutItem", e))
}
