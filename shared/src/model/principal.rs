//! Who is throttled: a principal (user, API key or IP address), written `kind#value`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Who is throttled: a user id, an API key or an IP address, written `kind#value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Principal(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a principal (expected user#<id>, key#<id> or ip#<address>, at most 256 printable characters)")]
pub struct InvalidPrincipal(pub String);

impl Principal {
    pub fn parse(s: &str) -> Result<Self, InvalidPrincipal> {
        let bad = || InvalidPrincipal(s.chars().take(80).collect());
        let (kind, value) = s.split_once('#').ok_or_else(bad)?;
        if !["user", "key", "ip"].contains(&kind) || value.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
            return Err(bad());
        }
        Ok(Principal(s.to_owned()))
    }

    pub fn of(kind: &str, value: &str) -> Result<Self, InvalidPrincipal> {
        Self::parse(&format!("{kind}#{value}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Principal {
    type Error = InvalidPrincipal;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Principal> for String {
    fn from(p: Principal) -> String {
        p.0
    }
}
