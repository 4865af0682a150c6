//! Token validation for the API edge, its own module: a token is a credential, not a signal.
//! JWT: RS256 / ES256 against a configured JWKS; issuer, audience, expiry and not-before with bounded clock skew. `alg: none`, HMAC algorithms, unknown `kid`s
//! and tampered signatures are refused. Tokens are valid in every region: no regional state.

use crate::config::AuthConfig;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    #[serde(default)]
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    #[serde(default)]
    pub token_use: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("no bearer token")]
    NoToken,
    #[error("token header unreadable or algorithm not allowed: {0}")]
    Header(String),
    #[error("algorithm {0:?} is not accepted (RS256 and ES256 only)")]
    Algorithm(String),
    #[error("unknown key id {0:?}")]
    UnknownKid(String),
    #[error("token rejected: {0}")]
    Invalid(String),
}

#[derive(Debug, thiserror::Error)]
#[error("auth.jwks: {0}")]
pub struct JwksError(pub String);

/// Keys by `kid`, with the one algorithm each may be used with.
type Keys = HashMap<String, (DecodingKey, Algorithm)>;

/// Validates tokens against the configured keys and, when the issuer publishes them at a
/// `jwks_uri`, the keys last fetched from there (see [`TokenValidator::refresh`]).
pub struct TokenValidator {
    /// `auth.jwks`: always trusted, the fallback when the issuer's endpoint cannot be read.
    configured: Keys,
    /// The configured keys and the last fetched set, swapped whole on a refresh.
    keys: std::sync::RwLock<std::sync::Arc<Keys>>,
    /// Whether `keys` holds any key fetched from the issuer.
    fetched: std::sync::atomic::AtomicBool,
    issuer: String,
    audience: String,
    leeway: u64,
    max_lifetime: u64,
    token_types: Vec<String>,
    token_use: Option<String>,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("kids", &self.current().keys().cloned().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish()
    }
}

/// Parses a JSON Web Key Set, refusing it whole when any key is unfit: no or a repeated `kid`,
/// a key type other than RSA or EC P-256, or `use` / `alg` metadata that disagrees (RFC 7517).
/// The configured set is held to this: a mistake there is the deployer's to fix.
pub fn parse_key_set(jwks: &serde_json::Value) -> Result<Keys, JwksError> {
    let (keys, unfit) = usable_keys(jwks)?;
    match unfit.into_iter().next() {
        Some(first) => Err(first),
        None => Ok(keys),
    }
}

/// The fit keys of a key set, and why each other one is not (a repeated `kid` drops every
/// copy: which one the issuer meant is unknown). A set that is not a JWKS at all is an error.
fn usable_keys(jwks: &serde_json::Value) -> Result<(Keys, Vec<JwksError>), JwksError> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).map_err(|e| JwksError(e.to_string()))?;
    let mut keys = HashMap::new();
    let mut unfit = Vec::new();
    let mut repeated = std::collections::HashSet::new();
    for jwk in &set.keys {
        match parse_key(jwk) {
            Ok((kid, key)) => {
                if keys.insert(kid.clone(), key).is_some() {
                    unfit.push(JwksError(format!("key id {kid} appears twice")));
                    repeated.insert(kid);
                }
            }
            Err(e) => unfit.push(e),
        }
    }
    keys.retain(|kid, _| !repeated.contains(kid));
    Ok((keys, unfit))
}

/// One key of a set, with the one algorithm it may be used with.
fn parse_key(jwk: &jsonwebtoken::jwk::Jwk) -> Result<(String, (DecodingKey, Algorithm)), JwksError> {
    let kid = jwk.common.key_id.clone().unwrap_or_default();
    if kid.is_empty() {
        return Err(JwksError("a key has no kid (a token without one would match it)".into()));
    }
    let alg = match &jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
        jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec) if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 => Algorithm::ES256,
        _ => {
            return Err(JwksError(format!(
                "key {kid}: only RSA (RS256) and EC P-256 (ES256) keys are accepted"
            )));
        }
    };
    if let Some(u) = &jwk.common.public_key_use
        && *u != jsonwebtoken::jwk::PublicKeyUse::Signature
    {
        return Err(JwksError(format!("key {kid}: `use` is not \"sig\"")));
    }
    if let Some(a) = &jwk.common.key_algorithm
        && format!("{a:?}") != format!("{alg:?}")
    {
        return Err(JwksError(format!("key {kid}: `alg` {a:?} does not match its key type ({alg:?})")));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| JwksError(format!("key {kid}: {e}")))?;
    Ok((kid, (key, alg)))
}

impl TokenValidator {
    pub fn new(cfg: &AuthConfig) -> Result<Self, JwksError> {
        let configured = parse_key_set(&cfg.jwks)?;
        // With the issuer's endpoint configured, keys may all come from there.
        if configured.is_empty() && cfg.jwks_uri.is_none() {
            return Err(JwksError("no keys".into()));
        }
        Ok(TokenValidator {
            keys: std::sync::RwLock::new(std::sync::Arc::new(configured.clone())),
            fetched: std::sync::atomic::AtomicBool::new(false),
            configured,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            leeway: cfg.leeway_seconds,
            max_lifetime: cfg.max_lifetime_seconds,
            token_types: cfg.token_types.clone(),
            token_use: cfg.token_use.clone(),
        })
    }

    fn current(&self) -> std::sync::Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes the issuer's key set as fetched from its `jwks_uri`: the keys in use become the
    /// configured ones plus its fit keys (a fetched key wins over a configured one of the same
    /// `kid`), so a key the issuer stopped publishing (revoked) leaves. One unfit key does not
    /// hold up the others (an issuer adding a key type we refuse must not stall its rotation);
    /// a set that is not a JWKS, or whose keys are all unfit, changes nothing. Returns how many
    /// keys are in use and why each skipped one was.
    pub fn refresh(&self, fetched: &serde_json::Value) -> Result<(usize, Vec<JwksError>), JwksError> {
        let (fetched, unfit) = usable_keys(fetched)?;
        if fetched.is_empty() && !unfit.is_empty() {
            return Err(JwksError(format!(
                "no usable key in the issuer's set: {}",
                unfit.iter().map(|e| e.0.as_str()).collect::<Vec<_>>().join("; ")
            )));
        }
        let mut keys = self.configured.clone();
        let any_fetched = !fetched.is_empty();
        keys.extend(fetched);
        let n = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(keys);
        self.fetched.store(any_fetched, std::sync::atomic::Ordering::Relaxed);
        Ok((n, unfit))
    }

    /// Whether keys fetched from the issuer are in use (then they are refreshed periodically,
    /// so a revoked one leaves).
    pub fn uses_fetched_keys(&self) -> bool {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Validates a bearer token (with or without the `Bearer ` prefix).
    pub fn validate(&self, token: &str) -> Result<Claims, AuthError> {
        let token = token.trim();
        let token = token
            .strip_prefix("Bearer ")
            .or_else(|| token.strip_prefix("bearer "))
            .unwrap_or(token)
            .trim();
        if token.is_empty() {
            return Err(AuthError::NoToken);
        }
        // `alg: none` and unknown algorithms fail here: the header type has no such variant.
        let header = decode_header(token).map_err(|e| AuthError::Header(e.to_string()))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthError::Algorithm(format!("{:?}", header.alg)));
        }
        if let Some(typ) = &header.typ
            && !self.token_types.iter().any(|t| t.eq_ignore_ascii_case(typ))
        {
            return Err(AuthError::Invalid(format!(
                "token type {:?} is not accepted",
                typ.chars().take(32).collect::<String>()
            )));
        }
        let kid = header.kid.unwrap_or_default();
        let keys = self.current();
        let (key, alg) = keys
            .get(&kid)
            .ok_or_else(|| AuthError::UnknownKid(kid.chars().take(64).collect()))?;
        if header.alg != *alg {
            return Err(AuthError::Algorithm(format!("{:?} with a key for {alg:?}", header.alg)));
        }
        let mut v = Validation::new(*alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
        let claims = decode::<Claims>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        let now = jsonwebtoken::get_current_timestamp();
        if claims.iat > now + self.leeway {
            return Err(AuthError::Invalid("issued in the future (iat)".into()));
        }
        if claims.exp.saturating_sub(claims.iat) > self.max_lifetime {
            return Err(AuthError::Invalid(format!(
                "lives {}s (exp - iat), longer than the {}s allowed",
                claims.exp.saturating_sub(claims.iat),
                self.max_lifetime
            )));
        }
        if let Some(wanted) = &self.token_use
            && claims.token_use.as_deref() != Some(wanted.as_str())
        {
            return Err(AuthError::Invalid(format!("token_use is not {wanted:?}")));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SuiteConfig;

    fn auth() -> AuthConfig {
        SuiteConfig::from_json(crate::config::EXAMPLE).unwrap().auth.unwrap()
    }

    fn with_keys(edit: impl FnOnce(&mut Vec<serde_json::Value>)) -> Result<TokenValidator, JwksError> {
        let mut a = auth();
        let mut keys = a.jwks["keys"].as_array().unwrap().clone();
        edit(&mut keys);
        a.jwks = serde_json::json!({ "keys": keys });
        TokenValidator::new(&a)
    }

    #[test]
    fn a_fetched_key_set_adds_to_the_configured_keys_and_an_unfit_one_changes_nothing() {
        let v = TokenValidator::new(&auth()).unwrap();
        let configured: Vec<String> = v.current().keys().cloned().collect();
        let mut fetched = auth().jwks;
        fetched["keys"][0]["kid"] = "rotated".into();
        let (n, skipped) = v.refresh(&fetched).unwrap();
        assert_eq!(n, configured.len() + 1, "configured keys kept as the fallback");
        assert!(skipped.is_empty() && v.current().contains_key("rotated") && v.uses_fetched_keys());
        // All of the set unfit: refused, the keys in use stay.
        let mut bad = serde_json::json!({ "keys": [fetched["keys"][0].clone()] });
        bad["keys"][0]["use"] = "enc".into();
        assert!(v.refresh(&bad).is_err());
        assert!(v.current().contains_key("rotated"), "the keys in use stay");
        // One unfit key next to a fit one: the fit one is taken, the unfit one named.
        let mut mixed = fetched.clone();
        let mut unfit = mixed["keys"][0].clone();
        unfit["kid"] = "next-but-enc".into();
        unfit["use"] = "enc".into();
        mixed["keys"].as_array_mut().unwrap().push(unfit);
        let (_, skipped) = v.refresh(&mixed).unwrap();
        assert!(v.current().contains_key("rotated") && !v.current().contains_key("next-but-enc"));
        assert!(skipped.len() == 1 && skipped[0].0.contains("next-but-enc"), "{skipped:?}");
        // The issuer stops publishing a key (revoked): it leaves.
        let mut still = fetched["keys"][0].clone();
        still["kid"] = "still-published".into();
        v.refresh(&serde_json::json!({ "keys": [still] })).unwrap();
        assert!(!v.current().contains_key("rotated"), "a revoked key leaves on the next refresh");
        let mut no_keys = auth();
        no_keys.jwks = serde_json::json!({ "keys": [] });
        assert!(TokenValidator::new(&no_keys).is_err());
        no_keys.jwks_uri = Some("https://issuer.example/.well-known/jwks.json".into());
        assert!(TokenValidator::new(&no_keys).is_ok(), "every key may come from the issuer");
    }

    #[test]
    fn a_key_set_with_a_repeated_empty_or_mislabelled_key_is_refused_whole() {
        assert!(with_keys(|_| {}).is_ok());
        let e = with_keys(|k| k.push(k[0].clone())).unwrap_err();
        assert!(e.0.contains("appears twice"), "{e}");
        let e = with_keys(|k| k[0]["kid"] = "".into()).unwrap_err();
        assert!(e.0.contains("no kid"), "{e}");
        let e = with_keys(|k| k[0]["use"] = "enc".into()).unwrap_err();
        assert!(e.0.contains("`use`"), "{e}");
        let e = with_keys(|k| {
            let other = if k[0]["kty"] == "RSA" { "ES256" } else { "RS256" };
            k[0]["alg"] = other.into();
        })
        .unwrap_err();
        assert!(e.0.contains("`alg`"), "{e}");
    }
}
