//! `resilience preflight`, run as a process against the emulator's account models (Region
//! opt-in status, Parameter Store's throughput setting, Lambda's account quota: see
//! scripts/moto_server.py), before anything is deployed.

// Test code: an unexpected error is the test failing.
#![allow(clippy::unwrap_used)]

use resilience_tests::deployed::Account;
use resilience_tests::runtime::binary;
use serde_json::Value;

/// Runs the CLI against `endpoint`: (exit status 0, the JSON items, all output).
async fn preflight(endpoint: &str, args: &[&str]) -> (bool, Vec<Value>, String) {
    let out = tokio::process::Command::new(binary("resilience"))
        .arg("--json")
        .arg("preflight")
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "eu-north-1")
        .env_remove("RESILIENCE_CONFIG")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let items = serde_json::from_str::<Vec<Value>>(&stdout).unwrap_or_default();
    (
        out.status.success(),
        items,
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

fn item<'a>(items: &'a [Value], region: &str, name: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["region"] == region && i["item"] == name)
        .unwrap_or_else(|| panic!("no {region} {name:?} in {items:?}"))
}

/// A fresh account: eu-south-1 is an opt-in Region nobody enabled, Parameter Store is at
/// standard throughput, and the operator role the stack would name does not exist. Each is
/// refused with its fix, and the preflight exits 1 before anything is created.
#[tokio::test]
async fn a_fresh_account_is_refused_for_its_disabled_region_a_missing_principal_and_standard_throughput() {
    let account = Account::start(&[]).await;
    let (ok, items, text) = preflight(
        &account.endpoint,
        &[
            "--region",
            "eu-south-1",
            "--region",
            "eu-north-1",
            "--principal",
            "Operator=arn:aws:iam::123456789012:role/oncall",
        ],
    )
    .await;
    assert!(!ok, "{text}");
    let disabled = item(&items, "eu-south-1", "Region enabled");
    assert_eq!(disabled["grade"], "FAIL", "{text}");
    assert!(
        disabled["fix"].as_str().unwrap().contains("enable-region --region-name eu-south-1"),
        "{text}"
    );
    assert_eq!(
        item(&items, "eu-north-1", "Region enabled")["grade"],
        "PASS",
        "a default Region: {text}"
    );
    let missing = item(&items, "global", "Operator principal exists");
    assert_eq!(missing["grade"], "FAIL", "{text}");
    assert!(missing["fix"].as_str().unwrap().contains("OperatorPrincipalArn"), "{text}");
    for region in ["eu-south-1", "eu-north-1"] {
        let throughput = item(&items, region, "Parameter Store throughput");
        assert_eq!(throughput["grade"], "FAIL", "{text}");
        assert!(throughput["fix"].as_str().unwrap().contains("--enable-high-throughput"), "{text}");
    }
    assert!(text.contains("preflight FAIL: 4 item(s) fail"), "{text}");
}

/// A new account with a reduced Lambda concurrency quota (300, below the 264 the stack
/// reserves + the 100 Lambda keeps unreserved): refused in each Region, naming the shortfall
/// and the quota to raise. The Region is enabled, the principal exists, and
/// `--enable-high-throughput` raises Parameter Store's throughput, which the next run reads.
#[tokio::test]
async fn a_reduced_concurrency_quota_is_refused_and_high_throughput_is_raised_when_asked() {
    let account = Account::start(&[("MOTO_LAMBDA_CONCURRENCY_QUOTA", "300"), ("MOTO_ENABLED_REGIONS", "eu-south-1")]).await;
    let iam = aws_sdk_iam::Client::new(
        &aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&account.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .load()
            .await,
    );
    iam.create_role()
        .role_name("oncall")
        .path("/team/")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .unwrap();
    let regions = ["--region", "eu-south-1", "--region", "eu-north-1"];
    let principal = ["--principal", "Operator=arn:aws:iam::123456789012:role/team/oncall"];
    let args: Vec<&str> = regions
        .iter()
        .chain(&principal)
        .copied()
        .chain(["--enable-high-throughput"])
        .collect();
    let (ok, items, text) = preflight(&account.endpoint, &args).await;
    assert!(!ok, "{text}");
    for region in ["eu-south-1", "eu-north-1"] {
        let quota = item(&items, region, "Lambda concurrency quota");
        assert_eq!(quota["grade"], "FAIL", "{text}");
        assert!(quota["detail"].as_str().unwrap().contains("300 < 364"), "{text}");
        assert!(quota["fix"].as_str().unwrap().contains("L-B99A9384"), "{text}");
        let throughput = item(&items, region, "Parameter Store throughput");
        assert_eq!(throughput["grade"], "PASS", "{text}");
        assert!(throughput["detail"].as_str().unwrap().starts_with("raised now"), "{text}");
        assert_eq!(item(&items, region, "Region enabled")["grade"], "PASS", "{text}");
    }
    assert_eq!(item(&items, "global", "Operator principal exists")["grade"], "PASS", "{text}");
    assert!(text.contains("preflight FAIL: 2 item(s) fail"), "{text}");

    // A stack that reserves 200 fits a quota of 300 exactly (200 + 100); the throughput raised
    // before is read back without being asked again.
    let args: Vec<&str> = regions.iter().chain(&principal).copied().chain(["--reserve", "200"]).collect();
    let (ok, items, text) = preflight(&account.endpoint, &args).await;
    assert!(ok, "{text}");
    assert!(items.iter().all(|i| i["grade"] == "PASS"), "{text}");
    assert_eq!(
        item(&items, "eu-south-1", "Parameter Store throughput")["detail"],
        "high throughput (up to 10,000 transactions a second)",
        "{text}"
    );
}
