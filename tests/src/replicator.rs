//! A DynamoDB global table, as far as the emulator lacks one: the same table in several
//! regions, with every change copied to the other replicas after a configurable lag, last
//! writer wins per item ("Global tables: how it works": conflicts are reconciled per item, the
//! last writer winning). The emulator has no replication; this is the replication the
//! cross-region tests run on, lag longer than a reaction included.

use crate::sdk;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

type Item = HashMap<String, AttributeValue>;
type Key = (String, String);

/// Replication running in the background; stops when dropped.
#[derive(Debug)]
pub struct Replicator {
    task: tokio::task::JoinHandle<()>,
    copied: Arc<AtomicUsize>,
}

impl Drop for Replicator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Pending {
    due: Instant,
    target: String,
    key: Key,
    item: Option<Item>,
    written: Instant,
}

impl Replicator {
    /// Replicates `table` (keys `pk`, `sk`) between `regions`, each change `lag` after it is seen.
    pub async fn start(table: &str, regions: &[&str], lag: Duration) -> Self {
        let mut clients = BTreeMap::new();
        for r in regions {
            clients.insert((*r).to_owned(), aws_sdk_dynamodb::Client::new(&sdk(r).await));
        }
        let copied = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(replicate(table.to_owned(), clients, lag, copied.clone()));
        Replicator { task, copied }
    }

    /// Items copied so far (puts and deletes).
    pub fn copied(&self) -> usize {
        self.copied.load(Ordering::SeqCst)
    }
}

async fn scan(client: &aws_sdk_dynamodb::Client, table: &str) -> Option<HashMap<Key, Item>> {
    let mut out = HashMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .ok()?;
        for item in page.items() {
            let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            out.insert((s("pk"), s("sk")), item.clone());
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Some(out),
        }
    }
}

async fn replicate(table: String, clients: BTreeMap<String, aws_sdk_dynamodb::Client>, lag: Duration, copied: Arc<AtomicUsize>) {
    // What each replica held at the last look, and when each key was last written there.
    let mut seen: BTreeMap<String, HashMap<Key, Item>> = BTreeMap::new();
    let mut last_write: BTreeMap<String, HashMap<Key, Instant>> = BTreeMap::new();
    let mut pending: Vec<Pending> = Vec::new();
    loop {
        for (region, client) in &clients {
            let Some(now) = scan(client, &table).await else { continue };
            let before = seen.remove(region).unwrap_or_default();
            let writes = last_write.entry(region.clone()).or_default();
            let mut changes: Vec<(Key, Option<Item>)> = Vec::new();
            for (k, v) in &now {
                if before.get(k) != Some(v) {
                    changes.push((k.clone(), Some(v.clone())));
                }
            }
            for k in before.keys().filter(|k| !now.contains_key(*k)) {
                changes.push((k.clone(), None));
            }
            let at = Instant::now();
            for (key, item) in changes {
                writes.insert(key.clone(), at);
                for target in clients.keys().filter(|t| *t != region) {
                    pending.push(Pending {
                        due: at + lag,
                        target: target.clone(),
                        key: key.clone(),
                        item: item.clone(),
                        written: at,
                    });
                }
            }
            seen.insert(region.clone(), now);
        }
        let now = Instant::now();
        let (due, later): (Vec<Pending>, Vec<Pending>) = pending.into_iter().partition(|p| p.due <= now);
        pending = later;
        for p in due {
            // Last writer wins: a later write to the same item in the target stays.
            let writes = last_write.entry(p.target.clone()).or_default();
            if writes.get(&p.key).is_some_and(|w| *w > p.written) {
                continue;
            }
            let mut p = p;
            let client = &clients[&p.target];
            let ok = match &p.item {
                Some(item) => client
                    .put_item()
                    .table_name(&table)
                    .set_item(Some(item.clone()))
                    .send()
                    .await
                    .is_ok(),
                None => client
                    .delete_item()
                    .table_name(&table)
                    .key("pk", AttributeValue::S(p.key.0.clone()))
                    .key("sk", AttributeValue::S(p.key.1.clone()))
                    .send()
                    .await
                    .is_ok(),
            };
            if !ok {
                // Replication retries until it lands, as a global table's does.
                p.due = Instant::now() + Duration::from_millis(200);
                pending.push(p);
                continue;
            }
            {
                copied.fetch_add(1, Ordering::SeqCst);
                writes.insert(p.key.clone(), p.written);
                // A replicated write is not a local change: not copied back.
                let replica = seen.entry(p.target.clone()).or_default();
                match &p.item {
                    Some(item) => replica.insert(p.key.clone(), item.clone()),
                    None => replica.remove(&p.key),
                };
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
