//! `resilience preflight`: what must hold in the account before `make deploy` creates anything,
//! read from AWS and graded by `decide::preflight` (each failure with its fix). Run by
//! `infra/deploy.py` before the first `sam deploy`; it changes nothing unless asked to raise
//! Parameter Store's throughput.

use aws_config::{BehaviorVersion, SdkConfig};
use resilience_core::decide::preflight;
use resilience_core::decide::readiness::{Area, Item, unreadable};
use resilience_core::model::{ReadError, classify};

/// Parameter Store's throughput setting ("Increasing Parameter Store throughput").
pub const HIGH_THROUGHPUT_SETTING: &str = "/ssm/parameter-store/high-throughput-enabled";

/// What the stack about to be deployed needs.
#[derive(Debug, Clone)]
pub struct Needs {
    pub regions: Vec<String>,
    /// Lambda concurrency the stack reserves in each region.
    pub reserve: i64,
    /// (role in the stack, ARN): the principals its policies name.
    pub principals: Vec<(String, String)>,
    /// Raise Parameter Store to high throughput where it is standard (billed per interaction).
    pub enable_high_throughput: bool,
}

async fn sdk(region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await
}

/// Every preflight item, for every region and principal.
pub async fn run(needs: &Needs) -> Vec<Item> {
    let mut items = Vec::new();
    // Account Management is a global service with one endpoint in us-east-1.
    let account = aws_sdk_account::Client::new(&sdk("us-east-1").await);
    for region in &needs.regions {
        items.push(match account.get_region_opt_status().region_name(region).send().await {
            Ok(out) => preflight::region_status(region, out.region_opt_status().map_or("unknown", |s| s.as_str())),
            Err(e) => failed(region, "Region enabled", &classify("account:GetRegionOptStatus", &e)),
        });
        let config = sdk(region).await;
        items.push(concurrency(&aws_sdk_lambda::Client::new(&config), region, needs.reserve).await);
        items.push(throughput(&aws_sdk_ssm::Client::new(&config), region, needs).await);
    }
    let iam = aws_sdk_iam::Client::new(&sdk("us-east-1").await);
    for (role, arn) in &needs.principals {
        items.push(principal(&iam, role, arn).await);
    }
    items
}

fn failed(region: &str, item: &str, e: &ReadError) -> Item {
    let area = if item.contains("principal") {
        Area::Permissions
    } else {
        Area::Configuration
    };
    unreadable(area, region, item, &e.call, e)
}

async fn concurrency(lambda: &aws_sdk_lambda::Client, region: &str, reserve: i64) -> Item {
    match resilience_core::act::capacity::account_concurrency(lambda).await {
        Ok((quota, _)) => preflight::concurrency(region, quota, reserve),
        Err(e) => failed(region, "Lambda concurrency quota", &e),
    }
}

async fn throughput(ssm: &aws_sdk_ssm::Client, region: &str, needs: &Needs) -> Item {
    let item = "Parameter Store throughput";
    let read = |ssm: aws_sdk_ssm::Client| async move {
        ssm.get_service_setting()
            .setting_id(HIGH_THROUGHPUT_SETTING)
            .send()
            .await
            .map(|o| o.service_setting().and_then(|s| s.setting_value()) == Some("true"))
            .map_err(|e| classify("ssm:GetServiceSetting", &e))
    };
    let high = match read(ssm.clone()).await {
        Ok(high) => high,
        Err(e) => return failed(region, item, &e),
    };
    if high || !needs.enable_high_throughput {
        return preflight::parameter_throughput(region, high, needs.reserve);
    }
    if let Err(e) = ssm
        .update_service_setting()
        .setting_id(HIGH_THROUGHPUT_SETTING)
        .setting_value("true")
        .send()
        .await
    {
        return failed(region, item, &classify("ssm:UpdateServiceSetting", &e));
    }
    match read(ssm.clone()).await {
        Ok(high) => {
            let mut graded = preflight::parameter_throughput(region, high, needs.reserve);
            if high {
                graded.detail = format!("raised now: {}", graded.detail);
            }
            graded
        }
        Err(e) => failed(region, item, &e),
    }
}

/// Whether the IAM role or user `arn` names exists (GetRole / GetUser by its name, the last
/// segment of the ARN's path). The account root always exists.
async fn principal(iam: &aws_sdk_iam::Client, role: &str, arn: &str) -> Item {
    let item = format!("{role} principal exists");
    let resource = arn.splitn(6, ':').nth(5).unwrap_or_default();
    let name = resource.rsplit('/').next().unwrap_or_default().to_owned();
    let exists = match resource.split('/').next() {
        Some("root") => Ok(true),
        Some("role") => match iam.get_role().role_name(&name).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(false),
            Err(e) => Err(classify("iam:GetRole", &e)),
        },
        Some("user") => match iam.get_user().user_name(&name).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_entity_exception()) => Ok(false),
            Err(e) => Err(classify("iam:GetUser", &e)),
        },
        _ => {
            return Item::new(
                Area::Permissions,
                "global",
                item,
                resilience_core::decide::readiness::Grade::Fail,
                format!("{arn} is not an IAM role, user or account root ARN"),
                format!("set {role}PrincipalArn to a role ARN (arn:aws:iam::<account>:role/<name>)"),
            );
        }
    };
    match exists {
        Ok(exists) => preflight::principal(role, arn, exists),
        Err(e) => failed("global", &item, &e),
    }
}
