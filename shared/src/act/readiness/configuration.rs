//! Reading the configuration a region's functions run with: the SSM parameter, parsed and
//! compared with the configuration of this check. Regions that run different documents fail
//! over by different rules, so a drifted or invalid parameter fails; so does a version the
//! functions refuse (not signed by the deploy: `config::signed`).

use super::ReadinessProbe;
use super::read::{code_of, failure};
use crate::config::SuiteConfig;
use crate::config::signed::{self, Signer};
use crate::decide::readiness::{self as grade, Area, Grade, Item};
use crate::model::Region;

impl ReadinessProbe {
    /// The configuration parameter in `region`: it exists, is valid, and is the same document
    /// as `config` (a warning when no parameter was named).
    pub(super) async fn configuration(
        &self,
        config: &SuiteConfig,
        region: &Region,
        parameter: Option<&str>,
        signer: Option<&Signer>,
    ) -> Vec<Item> {
        let item = "configuration parameter";
        let Some(name) = parameter else {
            return vec![Item::new(
                Area::Configuration,
                region.as_str(),
                item,
                Grade::Warn,
                "not checked: no configuration parameter named (RESILIENCE_CONFIG_PARAMETER)",
                "run the check where the functions run, or give the CLI --parameter",
            )];
        };
        let ssm = client!(self, aws_sdk_ssm, region);
        let out = match ssm.get_parameter().name(name).send().await {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("ParameterNotFound") => {
                return vec![Item::new(
                    Area::Configuration,
                    region.as_str(),
                    item,
                    Grade::Fail,
                    format!("parameter {name} does not exist in {region}: the functions there cannot start"),
                    "make deploy-config CONFIG=<file>",
                )];
            }
            Err(e) => {
                return vec![grade::unreadable(
                    Area::Configuration,
                    region.as_str(),
                    item,
                    "ssm:GetParameter",
                    &failure(e),
                )];
            }
        };
        let p = out.parameter();
        let text = p.and_then(|p| p.value()).unwrap_or_default();
        let version = p.map_or(0, |p| p.version());
        let opened = match signer {
            Some(key) => key.open(text).map(|v| (v.config, "signed by the deploy")),
            None => signed::parse(text).map(|e| (e.config, "signature not checked: RESILIENCE_CONFIG_SIGNER not set")),
        };
        let (text, signature) = match opened {
            Ok(opened) => opened,
            Err(refusal) => {
                return vec![Item::new(
                    Area::Configuration,
                    region.as_str(),
                    item,
                    Grade::Fail,
                    format!(
                        "version {version} of {name} in {region} is refused by the functions: {refusal}; warm ones keep the version in force, cold ones start on the newest signed version in its history"
                    ),
                    "write the configuration with make deploy-config (it signs with the deploy's key); if nobody here wrote it, someone in the account can write the parameter: see docs/security.md",
                )];
            }
        };
        vec![match SuiteConfig::from_text(name, &text, |_| None) {
            Err(e) => Item::new(
                Area::Configuration,
                region.as_str(),
                item,
                Grade::Fail,
                format!("version {version} of {name} is not valid: {e}"),
                "resilience config check, then make deploy-config",
            ),
            Ok(deployed) if !same_document(&deployed, config) => Item::new(
                Area::Configuration,
                region.as_str(),
                item,
                Grade::Fail,
                format!(
                    "version {version} of {name} in {region} differs from the configuration this check runs with (sha256 {} vs {})",
                    digest(&deployed),
                    digest(config)
                ),
                "roll the same validated document out to every region (make deploy-config)",
            ),
            Ok(deployed) => Item::pass(
                Area::Configuration,
                region.as_str(),
                item,
                format!("version {version}, {signature}, valid, sha256 {}", digest(&deployed)),
            ),
        }]
    }
}

/// The same document, whatever this process's emergency switches say.
fn same_document(a: &SuiteConfig, b: &SuiteConfig) -> bool {
    let strip = |c: &SuiteConfig| SuiteConfig {
        dry_run: false,
        kill_switch: false,
        ..c.clone()
    };
    strip(a) == strip(b)
}

/// A short digest of a configuration as parsed (key order and whitespace do not count).
pub fn digest(config: &SuiteConfig) -> String {
    let text = serde_json::to_string(config).unwrap_or_default();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    d.as_ref().iter().take(6).map(|b| format!("{b:02x}")).collect()
}
