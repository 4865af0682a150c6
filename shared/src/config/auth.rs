//! access-authorizer: issuers, audiences and keys.

use super::{Problems, SuiteConfig, defaults};
use serde::{Deserialize, Serialize};

/// JWT validation for access-authorizer. Tokens are valid in every region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    /// The JSON Web Key Set (RS256 / ES256 keys with `kid`), inline so no network call is on
    /// the request path; rotate by redeploying the configuration.
    pub jwks: serde_json::Value,
    /// Clock skew tolerated on `exp` / `nbf` (at most 300 s).
    #[serde(default = "defaults::leeway_seconds")]
    pub leeway_seconds: u64,
    /// How long a throttle lookup is cached in memory (a cached answer delays a new block).
    #[serde(default = "defaults::cache_seconds")]
    pub cache_seconds: u64,
}

impl SuiteConfig {
    pub(super) fn check_auth(&self, out: &mut Problems) {
        if let Some(a) = &self.auth {
            if a.leeway_seconds > 300 {
                out.bad(
                    "auth.leeway_seconds".into(),
                    "is above 300",
                    "tolerate at most 5 minutes of clock skew",
                );
            }
            if a.jwks.get("keys").and_then(|k| k.as_array()).is_none_or(|k| k.is_empty()) {
                out.bad("auth.jwks".into(), "has no keys", "give the JWKS document ({\"keys\": [...]})");
            }
            if a.issuer.trim().is_empty() || a.audience.trim().is_empty() {
                out.bad(
                    "auth".into(),
                    "issuer and audience must be set",
                    "give the token issuer and this API's audience",
                );
            }
        }
    }
}
