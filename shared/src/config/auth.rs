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
    /// How long a throttle lookup is cached in memory (a cached answer delays a new block;
    /// at most 300).
    #[serde(default = "defaults::cache_seconds")]
    pub cache_seconds: u64,
    /// The longest a token may live (`exp - iat`): a leaked long-lived token is refused.
    #[serde(default = "defaults::max_token_lifetime_seconds")]
    pub max_lifetime_seconds: u64,
    /// Accepted `typ` header values, when the token has one (RFC 8725 explicit typing; RFC 9068
    /// access tokens are `at+jwt`). Compared case-insensitively.
    #[serde(default = "defaults::token_types")]
    pub token_types: Vec<String>,
    /// When set, the `token_use` claim must equal it (Amazon Cognito: `access`), so an ID token
    /// is not accepted as an access token.
    #[serde(default)]
    pub token_use: Option<String>,
}

impl SuiteConfig {
    pub(super) fn check_auth(&self, out: &mut Problems) {
        if let Some(a) = &self.auth {
            if a.cache_seconds > 300 {
                out.bad(
                    "auth.cache_seconds".into(),
                    "is above 300: a block would take more than five minutes to bite",
                    "use a few seconds",
                );
            }
            if a.max_lifetime_seconds == 0 {
                out.bad(
                    "auth.max_lifetime_seconds".into(),
                    "is 0",
                    "use the issuer's token lifetime, e.g. 3600",
                );
            }
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
