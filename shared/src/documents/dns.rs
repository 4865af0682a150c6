//! The DNS state's copies: each region's dns-failover writes its own copy of the state of the
//! protected name (`dns#<name>@<region>`) and reads the others', so the global table's
//! last-writer-wins replication never overwrites one region's change with another's
//! (`decide::failover::merge` keeps the latest change per region).

use crate::config::SuiteConfig;
use crate::decide::failover::{self, DnsState};
use crate::model::Region;
use crate::store::{StateStore, StoreError};

/// The name of `region`'s copy.
pub fn copy_name(config: &SuiteConfig, region: &Region) -> String {
    super::dns_copy(&config.dns.record_name, region)
}

fn parse(name: &str, value: serde_json::Value) -> Result<DnsState, StoreError> {
    super::decode(name, value)
}

/// This region's copy (with its version, to write back) and the view merged with every other
/// region's copy. Another region's copy is read in its home region (`peers`), where it is
/// written and strongly consistent; if that region does not answer, the replica in `local`.
pub async fn read<S: StateStore>(
    config: &SuiteConfig,
    home: &Region,
    local: &S,
    peers: &[(Region, S)],
) -> Result<(DnsState, u64, DnsState), StoreError> {
    let own_name = copy_name(config, home);
    let legacy = super::dns_legacy(&config.dns.record_name);
    let (own, version) = match local.get_state(&own_name).await? {
        Some(v) => (parse(&own_name, v.value)?, v.version),
        // No copy of its own yet: it starts from the single document of earlier versions, with
        // its freeze, outbox and healthy periods (merging it as a peer's would drop them).
        None => match local.get_state(&legacy).await? {
            Some(v) => (parse(&legacy, v.value)?, 0),
            None => (DnsState::default(), 0),
        },
    };
    let mut others = Vec::new();
    for (region, store) in peers.iter().filter(|(r, _)| r != home) {
        let name = copy_name(config, region);
        let copy = match store.get_state(&name).await {
            Ok(copy) => copy,
            Err(e) => {
                tracing::warn!(%region, error = %e, "the region's copy of the DNS state is unreadable there; using the replica here");
                local.get_state(&name).await?
            }
        };
        if let Some(v) = copy {
            others.push(parse(&name, v.value)?);
        }
    }
    // Times no clock of ours could have written are not believed (who else can write the table).
    let now = chrono::Utc::now();
    let mut doubted = Vec::new();
    let mut believe = |copy: &DnsState| {
        let (kept, dropped) = failover::believable(copy, now);
        doubted.extend(dropped);
        kept
    };
    let believed_own = believe(&own);
    let believed_others: Vec<DnsState> = others.iter().map(&mut believe).collect();
    if !doubted.is_empty() {
        tracing::warn!(dropped = ?doubted, "state copies carry times in the future; not believed");
    }
    let view = failover::merge(&believed_own, &believed_others);
    Ok((own, version, view))
}
