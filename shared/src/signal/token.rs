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
            let kid = jwk.common.key_id.clone().ok_or_else(|| JwksError("a key has no kid".into()))?;
            let alg = match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                _ => {
                    return Err(JwksError(format!(
                        "key {kid}: only RSA (RS256) and EC P-256 (ES256) keys are accepted"
                    )));
                }
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| JwksError(format!("key {kid}: {e}")))?;
            keys.insert(kid, (key, alg));
        }
        if keys.is_empty() {
            return Err(JwksError("no keys".into()));
        }
        Ok(TokenValidator {
            keys,
            issuer: cfg.issuer.clone(),
            audience: cfg.audience.clone(),
            leeway: cfg.leeway_seconds,
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
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        decode::<Claims>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }
}
