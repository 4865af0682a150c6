//! The practice failover drill, carried out (the guards, the run and its report are
//! `resilience_core::decide::practice`). Three deliveries make one run:
//!
//! 1. the drill schedule (in a region that is not drilled): guards, then the trigger pulled: its
//!    metric published in the drilled region, which the trigger alarms there watch; the run is
//!    kept in `failover-drill#<practice name>`;
//! 2. the trigger alarms' ALARM, evaluated by CloudWatch and delivered like any alarm's: the
//!    practice reaction drains the practice name (the production code with the practice
//!    configuration), then Route 53's answer is watched until the region's value is gone, the
//!    guards checked all along; then the trigger is released (at once when a guard stopped the
//!    run);
//! 3. their OK, delivered: the practice reaction fails back (automatic in the practice
//!    configuration), the answer is watched until the region is back, and the report is kept,
//!    audited, measured and, when the RTO target is missed or the run was stopped, notified.

use super::{FUNCTION, Failover, FailoverError};
use chrono::{DateTime, Utc};
use resilience_core::act::health::HealthReader;
use resilience_core::act::practice::PracticeApi;
use resilience_core::config::PracticeDrillConfig;
use resilience_core::decide::backup::Status;
use resilience_core::decide::drills;
use resilience_core::decide::practice::{self, ANSWERED, GuardFacts, Leg, Run, Step, Stop};
use resilience_core::documents;
use resilience_core::evidence;
use resilience_core::evidence::notify::Notifier;
use resilience_core::evidence::telemetry::{Metrics, Unit};
use resilience_core::handler::Answer;
use resilience_core::handler::reaction::{self, Core, Reaction};
use resilience_core::model::audit::{AuditRecord, DecisionName, Outcome};
use resilience_core::model::{AlarmState, Region};
use resilience_core::model::{Notification, Severity};
use resilience_core::signal::{Signal, SignalKind};
use resilience_core::store::{StateStore, StoreError};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The practice instance: the same parts as production's, with the practice configuration.
#[derive(Debug)]
pub struct Practice<S, N, H> {
    pub run: Failover<S, N, H>,
    pub api: PracticeApi,
}

/// What a signal is to the drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The drill schedule: start a run.
    Conduct,
    /// A trigger alarm's change: `true` for ALARM.
    Trigger(bool),
}

/// Between two looks at Route 53's answer. Route 53's API takes ten requests per second per
/// account, all operations together ("Throttling for Amazon Route 53 API requests"),
/// TestDNSAnswer included: two a second leave the rest to a real failover.
const POLL: Duration = Duration::from_millis(500);
/// Between two looks at the guards (DescribeAlarms in every region, the DNS state): CloudWatch's
/// API quotas are shared with production's own reads.
const GUARD_EVERY: Duration = Duration::from_secs(2);
/// A run older than this is over, whatever its document says (an invocation died mid-run).
fn stale_after(d: &PracticeDrillConfig) -> chrono::Duration {
    chrono::Duration::seconds((2 * d.answer_wait_seconds + d.hold_seconds + 900) as i64)
}

impl<S: StateStore, N: Notifier, H: HealthReader> Failover<S, N, H> {
    /// Whether `signal` is the drill's.
    pub(crate) fn drill_role(&self, signal: &Signal) -> Option<Role> {
        let d = self.config.practice_drill.as_ref()?;
        self.practice.as_ref()?;
        match &signal.kind {
            SignalKind::Schedule(t) => {
                let name = t.schedule.rsplit('/').next().unwrap_or_default();
                let ours = if d.schedules.is_empty() {
                    name.contains("failover-drill")
                } else {
                    d.schedules.iter().any(|s| s == name)
                };
                ours.then_some(Role::Conduct)
            }
            SignalKind::Alarm(a) if d.trigger_alarms.contains(&a.alarm_name) => Some(Role::Trigger(a.state == AlarmState::Alarm)),
            _ => None,
        }
    }

    pub(crate) async fn drill(&self, role: Role, signal: &Signal) -> Result<Answer, FailoverError> {
        let (Some(d), Some(p)) = (self.config.practice_drill.as_ref(), self.practice.as_deref()) else {
            return Ok(Answer::decided(&signal.key, DecisionName::NoAction, "no practice drill configured"));
        };
        match role {
            Role::Conduct => reaction::once(&Conduct { failover: self, d, p }, signal).await,
            Role::Trigger(alarm) => self.trigger(d, p, signal, alarm).await,
        }
    }

    /// What the guards see now. A guard that cannot be read stops the drill.
    async fn facts(&self, d: &PracticeDrillConfig, p: &Practice<S, N, H>) -> GuardFacts {
        let mut facts = GuardFacts {
            kill_switch: self.config.kill_switch,
            ..Default::default()
        };
        match resilience_core::documents::dns::read(&self.config, &self.region, &self.store, &self.peers).await {
            Ok((_, _, view)) => {
                facts.production_drained = view.drained.iter().map(ToString::to_string).collect();
                facts.production_frozen = view.frozen;
            }
            Err(e) => facts.blocking_missing.push(format!("the production DNS state ({e})")),
        }
        let health = self.health.read(&self.config).await;
        for (region, h) in &health {
            if !h.reachable || h.unread.is_some() {
                facts.production_alarms.push(format!("{region}: health unreadable"));
            }
            facts
                .production_alarms
                .extend(h.alarms.iter().filter(|(_, s)| **s == AlarmState::Alarm).map(|(a, _)| a.clone()));
        }
        match p.api.firing(&self.config, &d.blocking_alarms).await {
            Ok((firing, missing)) => {
                facts.blocking_alarms = firing;
                facts.blocking_missing.extend(missing);
            }
            Err(e) => facts.blocking_missing.push(e),
        }
        match p.api.firing(&self.config, &d.outcome_alarms).await {
            Ok((firing, _)) => facts.outcome_alarms = firing,
            Err(e) => facts.blocking_missing.push(e),
        }
        facts
    }

    /// When the last finished run was triggered (its report's first phase).
    async fn last_trigger(&self, p: &Practice<S, N, H>) -> Result<Option<DateTime<Utc>>, FailoverError> {
        // An unreadable report is Corrupt, not "no drill yet": the hour rule must not lapse.
        let (last, _) =
            documents::load::<practice::Report, _>(&self.store, &documents::practice_last(&p.run.config.dns.record_name)).await?;
        Ok(last.and_then(|r| r.rows.first().map(|row| row.at)))
    }

    /// `running`: during a run, where a drill of the production record itself
    /// (`use_production_record`) has the drilled region drained by its own doing.
    async fn guard(&self, d: &PracticeDrillConfig, p: &Practice<S, N, H>, running: bool) -> Option<Stop> {
        let mut facts = self.facts(d, p).await;
        if running && d.use_production_record {
            facts.production_drained.retain(|r| *r != d.region.as_str());
        }
        practice::stop(d, &facts, Utc::now())
    }

    /// The drill schedule: checks the guards and pulls the trigger.
    async fn conduct(&self, d: &PracticeDrillConfig, p: &Practice<S, N, H>, signal: &Signal) -> Result<(String, Answer), FailoverError> {
        let started = Instant::now();
        let now = Utc::now();
        let mut metrics = Metrics::for_function(&self.config.platform, FUNCTION, self.region.as_str());
        let mut record = self.audit_record(signal, now, DecisionName::Drill, String::new());
        let name = resilience_core::documents::practice_run(&p.run.config.dns.record_name);
        let (refusal, version) = self.why_not_start(d, p, &name, now, &mut record).await?;
        if let Some(why) = refusal {
            record.decision = DecisionName::Refused;
            record.reason = why.clone();
            record.outcome = Outcome::Skipped;
            evidence::record(&self.store, &self.config.policy, &record, &mut metrics, started).await?;
            return Ok((record.decision.to_string(), Answer::audited(&record)));
        }
        let id = format!("{}-{}", now.format("%Y%m%d%H%M%S"), &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let reason = format!("practice failover drill {id}");
        let run = Run {
            id: id.clone(),
            record_name: p.run.config.dns.record_name.clone(),
            region: d.region.to_string(),
            started_at: now,
            step: Step::Triggered,
            marks: vec![],
            stopped: None,
        };
        // The run first: the ALARM the trigger causes must find it.
        let written = self
            .store
            .put_state(&name, &serde_json::to_value(&run).unwrap_or_default(), version)
            .await?;
        let pulled = p.api.trigger(&self.config, d, true).await;
        if pulled.outcome == Outcome::Failed {
            // Published in some region perhaps: released everywhere, so no half-pulled trigger.
            let _ = p.api.trigger(&self.config, d, false).await;
            self.store.put_state(&name, &Value::Null, written).await?;
            return Err(FailoverError::ActionFailed {
                what: format!("start {reason}"),
                detail: format!("{}: {}", pulled.action, pulled.detail),
            });
        }
        record.actions.push(pulled);
        record.reason = format!(
            "{reason} started: trigger {}/{}{{Region={}}} pulled for {}; {} drains under {} once CloudWatch sets them to ALARM",
            d.trigger_metric.namespace,
            d.trigger_metric.metric_name,
            d.region,
            d.trigger_alarms.join(", "),
            d.region,
            run.record_name
        );
        evidence::record(&self.store, &self.config.policy, &record, &mut metrics, started).await?;
        Ok((DecisionName::Drill.to_string(), Answer::audited(&record).with("drill", &run)))
    }

    /// Why no run starts now, if so (audited as a refusal), and the run document's version: the
    /// drilled region conducts nothing; an unreadable run document (Corrupt, never "no run": a
    /// second drill must not start on top of it; the refusal names it so a person can repair or
    /// remove it); a run in progress, or a stale one dropped; a drill in the last hour; a guard.
    async fn why_not_start(
        &self,
        d: &PracticeDrillConfig,
        p: &Practice<S, N, H>,
        name: &str,
        now: DateTime<Utc>,
        record: &mut AuditRecord,
    ) -> Result<(Option<String>, u64), FailoverError> {
        let (running, version, unreadable) = match documents::load::<Run, _>(&self.store, name).await {
            Ok((run, version)) => (run, version, None),
            Err(StoreError::Corrupt { key, problem }) => (
                None,
                0,
                Some(format!(
                    "the practice drill's state document {key} is unreadable ({problem}): no drill starts until it is repaired or removed"
                )),
            ),
            Err(e) => return Err(e.into()),
        };
        let refusal = if self.region == d.region {
            Some(format!(
                "{} is the drilled region: the other region conducts the drill",
                self.region
            ))
        } else if let Some(why) = unreadable {
            Some(why)
        } else if let Some(r) = running {
            if now - r.started_at < stale_after(d) {
                Some(format!("practice drill {} is in progress since {}", r.id, r.started_at))
            } else {
                Some(self.drop_stale_run(d, p, &r, (name, version), record).await?)
            }
        } else if let Some(last) = self.last_trigger(p).await?.filter(|at| now - *at < chrono::Duration::hours(1)) {
            // A tick is only believed so far: whoever can invoke the function can send one.
            Some(format!("the last practice drill was triggered at {last}: at most one an hour"))
        } else {
            self.guard(d, p, false)
                .await
                .map(|s| format!("practice failover drill not started: {s}"))
        };
        Ok((refusal, version))
    }

    /// An invocation died mid-run (or a delivery was lost): the trigger is released, whose
    /// alarms' OK fails the practice name back, and the run is dropped. A new run starts next
    /// time: a trigger alarm already in ALARM would send no new event. The refusal says which.
    async fn drop_stale_run(
        &self,
        d: &PracticeDrillConfig,
        p: &Practice<S, N, H>,
        r: &Run,
        (name, version): (&str, u64),
        record: &mut AuditRecord,
    ) -> Result<String, FailoverError> {
        let released = p.api.trigger(&self.config, d, false).await;
        let failed = released.outcome == Outcome::Failed;
        record.actions.push(released);
        // Kept while the trigger could not be released: the next schedule tries again.
        if !failed {
            self.store.put_state(name, &Value::Null, version).await?;
        }
        Ok(format!(
            "practice drill {} of {} never finished: {}",
            r.id,
            r.started_at,
            if failed {
                "the trigger could NOT be released (see the action); the run is kept and the next schedule tries again"
            } else {
                "the trigger released, the run dropped; the next schedule starts a new one"
            }
        ))
    }

    /// A trigger alarm's change, delivered: the practice reaction, watched.
    async fn trigger(&self, d: &PracticeDrillConfig, p: &Practice<S, N, H>, signal: &Signal, alarm: bool) -> Result<Answer, FailoverError> {
        let received = Utc::now();
        if self.region == d.region {
            // The drilled region's own trigger also reaches it: the other region runs the drill.
            return Ok(Answer::decided(
                &signal.key,
                DecisionName::NoAction,
                format!("{} is the drilled region: the other region runs the drill", self.region),
            ));
        }
        let name = resilience_core::documents::practice_run(&p.run.config.dns.record_name);
        let (run, version) = documents::load::<Run, _>(&self.store, &name).await?;
        // A run that is over by its age, or that claims to start in the future, is no run: the
        // state table can be written by others in the account.
        let run = run.filter(|r| received - r.started_at < stale_after(d) && r.started_at <= received + chrono::Duration::minutes(5));
        let Some(run) = run else {
            if d.use_production_record {
                // The practice trigger of a drill of the production record moves production:
                // outside a recorded run (someone set the trigger alarm, or published its
                // metric, which anyone with PutMetricData can) it moves nothing. Refused, audited.
                let started = Instant::now();
                let mut metrics = Metrics::for_function(&self.config.platform, FUNCTION, self.region.as_str());
                let mut record = self.audit_record(
                    signal,
                    received,
                    DecisionName::Refused,
                    "no practice drill of the production record is in progress: its trigger alone never moves production".into(),
                );
                record.outcome = Outcome::Skipped;
                evidence::record(&self.store, &self.config.policy, &record, &mut metrics, started).await?;
                return Ok(Answer::audited(&record));
            }
            // Outside a drill (someone set a practice alarm): the practice name reacts, nothing more.
            return reaction::once(&p.run, signal).await;
        };
        let region: Region = d.region.clone();
        let alarm_name = match &signal.kind {
            SignalKind::Alarm(a) => a.alarm_name.clone(),
            _ => String::new(),
        };
        // Every trigger alarm changes together; the first one drives the run, so one change
        // makes one drain and one report (the others change nothing during a run).
        let lead = d.trigger_alarms.first().cloned().unwrap_or_default();
        if alarm_name != lead {
            return Ok(Answer::decided(
                &signal.key,
                DecisionName::NoAction,
                format!("practice drill {} follows {lead}", run.id),
            ));
        }
        // What the event says is the sender's; what CloudWatch says is the alarm's. The leg and
        // the trigger time come from CloudWatch: a replayed or forged state change moves nothing
        // on (the practice name still reacts to the alarms as they are).
        // The trigger alarms live in the drilled region, as its health alarms do.
        let (alarm, triggered) = match p.api.alarm_state(&region, &alarm_name).await {
            Ok((state, at)) if state == alarm => (state, at),
            Ok((state, _)) => {
                tracing::warn!(alarm = %alarm_name, claimed = alarm, actual = state, "a trigger's delivered state is not its state");
                return Ok(Answer::decided(
                    &signal.key,
                    DecisionName::NoAction,
                    format!(
                        "{alarm_name} is {} in CloudWatch, not as delivered: a replayed or forged change, ignored during practice drill {}",
                        if state { "ALARM" } else { "OK" },
                        run.id
                    ),
                ));
            }
            Err(e) => {
                return Err(FailoverError::ActionFailed {
                    what: format!("read the trigger alarm {alarm_name} of practice drill {}", run.id),
                    detail: e,
                });
            }
        };
        match (alarm, run.step) {
            (true, Step::Triggered) => self.failover_leg(d, p, signal, run, (&name, version), (triggered, received)).await,
            (false, Step::FailingBack) => self.failback_leg(d, p, signal, run, (&name, version), (triggered, received)).await,
            // The trigger still pulled while failing back: a release that failed, retried.
            (true, Step::FailingBack) => {
                let released = p.api.trigger(&self.config, d, false).await;
                if released.outcome == Outcome::Failed {
                    return Err(FailoverError::ActionFailed {
                        what: format!("release the trigger of practice drill {}", run.id),
                        detail: format!("{}: {}", released.action, released.detail),
                    });
                }
                Ok(Answer::decided(
                    &signal.key,
                    DecisionName::NoAction,
                    format!("practice drill {}: trigger released again", run.id),
                ))
            }
            // A late or repeated change: the practice name reacts as it would, nothing more.
            (false, Step::Triggered) => reaction::once(&p.run, signal).await,
        }
    }

    /// The failover leg: the guards, the practice name's drain through production's reaction,
    /// Route 53's answer watched, the region held out for `hold_seconds` (any guard ends that
    /// early), then failing back.
    async fn failover_leg(
        &self,
        d: &PracticeDrillConfig,
        p: &Practice<S, N, H>,
        signal: &Signal,
        mut run: Run,
        (name, version): (&str, u64),
        (triggered, received): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Answer, FailoverError> {
        let region = d.region.clone();
        if let Some(stop) = self.guard(d, p, false).await {
            run.stopped = Some(stop);
            return self
                .fail_back(d, p, run, name, version, Answer::decided(&signal.key, DecisionName::NoAction, ""))
                .await;
        }
        let out = reaction::once(&p.run, signal).await?;
        if out.is_duplicate() {
            // A retried delivery (the first attempt stopped mid-run): what it measured is
            // lost, so the run ends here, failing back.
            run.stopped = Some(Stop::Refused("the delivery was retried: the drain's phases were lost".into()));
            return self.fail_back(d, p, run, name, version, out).await;
        }
        self.mark_reaction(&mut run, Leg::Failover, triggered, received, &out);
        if out.decision() != Some(DecisionName::Failover) {
            run.stopped = Some(Stop::Refused(format!("the practice reaction did not drain: {}", out.why())));
            return self.fail_back(d, p, run, name, version, out).await;
        }
        match self.watch(d, p, &region, false).await {
            Ok((at, detail)) => run.mark(Leg::Failover, ANSWERED, at, detail),
            Err(stopped) => run.stopped = Some(stopped),
        }
        // The region stays out for hold_seconds; any guard ends that early.
        let until = Instant::now() + Duration::from_secs(d.hold_seconds);
        while run.stopped.is_none() && Instant::now() < until {
            tokio::time::sleep(GUARD_EVERY.min(until.saturating_duration_since(Instant::now()))).await;
            run.stopped = self.guard(d, p, true).await;
        }
        if run.stopped.is_none() {
            run.stopped = self.guard(d, p, true).await;
        }
        self.fail_back(d, p, run, name, version, out).await
    }

    /// The failback leg: the practice name restored through production's reaction, Route 53's
    /// answer watched, the run finished and reported.
    async fn failback_leg(
        &self,
        d: &PracticeDrillConfig,
        p: &Practice<S, N, H>,
        signal: &Signal,
        mut run: Run,
        (name, version): (&str, u64),
        (triggered, received): (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Answer, FailoverError> {
        let region = d.region.clone();
        // The lead trigger's OK drives the failback, but CloudWatch evaluates each alarm on its
        // own; the region is healthy only when all are OK.
        let pending = p
            .api
            .until_ok(&region, &d.trigger_alarms, Duration::from_secs(d.answer_wait_seconds))
            .await;
        if !pending.is_empty() {
            tracing::warn!(alarms = ?pending, "trigger alarms still not OK; failing back on what CloudWatch says now");
        }
        let out = reaction::once(&p.run, signal).await?;
        // A retried delivery has no phases to mark; the answer and the report still come.
        if !out.is_duplicate() {
            self.mark_reaction(&mut run, Leg::Failback, triggered, received, &out);
        }
        let restored = match self.watch(d, p, &region, true).await {
            Ok((at, detail)) => {
                run.mark(Leg::Failback, ANSWERED, at, detail);
                true
            }
            Err(_) => false,
        };
        self.finish(d, run, name, version, restored, out).await
    }

    /// The phases of one reaction: triggered (the alarm's state-change time), delivered,
    /// decided, switch applied and switch effective (the switch's own confirmation).
    fn mark_reaction(&self, run: &mut Run, leg: Leg, triggered: DateTime<Utc>, received: DateTime<Utc>, out: &Answer) {
        let at = |k: &str| out.detail(k).and_then(Value::as_str).and_then(|s| s.parse::<DateTime<Utc>>().ok());
        run.mark(leg, "triggered", triggered, "the trigger alarm's state change");
        run.mark(leg, "delivered", received, "the event reached dns-failover");
        if let Some(decided) = at("decided_at") {
            run.mark(
                leg,
                "decided",
                decided,
                format!("{}: {}", out.decision().map_or("?", DecisionName::as_str), out.why()),
            );
        }
        if let Some(switched) = at("switched_at") {
            let switch = out
                .detail("actions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .rev()
                .find(|a| a["outcome"] == "succeeded" && a["confirm_ms"].is_u64());
            let waited = switch.and_then(|a| a["confirm_ms"].as_u64()).unwrap_or(0);
            let applied = switched - chrono::Duration::milliseconds(waited as i64);
            let what = switch.and_then(|a| a["action"].as_str()).unwrap_or("the switch");
            run.mark(leg, "switch applied", applied, what.to_owned());
            run.mark(
                leg,
                "switch effective",
                switched,
                switch.and_then(|a| a["detail"].as_str()).unwrap_or("").to_owned(),
            );
        }
    }

    /// Watches Route 53's answer until it is without `region` or, `back`, with it again; checks
    /// the guards between looks. Bounded by answer_wait_seconds. Gone means enough answers in a
    /// row without it, counted from the last one that held it, for chance to be ruled out
    /// (`decide::dns_moved`, the same statistic a production switch is confirmed by); the change
    /// is timed when that holds, so a measured RTO is never earlier than the switch (it is late
    /// by at most the run's length in polls).
    async fn watch(
        &self,
        d: &PracticeDrillConfig,
        p: &Practice<S, N, H>,
        region: &Region,
        back: bool,
    ) -> Result<(DateTime<Utc>, String), Stop> {
        use resilience_core::decide::dns_moved::{answers_needed, clean_run};
        let deadline = Instant::now() + Duration::from_secs(d.answer_wait_seconds);
        let looks = u32::try_from(d.answer_wait_seconds * 1000 / POLL.as_millis() as u64).unwrap_or(u32::MAX);
        let mut held = Vec::new();
        let mut last;
        let mut owners = None;
        let mut next_guard = Instant::now() + GUARD_EVERY;
        loop {
            // Which region each value belongs to, and the weights: read once.
            if owners.is_none() {
                owners = p.api.owners(&p.run.config).await.ok();
            }
            let answered = match &owners {
                Some((o, _)) => p.api.answer(&p.run.config, o).await,
                None => Err("route53:ListResourceRecordSets failed: the answer's regions are unknown".to_owned()),
            };
            match (answered, &owners) {
                (Ok((values, owner)), Some((_, weights))) => {
                    last = format!("Route 53 answers {values:?}");
                    let with = owner.as_ref() == Some(region);
                    if back && with {
                        return Ok((Utc::now(), format!("{last}: {region} serves again")));
                    }
                    if owner.is_some() {
                        held.push(with);
                    }
                    let serving = p.run.config.dns.records.get(region).map_or(0, |r| r.weight);
                    let others = weights.iter().filter(|(r, _)| *r != region).map(|(_, w)| (*w).max(0)).sum();
                    let need = answers_needed(serving, others, looks).unwrap_or(u32::MAX);
                    if !back && clean_run(&held) >= need {
                        return Ok((
                            Utc::now(),
                            format!("{last}: {region} no longer answered ({need} answers in a row without it)"),
                        ));
                    }
                }
                (Err(e), _) => last = e,
                (Ok(_), None) => last = "the answer's regions are unknown".to_owned(),
            }
            // Failing back restores the region whatever the guards say.
            if !back && Instant::now() >= next_guard {
                if let Some(stop) = self.guard(d, p, true).await {
                    return Err(stop);
                }
                next_guard = Instant::now() + GUARD_EVERY;
            }
            if Instant::now() >= deadline {
                return Err(Stop::Refused(format!(
                    "the DNS answer did not change in {} s ({last})",
                    d.answer_wait_seconds
                )));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Releases the trigger, so its alarms' OK, delivered, fails the practice name back.
    async fn fail_back(
        &self,
        d: &PracticeDrillConfig,
        p: &Practice<S, N, H>,
        mut run: Run,
        name: &str,
        version: u64,
        out: Answer,
    ) -> Result<Answer, FailoverError> {
        let why = match &run.stopped {
            Some(s) => format!("practice failover drill {} stopped: {s}; failing back", run.id),
            None => format!("practice failover drill {}: failing back", run.id),
        };
        // The step first: the OK it causes must find the run failing back.
        run.step = Step::FailingBack;
        self.store
            .put_state(name, &serde_json::to_value(&run).unwrap_or_default(), version)
            .await?;
        let released = p.api.trigger(&self.config, d, false).await;
        if released.outcome == Outcome::Failed {
            return Err(FailoverError::ActionFailed {
                what: why,
                detail: format!("{}: {}", released.action, released.detail),
            });
        }
        Ok(out.with(
            "drill",
            json!({ "id": run.id, "step": run.step, "stopped": run.stopped, "marks": run.marks, "why": why }),
        ))
    }

    /// The run is over: its report kept, audited, measured, and notified when it failed.
    async fn finish(
        &self,
        d: &PracticeDrillConfig,
        run: Run,
        name: &str,
        version: u64,
        restored: bool,
        out: Answer,
    ) -> Result<Answer, FailoverError> {
        let started = Instant::now();
        let report = practice::report(&run, d.rto_target_seconds, restored);
        let table = practice::phase_table(&report);
        let mut metrics = Metrics::for_function(&self.config.platform, FUNCTION, self.region.as_str());
        if let Some(rto) = report.rto_seconds {
            metrics.metric("PracticeRtoSeconds", rto, Unit::Seconds);
        }
        if let Some(back) = report.failback_seconds {
            metrics.metric("PracticeFailbackSeconds", back, Unit::Seconds);
        }
        metrics.metric("PracticeFailed", if report.status == Status::Pass { 0.0 } else { 1.0 }, Unit::Count);
        let signal_key = format!("failover-drill/{}", run.id);
        let mut record = resilience_core::model::audit::AuditRecord::new(
            FUNCTION,
            self.region.as_str(),
            Utc::now(),
            &signal_key,
            serde_json::to_value(&report).unwrap_or_default(),
            DecisionName::Drill,
            format!("practice failover drill {}: {:?}: {}", run.id, report.status, report.summary),
        );
        record.outcome = if report.status == Status::Pass {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        if report.status != Status::Pass {
            let n = Notification {
                severity: if restored { Severity::Warning } else { Severity::Critical },
                function: FUNCTION.into(),
                region: self.region.clone(),
                subject: format!("Practice failover drill {:?}: {}", report.status, report.summary),
                summary: format!("{table}\nAudit record {}.", record.id),
                body: json!({ "report": report, "audit_id": record.id }),
            };
            record.actions.push(evidence::notify(&self.notifier, &n).await);
        }
        evidence::record(&self.store, &self.config.policy, &record, &mut metrics, started).await?;
        // The trend: this region's drill history, with the restore drills and RPO probes.
        evidence::record_drills(
            &self.store,
            &self.region,
            vec![drills::practice_record(&self.region, run.started_at, &report)],
        )
        .await?;
        self.store
            .replace_state(
                &resilience_core::documents::practice_last(&run.record_name),
                &serde_json::to_value(&report).unwrap_or_default(),
            )
            .await?;
        self.store.put_state(name, &Value::Null, version).await?;
        Ok(out.with("drill", json!({ "report": report, "table": table, "audit_id": record.id })))
    }
}

/// The drill schedule's reaction, a sibling of production's: claimed per region under the
/// practice run's document, so a retried tick starts one run.
struct Conduct<'a, S, N, H> {
    failover: &'a Failover<S, N, H>,
    d: &'a PracticeDrillConfig,
    p: &'a Practice<S, N, H>,
}

impl<S: StateStore, N: Notifier, H: HealthReader> Reaction for Conduct<'_, S, N, H> {
    type Store = S;
    type Error = FailoverError;
    const FUNCTION: resilience_core::model::Function = resilience_core::model::Function::DnsFailover;

    fn core(&self) -> Core<'_, S> {
        Core::new(&self.failover.config, &self.failover.region, &self.failover.store)
    }

    fn claimant(&self) -> String {
        format!("{FUNCTION}-drill@{}", self.failover.region)
    }

    fn lease(&self, _signal: &Signal) -> String {
        resilience_core::documents::practice_run(&self.p.run.config.dns.record_name)
    }

    async fn react(&self, signal: &Signal) -> Result<(String, Answer), FailoverError> {
        self.failover.conduct(self.d, self.p, signal).await
    }
}
