//! access-authorizer: the API Gateway Lambda authorizer (TOKEN or REQUEST type) that enforces
//! user-throttle's limits at the edge.
//!
//! 1. Validates the bearer JWT (`resilience_core::auth`): an invalid token is answered with the
//!    error `Unauthorized`, which API Gateway turns into 401.
//! 2. Looks the principal (`user#<sub>`) up in the throttle table of its own region — the
//!    global table's local replica — through an in-memory cache of bounded age
//!    (`auth.cache_seconds`) and size.
//! 3. Answers Deny for blocked principals; for rate-limited ones Allow with the usage plan's API
//!    key as `usageIdentifierKey` where the level names one, else Deny; the context carries the
//!    level. The policy covers the whole API stage (`{apiId}/{stage}/*/*`): API Gateway caches
//!    it per token and applies it to the caller's other methods too ("Lambda authorizer
//!    caching").
//! 4. Fail-safe when the table cannot be read: the last answer known for the principal, however
//!    old, keeps applying (a blocked user stays blocked); then the peer region's replica; only a
//!    principal never seen and unreadable everywhere is allowed, counted in
//!    `ThrottleLookupFailures` (alarmed in the template): throttling protects the platform, it
//!    is not authentication.
//!
//! Trade-off of API Gateway's own authorizer result cache (its TTL, set in infra): a cached Allow
//! keeps a newly blocked principal in until it expires, on top of `auth.cache_seconds`. Keep both
//! short (seconds) where blocks must bite fast; longer TTLs save invocations and latency.

use aws_lambda_events::apigw::{ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerResponse};
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use chrono::Utc;
use lambda_runtime::Diagnostic;
use resilience_core::act::throttle_table::ThrottleTable;
use resilience_core::auth::{AuthError, TokenValidator};
use resilience_core::config::LookupFailure;
use resilience_core::decide::throttle::{Access, ThrottleRecord, access};
use resilience_core::evidence::telemetry::{Metrics, Unit};
use resilience_core::model::Principal;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub mod jwks;

pub const FUNCTION: &str = "access-authorizer";
/// Cache entries kept at most; past that the cache starts afresh (bounded memory).
const CACHE_MAX: usize = 10_000;

#[derive(Debug)]
pub struct Authorizer {
    pub validator: TokenValidator,
    pub table: ThrottleTable,
    /// The throttle table's replica in another region, read when the local one fails.
    pub peer: Option<ThrottleTable>,
    pub cache_ttl: Duration,
    pub namespace: String,
    cache: Mutex<HashMap<Principal, (Option<ThrottleRecord>, Instant)>>,
    /// The issuer's key set, fetched on an unknown key id (`auth.jwks_uri`).
    jwks: Option<jwks::JwksSource>,
    /// The default usage plan's API key, for callers under no limit.
    default_usage_key: Option<String>,
    /// The answer to an unseen caller when no replica answers (`throttle.on_lookup_failure`).
    on_lookup_failure: LookupFailure,
}

/// How long one replica's read may take: the local one, then the peer's, both inside the
/// function's 5 s timeout (infra/template.yaml) with time to answer. The SDK's own limits (3 s
/// an attempt, 10 s with retries) are for the suite's other calls, not for the API's edge.
pub const LOOKUP_BUDGET: Duration = Duration::from_millis(1500);

#[derive(Debug, thiserror::Error)]
pub enum AuthorizerError {
    /// API Gateway answers 401 for exactly this message.
    #[error("Unauthorized")]
    Unauthorized(AuthError),
    #[error("bad input: {0}")]
    BadInput(String),
}

impl From<AuthorizerError> for Diagnostic {
    fn from(e: AuthorizerError) -> Diagnostic {
        match e {
            AuthorizerError::Unauthorized(_) => Diagnostic {
                error_type: "Unauthorized".into(),
                error_message: "Unauthorized".into(),
            },
            AuthorizerError::BadInput(m) => Diagnostic {
                error_type: "NonRetryable.BadInput".into(),
                error_message: m,
            },
        }
    }
}

impl Authorizer {
    pub fn new(
        validator: TokenValidator,
        table: ThrottleTable,
        peer: Option<ThrottleTable>,
        cache_ttl: Duration,
        namespace: String,
    ) -> Self {
        Authorizer {
            validator,
            table,
            peer,
            cache_ttl,
            namespace,
            cache: Mutex::new(HashMap::new()),
            jwks: None,
            default_usage_key: None,
            on_lookup_failure: LookupFailure::default(),
        }
    }

    /// What an unseen caller gets when no replica of the throttle table answers.
    pub fn with_lookup_failure(mut self, answer: LookupFailure) -> Self {
        self.on_lookup_failure = answer;
        self
    }

    /// Gives every caller under no limit the default usage plan's API key.
    pub fn with_default_usage_key(mut self, key: Option<String>) -> Self {
        self.default_usage_key = key;
        self
    }

    /// Fetches unknown keys from the issuer's `jwks_uri`.
    pub fn with_jwks(mut self, source: jwks::JwksSource) -> Self {
        self.jwks = Some(source);
        self
    }

    /// Validates the token; a key id not known yet makes one fetch of the issuer's key set
    /// (rate-limited) and one more try. While fetched keys are in use, the set is fetched again
    /// once it is `jwks_refresh_seconds` old, before validating, so a revoked key leaves.
    async fn validate(&self, token: &str) -> Result<resilience_core::auth::Claims, AuthError> {
        if let Some(source) = &self.jwks
            && self.validator.uses_fetched_keys()
            && source.due()
        {
            self.note(source.refresh(&self.validator).await, "periodic");
        }
        match (self.validator.validate(token), &self.jwks) {
            (Err(AuthError::UnknownKid(kid)), Some(source)) => match self.note(source.refresh(&self.validator).await, &kid) {
                jwks::Refresh::Fetched(..) => self.validator.validate(token),
                _ => Err(AuthError::UnknownKid(kid)),
            },
            (result, _) => result,
        }
    }

    /// Logs and counts one refresh of the issuer's key set (`why`: the unknown key id, or
    /// "periodic").
    fn note(&self, refreshed: jwks::Refresh, why: &str) -> jwks::Refresh {
        let mut m = Metrics::new(&self.namespace).dimension("Function", FUNCTION);
        match &refreshed {
            jwks::Refresh::Fetched(n, skipped) => {
                tracing::info!(why, keys = n, skipped = ?skipped, "issuer key set fetched");
                m.metric("JwksRefreshes", 1.0, Unit::Count);
            }
            jwks::Refresh::Failed(e) => {
                tracing::warn!(why, error = %e, "issuer key set not fetched; the keys in use stay");
                m.metric("JwksRefreshFailures", 1.0, Unit::Count);
            }
            jwks::Refresh::TooSoon => {}
        }
        m.emit();
        refreshed
    }

    /// Seeds the lookup cache (warm-up, benchmarks and tests).
    pub fn remember(&self, p: Principal, record: Option<ThrottleRecord>) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p, (record, Instant::now()));
    }

    async fn lookup(&self, p: &Principal) -> (Option<ThrottleRecord>, &'static str) {
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(p).cloned();
        if let Some((r, at)) = &cached
            && at.elapsed() < self.cache_ttl
        {
            return (r.clone(), "cache");
        }
        let read = match bounded(self.table.get(p, false)).await {
            Ok(r) => Ok((r, "table")),
            Err(e) => {
                tracing::error!(error = %e, principal = %p, "throttle table unreadable");
                match &cached {
                    // The last known answer, however old: a block keeps biting through an outage.
                    Some((r, _)) => return (r.clone(), "stale-cache"),
                    None => match &self.peer {
                        Some(peer) => bounded(peer.get(p, false))
                            .await
                            .map(|r| (r, "peer-replica"))
                            .map_err(|e2| (e, Some(e2))),
                        None => Err((e, None)),
                    },
                }
            }
        };
        match read {
            Ok((r, via)) => {
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() >= CACHE_MAX {
                    cache.clear();
                }
                cache.insert(p.clone(), (r.clone(), Instant::now()));
                (r, via)
            }
            Err((e, peer)) => {
                let via = match self.on_lookup_failure {
                    LookupFailure::Deny => "fail-closed",
                    LookupFailure::Allow => "fail-open",
                };
                tracing::error!(error = %e, peer = ?peer, principal = %p, answer = via, "no replica readable and no known answer");
                (None, via)
            }
        }
    }

    pub async fn handle(&self, event: Value) -> Result<ApiGatewayCustomAuthorizerResponse, AuthorizerError> {
        let started = Instant::now();
        let method_arn = event
            .get("methodArn")
            .and_then(Value::as_str)
            .ok_or_else(|| AuthorizerError::BadInput("not an API Gateway authorizer event: no methodArn".into()))?
            .to_owned();
        let token = event
            .get("authorizationToken")
            .and_then(Value::as_str)
            .or_else(|| {
                let h = event.get("headers")?;
                h.get("Authorization").or_else(|| h.get("authorization"))?.as_str()
            })
            .unwrap_or_default();
        let claims = self.validate(token).await.map_err(|e| {
            tracing::info!(decision = "unauthorized", reason = %e, "token refused");
            AuthorizerError::Unauthorized(e)
        })?;
        let principal = Principal::of("user", &claims.sub).map_err(|e| AuthorizerError::Unauthorized(AuthError::Invalid(e.to_string())))?;
        let (record, via) = self.lookup(&principal).await;
        let decision = if via == "fail-closed" {
            Access::Deny {
                level: "unverified".into(),
                until: Utc::now(),
            }
        } else {
            access(record.as_ref(), Utc::now())
        };
        let (effect, level, usage_key) = match &decision {
            // Every Allow carries a plan key: the level's, else the default plan's (with keys
            // required on the methods, an Allow without one is a 403).
            Access::Allow {
                level,
                usage_identifier_key,
            } => (
                IamPolicyEffect::Allow,
                level.clone(),
                usage_identifier_key.clone().or_else(|| self.default_usage_key.clone()),
            ),
            Access::Deny { level, .. } => (IamPolicyEffect::Deny, Some(level.clone()), None),
        };
        let mut statement = IamPolicyStatement::default();
        statement.action = vec!["execute-api:Invoke".into()];
        statement.effect = effect;
        statement.resource = vec![stage_wide(&method_arn)];
        let mut policy = ApiGatewayCustomAuthorizerPolicy::default();
        policy.version = Some("2012-10-17".into());
        policy.statement = vec![statement];
        let mut response = ApiGatewayCustomAuthorizerResponse::default();
        response.principal_id = Some(principal.to_string());
        response.policy_document = policy;
        response.context = json!({
            "principal": principal.as_str(),
            "throttle_level": level.clone().unwrap_or_else(|| "none".into()),
            "throttled": level.is_some(),
            "lookup": via,
        });
        response.usage_identifier_key = usage_key;
        let mut m = Metrics::new(&self.namespace).dimension("Function", FUNCTION);
        m.metric("AuthorizerMillis", started.elapsed().as_secs_f64() * 1000.0, Unit::Milliseconds)
            .metric(
                if matches!(decision, Access::Deny { .. }) {
                    "Denied"
                } else {
                    "Allowed"
                },
                1.0,
                Unit::Count,
            );
        if via != "cache" && via != "table" {
            m.metric("ThrottleLookupFailures", 1.0, Unit::Count);
        }
        m.emit();
        Ok(response)
    }
}

/// A replica's read, given up after [`LOOKUP_BUDGET`].
async fn bounded<T, E: std::fmt::Display>(read: impl std::future::Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(LOOKUP_BUDGET, read).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {LOOKUP_BUDGET:?}")),
    }
}

/// `arn:…:{apiId}/{stage}/{METHOD}/{path}` as `arn:…:{apiId}/{stage}/*/*`: the policy API
/// Gateway caches for a token must hold for every method the caller may call with it.
fn stage_wide(method_arn: &str) -> String {
    let Some((prefix, path)) = method_arn.rsplit_once(':') else {
        return method_arn.to_owned();
    };
    let mut parts = path.splitn(3, '/');
    match (parts.next(), parts.next()) {
        (Some(api), Some(stage)) if !api.is_empty() && !stage.is_empty() => format!("{prefix}:{api}/{stage}/*/*"),
        _ => method_arn.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_covers_every_method_of_the_stage() {
        assert_eq!(
            stage_wide("arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/GET/orders/42"),
            "arn:aws:execute-api:eu-north-1:123456789012:a1b2c3d4e5/prod/*/*"
        );
        assert_eq!(stage_wide("not-an-arn"), "not-an-arn");
    }

    /// The issuer's `jwks_uri` on loopback, publishing what `published` holds now.
    async fn issuer(published: std::sync::Arc<Mutex<serde_json::Value>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let p = published.clone();
                async move { axum::Json(p.lock().unwrap().clone()) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    #[tokio::test]
    async fn a_key_the_issuer_stops_publishing_leaves_within_one_refresh_interval() {
        use jsonwebtoken::Algorithm;
        use resilience_tests::jwt;
        let configured = jwt::generate();
        let rotated = jwt::generate();
        let mut key = rotated.jwks["keys"][1].clone();
        key["kid"] = serde_json::json!("ec-2");
        let published = std::sync::Arc::new(Mutex::new(serde_json::json!({ "keys": [key] })));
        let url = issuer(published.clone()).await;
        let mut auth = resilience_core::config::SuiteConfig::from_json(resilience_core::config::EXAMPLE)
            .unwrap()
            .auth
            .unwrap();
        auth.issuer = jwt::ISSUER.into();
        auth.audience = jwt::AUDIENCE.into();
        auth.jwks = configured.jwks.clone();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let table = ThrottleTable::new(aws_sdk_dynamodb::Client::new(&sdk), "never-read");
        let every = Duration::from_millis(300);
        let a = Authorizer::new(TokenValidator::new(&auth).unwrap(), table, None, Duration::ZERO, "test".into())
            .with_jwks(jwks::JwksSource::new(&url, every).unwrap());
        let token = jwt::sign(&rotated.ec, Algorithm::ES256, "ec-2", &jwt::claims("u-1", 300));
        assert!(a.validate(&token).await.is_ok(), "fetched on the unknown key id");
        // The issuer revokes it: still trusted inside the interval, gone after it.
        published.lock().unwrap()["keys"] = serde_json::json!([]);
        assert!(a.validate(&token).await.is_ok(), "inside the interval the fetched set stands");
        tokio::time::sleep(every + Duration::from_millis(50)).await;
        let revoked = a.validate(&token).await;
        assert!(matches!(revoked, Err(AuthError::UnknownKid(_))), "{revoked:?}");
        // The configured keys never depended on the issuer.
        let known = jwt::sign(&configured.ec, Algorithm::ES256, "ec-1", &jwt::claims("u-2", 300));
        assert!(a.validate(&known).await.is_ok());
    }
}
