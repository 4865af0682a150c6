//! The issuer's published key set (`auth.jwks_uri`), fetched when a token names a key id the
//! authorizer does not know: an identity provider's key rotation is then accepted without a
//! configuration change. At most one fetch per `auth.jwks_refresh_seconds` per instance, so
//! tokens naming made-up key ids cannot make every request call out. While fetched keys are in
//! use the set is fetched again every `auth.jwks_refresh_seconds`, so a key the issuer stops
//! publishing (revoked) leaves; the configured keys stay trusted whatever the endpoint answers.

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use resilience_core::auth::TokenValidator;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A key set larger than this is refused (a JWKS holds a handful of keys).
const MAX_BYTES: usize = 64 * 1024;
/// A fetch is on a request's path: bounded well inside API Gateway's authorizer timeout.
const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct JwksSource {
    uri: hyper::Uri,
    every: Duration,
    last: Mutex<Option<Instant>>,
}

/// What one refresh attempt did, for the log and the metrics.
#[derive(Debug, PartialEq, Eq)]
pub enum Refresh {
    /// Fetched and in use: this many keys (configured and fetched), and the unfit ones skipped.
    Fetched(usize, Vec<String>),
    /// Not attempted: the last attempt was less than `every` ago.
    TooSoon,
    /// Attempted and failed: the keys in use stay.
    Failed(String),
}

impl JwksSource {
    pub fn new(uri: &str, every: Duration) -> Result<Self, String> {
        Ok(JwksSource {
            uri: uri.parse().map_err(|e| format!("auth.jwks_uri: {e}"))?,
            every,
            last: Mutex::new(None),
        })
    }

    /// Whether the last attempt is at least `every` old (or there was none).
    pub fn due(&self) -> bool {
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|t| t.elapsed() >= self.every)
    }

    /// Fetches the key set into `validator`, unless the last attempt was too recent.
    pub async fn refresh(&self, validator: &TokenValidator) -> Refresh {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.every) {
                return Refresh::TooSoon;
            }
            *last = Some(Instant::now());
        }
        match tokio::time::timeout(FETCH_TIMEOUT, self.fetch()).await {
            Err(_) => Refresh::Failed(format!("{}: no answer within {FETCH_TIMEOUT:?}", self.uri)),
            Ok(Err(e)) => Refresh::Failed(format!("{}: {e}", self.uri)),
            Ok(Ok(set)) => match validator.refresh(&set) {
                Ok((n, skipped)) => Refresh::Fetched(n, skipped.into_iter().map(|e| e.to_string()).collect()),
                Err(e) => Refresh::Failed(format!("{}: {e}", self.uri)),
            },
        }
    }

    async fn fetch(&self) -> Result<serde_json::Value, String> {
        // The platform's CA bundle: an identity provider's certificate chains to a public CA,
        // not necessarily Amazon's (the SDK's client trusts only Amazon Trust Services).
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("no CA certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
        let response = client.get(self.uri.clone()).await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_BYTES)
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))
    }
}
