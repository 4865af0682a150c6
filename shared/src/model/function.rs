//! The six functions of the suite, by their name in `functions/` (the template names each
//! `<platform>-<name>`). One list, so the CLI's audit, readiness's permission check and the
//! tests cannot disagree on which functions exist.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Function {
    DnsFailover,
    CapacityScaler,
    BackupVerifier,
    UserThrottle,
    AccessAuthorizer,
    ReadinessCheck,
}

impl Function {
    /// Every function, in the order the template declares them.
    pub const ALL: [Function; 6] = [
        Function::DnsFailover,
        Function::CapacityScaler,
        Function::BackupVerifier,
        Function::UserThrottle,
        Function::AccessAuthorizer,
        Function::ReadinessCheck,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Function::DnsFailover => "dns-failover",
            Function::CapacityScaler => "capacity-scaler",
            Function::BackupVerifier => "backup-verifier",
            Function::UserThrottle => "user-throttle",
            Function::AccessAuthorizer => "access-authorizer",
            Function::ReadinessCheck => "readiness-check",
        }
    }

    /// The function named `name` (as in `functions/`), if it is one of the suite's.
    pub fn parse(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_round_trips_through_its_name_and_serde() {
        for f in Function::ALL {
            assert_eq!(Function::parse(f.as_str()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), serde_json::json!(f.as_str()));
        }
        assert_eq!(Function::parse("dns_failover"), None);
    }

    #[test]
    fn the_list_names_every_crate_in_functions() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions");
        let mut crates: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        crates.sort();
        let mut listed: Vec<String> = Function::ALL.iter().map(|f| f.as_str().to_owned()).collect();
        listed.sort();
        assert_eq!(crates, listed);
    }
}
