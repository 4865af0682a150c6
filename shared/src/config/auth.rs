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
    /// the request path; always trusted, and the fallback when `jwks_uri` cannot be read.
    pub jwks: serde_json::Value,
    /// The issuer's published key set (OpenID Connect `jwks_uri`): fetched when a token names
    /// a key id not known yet (an issuer's key rotation), at most once per
    /// `jwks_refresh_seconds` per instance, and fetched again every `jwks_refresh_seconds`
    /// while fetched keys are in use (a key the issuer stops publishing leaves). HTTPS; plain
    /// HTTP only to a loopback host (tests); never with user information.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default = "defaults::jwks_refresh_seconds")]
    pub jwks_refresh_seconds: u64,
    /// The API key of the default usage plan, given as `usageIdentifierKey` with every Allow
    /// for a caller under no limit. With usage plans, methods require an API key (the API's key
    /// source `AUTHORIZER`), so every caller must be given one: without it an unthrottled
    /// caller would get 403. Rate-limited callers get their level's `usage_plan_key`.
    #[serde(default)]
    pub default_usage_plan_key: Option<String>,
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
            if a.jwks_uri.is_none() && a.jwks.get("keys").and_then(|k| k.as_array()).is_none_or(|k| k.is_empty()) {
                out.bad(
                    "auth.jwks".into(),
                    "has no keys",
                    "give the JWKS document ({\"keys\": [...]}) or auth.jwks_uri",
                );
            }
            if let Some(uri) = &a.jwks_uri
                && let Err(problem) = jwks_uri_problem(uri)
            {
                out.bad("auth.jwks_uri".into(), &problem, "use the issuer's https jwks_uri");
            }
            let levels = self.throttle.as_ref().map(|t| t.levels.as_slice()).unwrap_or_default();
            let planned = levels.iter().any(|l| l.usage_plan_key.is_some());
            if planned && a.default_usage_plan_key.is_none() {
                out.bad(
                    "auth.default_usage_plan_key".into(),
                    "is missing while throttle levels name usage plan keys: methods must require API keys for a plan to apply, and an unthrottled caller would then be given none (403)",
                    "give the default plan's API key (the template's DefaultUsagePlanKey)",
                );
            }
            if planned {
                for (i, l) in levels.iter().enumerate() {
                    if !l.block && l.usage_plan_key.is_none() {
                        out.bad(
                            format!("throttle.levels[{i}].usage_plan_key"),
                            "is missing on a level that does not block: its callers would be denied, not held to limit_rps",
                            "give the API key of the usage plan whose rate is this level's limit_rps",
                        );
                    }
                }
            }
            if !(60..=86_400).contains(&a.jwks_refresh_seconds) {
                out.bad(
                    "auth.jwks_refresh_seconds".into(),
                    "must be between 60 and 86400: tokens naming unknown keys must not make every request fetch",
                    "use 300",
                );
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

/// Whether `uri` is a key endpoint the authorizer may fetch: parsed as a URL (WHATWG, as the
/// fetch will read it), `https` with a host, or plain `http` to a loopback host only (tests);
/// never with user information (`http://localhost:80@issuer.example/` names issuer.example).
fn jwks_uri_problem(uri: &str) -> Result<(), String> {
    let url = url::Url::parse(uri).map_err(|e| format!("is not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries user information (user@host), which hides the host it names".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("has no host".into()),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err("is not an https:// URL (plain http only to a loopback host)".into()),
        other => Err(format!("has scheme {other:?}, not https")),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::SuiteConfig;

    fn problems(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v: serde_json::Value = serde_json::from_str(crate::config::EXAMPLE).unwrap();
        edit(&mut v["auth"]);
        match SuiteConfig::from_json(&v.to_string()) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_issuers_key_endpoint_must_be_https_but_loopback_and_refreshes_are_bounded() {
        assert_eq!(problems(|a| a["jwks_uri"] = "https://issuer.example/jwks".into()), "");
        assert_eq!(problems(|a| a["jwks_uri"] = "http://127.0.0.1:8080/jwks".into()), "");
        assert!(problems(|a| a["jwks_uri"] = "http://issuer.example/jwks".into()).contains("auth.jwks_uri"));
        assert!(problems(|a| a["jwks_uri"] = "http://127.0.0.1.evil.example/jwks".into()).contains("auth.jwks_uri"));
        // The host after user information is the one fetched: refused however loopback it looks.
        for uri in [
            "http://localhost:80@issuer.example/jwks",
            "http://127.0.0.1@evil.example/jwks",
            "https://user:pw@issuer.example/jwks",
            "ftp://issuer.example/jwks",
            "not a url",
        ] {
            assert!(problems(|a| a["jwks_uri"] = uri.into()).contains("auth.jwks_uri"), "{uri}");
        }
        assert_eq!(problems(|a| a["jwks_uri"] = "http://[::1]:9000/jwks".into()), "");
        assert_eq!(problems(|a| a["jwks_uri"] = "http://localhost/jwks".into()), "");
        assert!(problems(|a| a["jwks_refresh_seconds"] = 5.into()).contains("auth.jwks_refresh_seconds"));
    }
}
