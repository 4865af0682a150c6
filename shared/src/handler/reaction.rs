//! The one reaction seam. A function that reacts to signals implements [`Reaction`]: its lease,
//! its policy and `react`. [`serve`] does the rest, once for every function: dispatch (one event
//! or an SQS batch), the rejected-input audit, the exactly-once claim under the lease, the
//! duplicate answer and the failure metric.

use crate::config::{Policy, SuiteConfig};
use crate::evidence;
use crate::evidence::telemetry::{Metrics, Unit};
use crate::handler::answer::Answer;
use crate::handler::dispatch::{audit_rejected, dispatch};
use crate::handler::error::Retryable;
use crate::handler::once::{GuardError, Once, exactly_once};
use crate::model::{Function, Region};
use crate::signal::{Signal, SignalError};
use crate::store::StateStore;
use serde_json::Value;
use std::future::Future;

/// The parts of a function every reaction needs, borrowed from it.
#[derive(Debug)]
pub struct Core<'a, S> {
    pub config: &'a SuiteConfig,
    pub region: &'a Region,
    pub store: &'a S,
}

impl<'a, S> Core<'a, S> {
    pub fn new(config: &'a SuiteConfig, region: &'a Region, store: &'a S) -> Self {
        Core { config, region, store }
    }
}

pub trait Reaction: Sync {
    type Store: StateStore;
    type Error: Retryable + From<SignalError> + From<GuardError> + Send;

    const FUNCTION: Function;

    /// What every reaction runs with: the configuration, its region, its state store.
    fn core(&self) -> Core<'_, Self::Store>;

    fn config(&self) -> &SuiteConfig {
        self.core().config
    }

    fn region(&self) -> &Region {
        self.core().region
    }

    fn store(&self) -> &Self::Store {
        self.core().store
    }

    /// Who claims signal keys: the function, unless its claims are per region.
    fn claimant(&self) -> String {
        Self::FUNCTION.as_str().to_owned()
    }

    /// The lease the reaction to `signal` runs under.
    fn lease(&self, signal: &Signal) -> String;

    /// The policy of the claim and the lease (a reaction that works for minutes holds them longer).
    fn policy(&self) -> Policy {
        self.config().policy.clone()
    }

    /// The answer to a signal that is not this reaction's to claim: one it does nothing with
    /// (answered without a claim or an audit record), or one a sibling handler takes (the
    /// practice drill). `None`: claim it and [`Reaction::react`].
    fn route(&self, _signal: &Signal) -> impl Future<Output = Result<Option<Answer>, Self::Error>> + Send {
        async { Ok(None) }
    }

    /// The reaction, run once per signal under the lease: the outcome name remembered with the
    /// claim, and the answer.
    fn react(&self, signal: &Signal) -> impl Future<Output = Result<(String, Answer), Self::Error>> + Send;

    fn metrics(&self) -> Metrics {
        Metrics::for_function(&self.config().platform, Self::FUNCTION.as_str(), self.region().as_str())
    }
}

/// Every signal in `payload`, each reacted to once ([`once`]); inputs that are not signals are
/// audited and answered as bad input.
pub async fn serve<R: Reaction>(r: &R, payload: &Value) -> Result<Value, R::Error> {
    let (function, region) = (R::FUNCTION.as_str(), r.region().as_str());
    dispatch(
        payload,
        r.config(),
        (function, region),
        async |signal| once(r, signal).await.map(|a| a.to_value()),
        async |e| audit_rejected(r.store(), r.config(), function, region, e, payload).await,
    )
    .await
}

/// One signal: routed, or claimed and reacted to under the lease; a duplicate delivery is
/// answered with the first one's outcome; a failure is counted (`ReactionsFailed`).
pub async fn once<R: Reaction>(r: &R, signal: &Signal) -> Result<Answer, R::Error> {
    if let Some(answer) = r.route(signal).await? {
        return Ok(answer);
    }
    let mut metrics = r.metrics();
    let policy = r.policy();
    let ran = exactly_once(r.store(), &policy, &r.claimant(), &signal.key, &r.lease(signal), async || {
        r.react(signal).await
    })
    .await;
    match ran {
        Ok(Once::Ran(answer)) => Ok(answer),
        Ok(Once::Duplicate { status }) => {
            evidence::duplicate(&mut metrics, &signal.key, &status);
            Ok(Answer::duplicate(&signal.key, status))
        }
        Err(e) => {
            metrics.metric("ReactionsFailed", 1.0, Unit::Count).emit();
            Err(e)
        }
    }
}
