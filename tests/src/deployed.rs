//! The suite as the template deploys it, on a private emulator that enforces IAM.
//!
//! [`Stack::deploy`] starts its own `moto_server` with strict IAM (`scripts/strict_iam.py`:
//! resources and conditions evaluated as AWS does, every decision logged), and runs
//! `infra/emulator_stack.py`, which deploys both regions' stacks from the transformed template,
//! creates what the emulator's CloudFormation skips from the template's own definitions, writes
//! the rendered configuration to the SSM parameter, and gives each function credentials whose
//! only policies are its role's policies in the template. Functions then run with those
//! credentials and read their configuration from the parameter, as on Lambda.

use aws_config::{BehaviorVersion, SdkConfig};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Debug)]
pub struct Stack {
    pub manifest: Value,
    pub endpoint: String,
    pub iam_log: PathBuf,
    server: Child,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(p.exists(), "{} is missing: run `make venv` (make test does)", p.display());
    p
}

/// One IAM decision of the strict emulator.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Decision {
    pub principal: String,
    pub action: String,
    pub resource: String,
    pub allowed: bool,
}

/// An emulator of its own, for an account unlike the shared one (a small Lambda quota, Regions
/// already enabled): `env` sets the models' account facts (scripts/moto_server.py). Stops when
/// dropped.
#[derive(Debug)]
pub struct Account {
    pub endpoint: String,
    server: Child,
}

impl Drop for Account {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl Account {
    pub async fn start(env: &[(&str, &str)]) -> Account {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let server = Command::new(python())
            .current_dir(root().join("scripts"))
            .args(["moto_server.py", "-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Account {
            endpoint: format!("http://127.0.0.1:{port}"),
            server,
        }
    }
}

impl Stack {
    /// Deploys both regions' stacks to a fresh strict-IAM emulator (about 5 s).
    pub async fn deploy() -> Stack {
        let dir = root().join("target").join(crate::unique("deployed"));
        std::fs::create_dir_all(&dir).expect("test directory");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let iam_log = dir.join("iam.jsonl");
        let server = Command::new(python())
            .current_dir(root().join("scripts"))
            .args([
                "moto_server.py",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--no-auth-actions",
                "3",
                "--strict-iam",
            ])
            .arg(&iam_log)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("moto.log")).expect("log"))
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut stack = Stack {
            manifest: Value::Null,
            endpoint: endpoint.clone(),
            iam_log,
            server,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let manifest = dir.join("manifest.json");
        let out = tokio::process::Command::new(python())
            .arg(root().join("infra/emulator_stack.py"))
            .arg(&endpoint)
            .arg(&manifest)
            .output()
            .await
            .expect("run infra/emulator_stack.py");
        assert!(
            out.status.success(),
            "emulator_stack.py failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        stack.manifest = serde_json::from_slice(&std::fs::read(&manifest).expect("manifest")).expect("manifest JSON");
        stack
    }

    /// The environment of `function` deployed in `region`: its own credentials, its region and
    /// the configuration parameter (no configuration in the environment).
    pub fn env(&self, function: &str, region: &str) -> Vec<(&'static str, String)> {
        let creds = &self.manifest["functions"][function][region];
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", creds["access_key_id"].as_str().expect("key").to_owned()),
            (
                "AWS_SECRET_ACCESS_KEY",
                creds["secret_access_key"].as_str().expect("secret").to_owned(),
            ),
            // User keys, no session (the emulator's dummy token would not match them).
            ("AWS_SESSION_TOKEN", String::new()),
            ("AWS_REGION", region.to_owned()),
            (
                "RESILIENCE_CONFIG_PARAMETER",
                self.manifest["config_parameter"].as_str().expect("parameter").to_owned(),
            ),
            ("RESILIENCE_CONFIG_SIGNER", self.config_key().public_key),
        ]
    }

    /// The deploy's configuration key, as the stacks pin it.
    pub fn config_key(&self) -> crate::ConfigKey {
        let key = &self.manifest["config_key"];
        crate::ConfigKey {
            arn: key["arn"].as_str().expect("config key arn").to_owned(),
            public_key: key["public_key"].as_str().expect("config key public key").to_owned(),
        }
    }

    /// The configuration parameter's name.
    pub fn parameter(&self) -> String {
        self.manifest["config_parameter"].as_str().expect("parameter").to_owned()
    }

    /// `config` signed as the deploy signs it (KMS in the key's region, as the administrator).
    pub async fn sealed(&self, config: &Value) -> String {
        let region = self.manifest["config_key"]["region"].as_str().expect("config key region");
        self.config_key().seal(&self.admin(region).await, config).await
    }

    /// Writes `text` as it is to the configuration parameter in `region` (what anyone with
    /// `ssm:PutParameter` can do).
    pub async fn put_parameter_text(&self, region: &str, text: &str) {
        crate::put_parameter_text(&self.admin(region).await, &self.parameter(), text).await;
    }

    /// SDK configuration of the administrator (setting the scene, reading results).
    pub async fn admin(&self, region: &str) -> SdkConfig {
        self.sdk(&self.manifest["admin"], region).await
    }

    /// SDK configuration with `function`'s own credentials (to prove what it may not do).
    pub async fn as_function(&self, function: &str, region: &str) -> SdkConfig {
        self.sdk(&self.manifest["functions"][function][region], region).await
    }

    async fn sdk(&self, keys: &Value, region: &str) -> SdkConfig {
        let creds = aws_sdk_dynamodb::config::Credentials::new(
            keys["access_key_id"].as_str().expect("key"),
            keys["secret_access_key"].as_str().expect("secret"),
            None,
            None,
            "deployed-stack",
        );
        aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds)
            .load()
            .await
    }

    /// The deployed configuration (as rendered from the template).
    pub fn config(&self) -> Value {
        self.manifest["config"].clone()
    }

    /// Writes a new version of the configuration parameter in every region, signed as the
    /// deploy signs it (`make deploy-config`: no code deploy).
    pub async fn put_config(&self, config: &Value) {
        let sealed = self.sealed(config).await;
        for region in [&self.manifest["primary"], &self.manifest["backup"]] {
            self.put_parameter_text(region.as_str().expect("region"), &sealed).await;
        }
    }

    /// Every IAM decision so far.
    pub fn decisions(&self) -> Vec<Decision> {
        std::fs::read_to_string(&self.iam_log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The function whose credentials made a decision (`<function>-<region>` users).
    pub fn function_of(&self, principal: &str) -> Option<String> {
        let user = principal.rsplit('/').next()?;
        self.manifest["functions"]
            .as_object()?
            .keys()
            .find(|f| user.starts_with(&format!("{f}-")))
            .cloned()
    }

    /// Actions each function was granted by the template, and those it was allowed to use.
    pub fn granted_and_exercised(&self) -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, BTreeSet<String>>) {
        let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (function, regions) in self.manifest["functions"].as_object().expect("functions") {
            for creds in regions.as_object().expect("regions").values() {
                for a in creds["granted"].as_array().expect("granted") {
                    granted
                        .entry(function.clone())
                        .or_default()
                        .insert(a.as_str().expect("action").to_owned());
                }
            }
        }
        let mut exercised: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for d in self.decisions().into_iter().filter(|d| d.allowed) {
            if let Some(f) = self.function_of(&d.principal) {
                exercised.entry(f).or_default().insert(d.action);
            }
        }
        (granted, exercised)
    }

    /// Fails the test if a grant of `functions` is neither exercised so far nor justified in
    /// `infra/permissions-unexercised.json`, or if a justification is stale (exercised now).
    pub fn assert_grants_explained(&self, functions: &[&str]) {
        let (unexplained, stale) = self.unexplained_grants(functions);
        assert_eq!(
            unexplained,
            Vec::<String>::new(),
            "granted, never exercised, not justified in infra/permissions-unexercised.json"
        );
        assert_eq!(
            stale,
            Vec::<String>::new(),
            "exercised now: remove from infra/permissions-unexercised.json"
        );
    }

    /// The grants of `functions` that are neither exercised so far nor justified in
    /// `infra/permissions-unexercised.json`, and the justifications that are stale (exercised now).
    pub fn unexplained_grants(&self, functions: &[&str]) -> (Vec<String>, Vec<String>) {
        let (granted, exercised) = self.granted_and_exercised();
        let justified: BTreeMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(root().join("infra/permissions-unexercised.json")).expect("justifications"))
                .expect("JSON");
        let mut unexplained = vec![];
        let mut stale = vec![];
        for (function, actions) in granted.iter().filter(|(f, _)| functions.contains(&f.as_str())) {
            for action in actions {
                let key = format!("{function} {action}");
                let used = exercised.get(function).is_some_and(|e| e.contains(action));
                match (used, justified.contains_key(&key)) {
                    (false, false) => unexplained.push(key),
                    (true, true) => stale.push(key),
                    _ => {}
                }
            }
        }
        (unexplained, stale)
    }
}
