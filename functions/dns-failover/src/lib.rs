//! dns-failover: parse → claim → lease → read → decide → act → record.
//!
//! Every signal is claimed by its idempotency key and handled under one lease per protected DNS
//! name, so duplicates, retries and concurrent deliveries make one change and one notification.
//! The decision itself is `resilience_core::decide::failover::decide` (pure); this module only carries
//! it out and leaves evidence: an audit record, one JSON log line, EMF metrics and, where a
//! person must know, an SNS notification.

use lambda_runtime::Diagnostic;
use resilience_core::act::capacity::CapacityActuator;
use resilience_core::act::health::HealthReader;
use resilience_core::act::health_api::HealthApi;
use resilience_core::act::traffic::TrafficSwitches;
use resilience_core::config::SuiteConfig;
use resilience_core::evidence::notify::Notifier;
use resilience_core::handler::once::GuardError;
use resilience_core::handler::reaction::{self, Core};
use resilience_core::handler::{Answer, Reaction, Retryable, diagnostic, serve};
use resilience_core::model::{Function, Region};
use resilience_core::signal::{Signal, SignalError};
use resilience_core::store::{StateStore, StoreError};
use serde_json::Value;
use std::time::Instant;

mod announce;
pub mod practice_drill;
mod react;

pub const FUNCTION: &str = Function::DnsFailover.as_str();

/// Everything the handler needs, built once at cold start.
#[derive(Debug)]
pub struct Failover<S, N, H> {
    pub config: SuiteConfig,
    pub region: Region,
    pub store: S,
    /// The state table in each other region (the same global table, read there: each region's
    /// copy of the DNS state is freshest in its home region).
    pub peers: Vec<(Region, S)>,
    pub notifier: N,
    pub health: H,
    pub switches: TrafficSwitches,
    /// Scale before shift: raises the target region's capacity before traffic moves.
    pub capacity: CapacityActuator,
    /// Confirms an AWS Health "open" event before it counts.
    pub health_api: HealthApi,
    /// The practice failover drill's own instance (the practice configuration), when configured.
    pub practice: Option<Box<practice_drill::Practice<S, N, H>>>,
    /// This is that instance: it reacts for the practice name only.
    pub rehearsal: bool,
}

impl<S: StateStore + Clone, N: Notifier + Clone, H: HealthReader + Clone> Failover<S, N, H> {
    /// Adds the practice drill's instance when `failover_drill` is configured: the same parts,
    /// the practice configuration, switches for the practice name.
    pub fn with_practice(mut self, clients: &resilience_core::aws::clients::AwsClients) -> Self {
        let production_record = self.config.practice_drill.as_ref().is_some_and(|d| d.use_production_record);
        if let Some(config) = self.config.practice() {
            let run = Failover {
                switches: TrafficSwitches::new(&config, clients),
                config,
                region: self.region.clone(),
                store: self.store.clone(),
                peers: self.peers.clone(),
                notifier: self.notifier.clone(),
                health: self.health.clone(),
                capacity: self.capacity.clone(),
                health_api: self.health_api.clone(),
                practice: None,
                // A drill of the production record moves production: it pages like production.
                rehearsal: !production_record,
            };
            self.practice = Some(Box::new(practice_drill::Practice {
                run,
                api: resilience_core::act::practice::PracticeApi::new(clients),
            }));
        }
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FailoverError {
    #[error("{0} (no action taken blind; retry)")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Guard(#[from] GuardError),
    #[error("every strategy failed to {what}: {detail}; state unchanged, safe to re-drive")]
    ActionFailed { what: String, detail: String },
    #[error("{what} done, but its notification could not be sent ({message}); queued, retry to send")]
    NotificationPending { what: String, message: String },
    #[error("{decision}, but the health of {regions} could not be read: inconclusive, retry")]
    HealthUnreadable { decision: String, regions: String },
    #[error("bad input: {0}")]
    BadInput(#[from] SignalError),
}

impl Retryable for FailoverError {
    fn kind(&self) -> &'static str {
        match self {
            FailoverError::Store(_) => "StoreUnavailable",
            FailoverError::Guard(g) => g.kind(),
            FailoverError::ActionFailed { .. } => "ActionFailed",
            FailoverError::NotificationPending { .. } => "NotificationPending",
            FailoverError::HealthUnreadable { .. } => "HealthUnreadable",
            FailoverError::BadInput(_) => "BadInput",
        }
    }

    fn is_retryable(&self) -> bool {
        !matches!(self, FailoverError::BadInput(_))
    }
}

impl From<FailoverError> for Diagnostic {
    fn from(e: FailoverError) -> Diagnostic {
        diagnostic(&e)
    }
}

impl<S: StateStore, N: Notifier, H: HealthReader> Reaction for Failover<S, N, H> {
    type Store = S;
    type Error = FailoverError;
    const FUNCTION: Function = Function::DnsFailover;

    fn core(&self) -> Core<'_, S> {
        Core::new(&self.config, &self.region, &self.store)
    }

    /// Claims and the lease are this region's: the table is a global table, and a claim or
    /// lease replicated from the other region must not stop this one deciding (whether it acts
    /// is settled by `failover::for_this_region`).
    fn claimant(&self) -> String {
        format!("{FUNCTION}@{}", self.region)
    }

    fn lease(&self, _signal: &Signal) -> String {
        self.state_name()
    }

    async fn react(&self, signal: &Signal) -> Result<(String, Answer), FailoverError> {
        let mut metrics = Reaction::metrics(self);
        self.react_leased(signal, &mut metrics, Instant::now()).await
    }
}

/// dns-failover's router: the practice drill's signals (its schedule, its trigger alarms) go to
/// the drill's handler ([`practice_drill`]), every other signal to production's reaction. The practice
/// instance reacts through [`Failover`] itself, never through the router.
#[derive(Debug)]
pub struct Router<'a, S, N, H>(pub &'a Failover<S, N, H>);

impl<S: StateStore, N: Notifier, H: HealthReader> Reaction for Router<'_, S, N, H> {
    type Store = S;
    type Error = FailoverError;
    const FUNCTION: Function = Function::DnsFailover;

    fn core(&self) -> Core<'_, S> {
        Core::new(&self.0.config, &self.0.region, &self.0.store)
    }

    fn claimant(&self) -> String {
        self.0.claimant()
    }

    fn lease(&self, signal: &Signal) -> String {
        self.0.lease(signal)
    }

    async fn route(&self, signal: &Signal) -> Result<Option<Answer>, FailoverError> {
        match self.0.drill_role(signal) {
            Some(role) => self.0.drill(role, signal).await.map(Some),
            None => Ok(None),
        }
    }

    async fn react(&self, signal: &Signal) -> Result<(String, Answer), FailoverError> {
        Reaction::react(self.0, signal).await
    }
}

impl<S: StateStore, N: Notifier, H: HealthReader> Failover<S, N, H> {
    /// This region's copy of the DNS state; every region's function writes only its own.
    fn state_name(&self) -> String {
        resilience_core::documents::dns::copy_name(&self.config, &self.region)
    }

    /// Handles one Lambda payload (one event, or an SNS / SQS batch).
    pub async fn handle(&self, payload: Value) -> Result<Value, FailoverError> {
        serve(&Router(self), &payload).await
    }

    /// One signal, exactly once, through the router.
    pub async fn react(&self, signal: &Signal) -> Result<Answer, FailoverError> {
        reaction::once(&Router(self), signal).await
    }
}
