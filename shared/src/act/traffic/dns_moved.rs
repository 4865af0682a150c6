//! Whether DNS moved: after a switch's own confirmation, Route 53's health checkers and its
//! answers, read until they show the region gone (drain) or back (restore) beyond chance
//! (`decide::dns_moved`), within `dns.answer_confirm_seconds`. What the clients of the name see
//! is the answer, not the switch: a health check detached from the record, one following
//! another alarm, a record without one, or a routing control no health check watches all leave
//! the switch "confirmed" while Route 53 keeps answering the region.

use crate::act::dns_records;
use crate::config::DnsConfig;
use crate::decide::dns_moved::{FALSE_POSITIVE_BOUND, answers_needed, checkers_agree, clean_run};
use crate::decide::readiness::RecordFacts;
use crate::model::{Deferred, Region};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DnsMoved {
    client: Deferred<aws_sdk_route53::Client>,
    dns: DnsConfig,
}

/// The region's record and the other configured regions' serving weight.
struct Records {
    mine: RecordFacts,
    others: i64,
}

impl DnsMoved {
    pub fn new(client: Deferred<aws_sdk_route53::Client>, dns: DnsConfig) -> Self {
        DnsMoved { client, dns }
    }

    /// Reads until DNS shows `region` drained (or serving again): `Ok` with what was seen,
    /// `Err` naming what did not move.
    pub async fn confirm(&self, region: &Region, drained: bool) -> Result<String, String> {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(self.dns.answer_confirm_seconds);
        let pause = Duration::from_millis(self.dns.answer_sample_ms);
        let records = self.records(region).await?;
        let mut seen = Vec::new();
        if records.mine.weight.unwrap_or(0) > 0 || !drained {
            // Weighted in: whether Route 53 answers it is its health check's to say.
            match records.mine.health_check_id.as_deref() {
                // Ten answers' time between two reads of the checkers: GetHealthCheckStatus "is
                // intended for use during development ... It doesn't support production
                // use-cases with high query rates" (Route 53 API reference).
                Some(id) => seen.push(self.checkers(id, drained, deadline, pause * 10).await?),
                None if drained => {
                    return Err(format!(
                        "the record of {region} has no health check: Route 53 answers it whatever the switch says"
                    ));
                }
                None => {}
            }
        }
        seen.push(self.answers(region, &records, drained, deadline, pause).await?);
        Ok(format!("{} after {} ms", seen.join("; "), started.elapsed().as_millis()))
    }

    async fn records(&self, region: &Region) -> Result<Records, String> {
        let sets = dns_records::record_sets(self.client.get(), &self.dns.hosted_zone_id, &self.dns.record_name)
            .await
            .map_err(|e| e.to_string())?;
        let mut facts = dns_records::record_facts(&self.dns, &sets);
        let mine = facts.remove(region).ok_or_else(|| {
            format!(
                "no record {} with SetIdentifier {}",
                self.dns.record_name, self.dns.records[region].set_identifier
            )
        })?;
        let others = facts.values().map(|f| f.weight.unwrap_or(0).max(0)).sum();
        Ok(Records { mine, others })
    }

    /// Polls the checkers of health check `id` until they agree (`decide::dns_moved`).
    async fn checkers(&self, id: &str, drained: bool, deadline: Instant, pause: Duration) -> Result<String, String> {
        loop {
            let last = match dns_records::health_check_status(self.client.get(), id).await {
                Ok(healthy) => {
                    let up = healthy.iter().filter(|h| **h).count();
                    if checkers_agree(&healthy, drained) {
                        return Ok(format!("health check {id}: {up} of {} checkers report healthy", healthy.len()));
                    }
                    if drained {
                        format!("{up} of {} checkers still report it healthy", healthy.len())
                    } else {
                        format!("only {up} of {} checkers report it healthy", healthy.len())
                    }
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() + pause > deadline {
                return Err(format!(
                    "health check {id} of the record: {last} after {}s (is it the one following this switch?)",
                    self.dns.answer_confirm_seconds
                ));
            }
            tokio::time::sleep(pause).await;
        }
    }

    /// Samples TestDNSAnswer until the answers show the region gone beyond chance (drain) or
    /// hold it (restore).
    async fn answers(
        &self,
        region: &Region,
        records: &Records,
        drained: bool,
        deadline: Instant,
        pause: Duration,
    ) -> Result<String, String> {
        let values = &records.mine.values;
        let serving = self.dns.records[region].weight;
        let looks = u32::try_from(self.dns.answer_confirm_seconds * 1000 / self.dns.answer_sample_ms.max(1)).unwrap_or(u32::MAX);
        let need = if drained {
            Some(answers_needed(serving, records.others, looks).ok_or_else(|| {
                format!(
                    "{region}'s weight {serving} beside {} cannot be told from chance in {} answers",
                    records.others,
                    crate::decide::dns_moved::MAX_SAMPLES
                )
            })?)
        } else {
            None
        };
        let mut held = Vec::new();
        loop {
            if let Ok(answer) = dns_records::answer_for(self.client.get(), &self.dns.hosted_zone_id, &self.dns.record_name).await {
                held.push(answer.iter().any(|a| values.contains(a)));
            }
            match need {
                Some(n) if clean_run(&held) >= n => {
                    return Ok(format!(
                        "{n} answers in a row without {region} (chance < {FALSE_POSITIVE_BOUND}) of {}",
                        held.len()
                    ));
                }
                None if held.last() == Some(&true) => return Ok(format!("{region} answered again ({} answers)", held.len())),
                _ => {}
            }
            if Instant::now() + pause > deadline {
                let with = held.iter().filter(|h| **h).count();
                return Err(if drained {
                    format!(
                        "Route 53 still answers {region}: {with} of the last {} answers held it (a clean run of {} needed)",
                        held.len(),
                        need.unwrap_or(0)
                    )
                } else {
                    format!("Route 53 does not answer {region} again: 0 of {} answers held it", held.len())
                });
            }
            tokio::time::sleep(pause).await;
        }
    }
}
