//! JWT validation for the API edge: RS256 / ES256 against a configured JWKS; issuer, audience,
//! expiry and not-before with bounded clock skew. `alg: none`, HMAC algorithms, unknown `kid`s
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
pub struct TokenValidator {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
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
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl TokenValidator {
    pub fn new(cfg: &AuthConfig) -> Result<Self, JwksError> {
        let set: JwkSet = serde_json::from_value(cfg.jwks.clone()).map_err(|e| JwksError(e.to_string()))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone().unwrap_or_default();
            if kid.is_empty() {
                return Err(JwksError("a key has no kid (a token without one would match it)".into()));
            }
            let alg = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec) if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => {
                    return Err(JwksError(format!(
                        "key {kid}: only RSA (RS256) and EC P-256 (ES256) keys are accepted"
                    )));
                }
            };
            // The key's own metadata, when present, must agree (RFC 7517: `use`, `alg`).
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
            if keys.insert(kid.clone(), (key, alg)).is_some() {
                return Err(JwksError(format!("key id {kid} appears twice")));
            }
        }
        if keys.is_empty() {
            return Err(JwksError("no keys".into()));
        }
        Ok(TokenValidator {
            keys,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            leeway: cfg.leeway_seconds,
            max_lifetime: cfg.max_lifetime_seconds,
            token_types: cfg.token_types.clone(),
            token_use: cfg.token_use.clone(),
        })
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
        let (key, alg) = self
            .keys
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
