//! Readiness of the permissions: the one list of what each function needs under this
//! configuration (the readiness check simulates it against the deployed roles, the
//! deployed-stack test holds the template's grants to it), and the grade of a simulation. A
//! refusal found here is one a failover would otherwise meet mid-reaction.

use super::{Area, Grade, Item};
use crate::config::{CapacityTarget, Strategy, SuiteConfig};
use crate::model::{Function, Region};

/// The functions whose permissions the check simulates: every function but readiness-check
/// itself, whose grants are read-only and held against the template by the deployed-stack test
/// (a check that cannot run reports nothing, so it cannot vouch for itself).
pub fn checked_functions() -> impl Iterator<Item = Function> {
    Function::ALL.into_iter().filter(|f| *f != Function::ReadinessCheck)
}

/// The deployed name of `function` (the template names each `<platform>-<name>`).
pub fn function_name(config: &SuiteConfig, function: Function) -> String {
    format!("{}-{function}", config.platform)
}

/// One permission a function needs: an action on a resource, with the condition values the
/// request carries (`cloudwatch:namespace`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub action: &'static str,
    pub resource: String,
    pub context: Vec<(&'static str, String)>,
}

/// The account and partition of the deployment, read from the configured topic ARNs.
pub fn partition_and_account(config: &SuiteConfig) -> Option<(String, String)> {
    config.notifications.topics.values().find_map(|arn| {
        let parts: Vec<&str> = arn.split(':').collect();
        (parts.len() >= 6).then(|| (parts[1].to_owned(), parts[4].to_owned()))
    })
}

/// What `function`, deployed in `region`, needs to do its job under this configuration: the
/// one list of permissions (simulated by the readiness check, held against the template's
/// grants by the deployed-stack test). Reads of what it acts on are included where a decision
/// depends on them.
pub fn needs(config: &SuiteConfig, function: Function, region: &Region) -> Vec<Need> {
    let Some((partition, account)) = partition_and_account(config) else {
        return Vec::new();
    };
    let at = Deployment {
        config,
        partition,
        account,
        region,
    };
    let mut out = Vec::new();
    if let Some(topic) = config.topic_for(region).filter(|_| function != Function::AccessAuthorizer) {
        out.push(need("sns:Publish", topic.to_owned()));
    }
    out.extend(match function {
        Function::DnsFailover => dns_failover_needs(&at),
        Function::CapacityScaler => capacity_scaler_needs(&at),
        Function::BackupVerifier => backup_verifier_needs(&at),
        Function::UserThrottle => user_throttle_needs(&at),
        Function::AccessAuthorizer => access_authorizer_needs(&at),
        Function::ReadinessCheck => Vec::new(),
    });
    out.sort();
    out.dedup();
    out
}

/// Where one function is deployed, so the needs name the ARNs its grants name: the
/// configuration, the partition and account (from the topic ARNs), the function's region.
struct Deployment<'a> {
    config: &'a SuiteConfig,
    partition: String,
    account: String,
    region: &'a Region,
}

impl Deployment<'_> {
    /// The ARN of table `name` in region `r`.
    fn table(&self, r: &Region, name: &str) -> String {
        format!("arn:{}:dynamodb:{r}:{}:table/{name}", self.partition, self.account)
    }

    /// The ARN of the protected hosted zone.
    fn zone(&self) -> String {
        format!("arn:{}:route53:::hostedzone/{}", self.partition, self.config.dns.hosted_zone_id)
    }

    /// The exactly-once claims of a reacting function, on the state table of its region.
    fn claims(&self) -> Vec<Need> {
        let state = self.table(self.region, &self.config.state_table);
        ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
            .into_iter()
            .map(|a| need(a, state.clone()))
            .collect()
    }
}

/// `action` on `resource`, under no condition.
fn need(action: &'static str, resource: String) -> Need {
    Need {
        action,
        resource,
        context: Vec::new(),
    }
}

/// Publishing a metric, which the template grants per namespace (`cloudwatch:namespace`).
fn put_metric(namespace: &str) -> Need {
    Need {
        action: "cloudwatch:PutMetricData",
        resource: "*".into(),
        context: vec![("cloudwatch:namespace", namespace.to_owned())],
    }
}

/// dns-failover: its claims, the alarms and records its decision reads, the practice drill,
/// and whatever the configured strategies switch.
fn dns_failover_needs(at: &Deployment<'_>) -> Vec<Need> {
    let mut out = at.claims();
    out.push(need("cloudwatch:DescribeAlarms", "*".into()));
    out.push(need("route53:ListResourceRecordSets", at.zone()));
    out.extend(failover_drill_needs(at.config));
    out.extend(drain_strategy_needs(at));
    out
}

/// The practice failover drill: its trigger metric, Route 53's answer, its drain.
fn failover_drill_needs(config: &SuiteConfig) -> Vec<Need> {
    let Some(d) = &config.practice_drill else {
        return Vec::new();
    };
    let mut out = vec![put_metric(&d.trigger_metric.namespace), need("route53:TestDNSAnswer", "*".into())];
    if let Some(m) = d.health_metric.as_ref().filter(|_| !d.use_production_record) {
        out.push(put_metric(&m.namespace));
    }
    out
}

/// What each configured drain strategy switches: the record (control plane), the health
/// metric its alarm watches, the routing controls.
fn drain_strategy_needs(at: &Deployment<'_>) -> Vec<Need> {
    let config = at.config;
    let strategies = &config.dns.strategies;
    let mut out = Vec::new();
    if strategies.contains(&Strategy::ControlPlane) {
        out.push(need("route53:ChangeResourceRecordSets", at.zone()));
        out.push(need("route53:GetChange", format!("arn:{}:route53:::change/*", at.partition)));
    }
    if let Some(m) = config
        .dns
        .health_metric
        .as_ref()
        .filter(|_| strategies.contains(&Strategy::HealthMetric))
    {
        out.push(put_metric(&m.namespace));
        out.push(need("cloudwatch:GetMetricData", "*".into()));
    }
    if let Some(rc) = config
        .dns
        .routing_control
        .as_ref()
        .filter(|_| strategies.contains(&Strategy::RoutingControl))
    {
        for arn in rc.controls.values() {
            out.push(need("route53-recovery-cluster:UpdateRoutingControlState", arn.clone()));
        }
    }
    out
}

/// capacity-scaler: its claims, the saturation alarms, and every resource it raises (in that
/// resource's region, wherever the scaler runs).
fn capacity_scaler_needs(at: &Deployment<'_>) -> Vec<Need> {
    let (partition, account) = (&at.partition, &at.account);
    let mut out = at.claims();
    out.push(need("cloudwatch:DescribeAlarms", "*".into()));
    for r in &at.config.capacity.resources {
        match &r.target {
            CapacityTarget::ScalableTarget { .. } => {
                out.push(need("application-autoscaling:DescribeScalableTargets", "*".into()));
                out.push(need(
                    "application-autoscaling:RegisterScalableTarget",
                    format!("arn:{partition}:application-autoscaling:{}:{account}:scalable-target/*", r.region),
                ));
            }
            CapacityTarget::ReservedConcurrency { function_name } => {
                let f = format!("arn:{partition}:lambda:{}:{account}:function:{function_name}", r.region);
                out.push(need("lambda:GetFunctionConcurrency", f.clone()));
                out.push(need("lambda:PutFunctionConcurrency", f));
            }
        }
    }
    out
}

/// backup-verifier: its claims, the backups of every protected table in every region, and the
/// restore drill (its restore and its canaries).
fn backup_verifier_needs(at: &Deployment<'_>) -> Vec<Need> {
    let config = at.config;
    let mut out = at.claims();
    for t in &config.protected_tables {
        for r in config.regions.keys() {
            out.push(need("dynamodb:DescribeContinuousBackups", at.table(r, t)));
        }
    }
    if let Some(d) = &config.backup.drill {
        out.push(need("dynamodb:RestoreTableToPointInTime", at.table(&d.region, &d.table)));
        // The drill's canaries, under the key prefix the template's condition allows.
        for action in ["dynamodb:PutItem", "dynamodb:DeleteItem"] {
            out.push(Need {
                action,
                resource: at.table(&d.region, &d.table),
                context: vec![(
                    "dynamodb:LeadingKeys",
                    format!("{}readiness", crate::decide::restore_drill::CANARY_PREFIX),
                )],
            });
        }
    }
    out
}

/// user-throttle: its claims, the alarms it follows, and the throttle table it writes.
fn user_throttle_needs(at: &Deployment<'_>) -> Vec<Need> {
    let mut out = at.claims();
    out.push(need("cloudwatch:DescribeAlarms", "*".into()));
    if let Some(t) = &at.config.throttle {
        out.push(need("dynamodb:PutItem", at.table(at.region, &t.table)));
        out.push(need("dynamodb:GetItem", at.table(at.region, &t.table)));
    }
    out
}

/// access-authorizer: only the throttle table it reads (it claims nothing and publishes nothing).
fn access_authorizer_needs(at: &Deployment<'_>) -> Vec<Need> {
    at.config
        .throttle
        .iter()
        .map(|t| need("dynamodb:GetItem", at.table(at.region, &t.table)))
        .collect()
}

/// What a simulation answered for one need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    pub action: String,
    pub resource: String,
    /// `allowed`, `explicitDeny` or `implicitDeny` (SimulatePrincipalPolicy's EvalDecision).
    pub decision: String,
}

pub fn grade_permissions(function: Function, region: &Region, role: &str, results: &[Simulated]) -> Item {
    let denied: Vec<String> = results
        .iter()
        .filter(|r| r.decision != "allowed")
        .map(|r| format!("{} on {} ({})", r.action, r.resource, r.decision))
        .collect();
    let name = format!("{function} may do its job");
    if denied.is_empty() {
        Item::pass(
            Area::Permissions,
            region.as_str(),
            name,
            format!("{} action(s) allowed to {role}", results.len()),
        )
    } else {
        Item::new(
            Area::Permissions,
            region.as_str(),
            name,
            Grade::Fail,
            format!("{role} is refused: {}", denied.join("; ")),
            format!("grant these to {function}'s role in infra/template.yaml (or lift the deny or permissions boundary)"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{config, south};
    use super::*;

    #[test]
    fn each_function_needs_what_its_configuration_uses() {
        let c = config();
        let dns = needs(&c, Function::DnsFailover, &south());
        assert!(
            dns.iter().any(
                |n| n.action == "cloudwatch:PutMetricData" && n.context == vec![("cloudwatch:namespace", "aworld/Failover".to_owned())]
            )
        );
        assert!(
            dns.iter()
                .any(|n| n.action == "route53:ChangeResourceRecordSets" && n.resource == "arn:aws:route53:::hostedzone/Z0AWORLDEXAMPLE")
        );
        let backup = needs(&c, Function::BackupVerifier, &south());
        assert_eq!(
            backup.iter().filter(|n| n.action == "dynamodb:DescribeContinuousBackups").count(),
            4,
            "two tables in two regions"
        );
        for f in checked_functions() {
            assert!(!needs(&c, f, &south()).is_empty(), "{f}");
        }
        let denied = grade_permissions(
            Function::DnsFailover,
            &south(),
            "role",
            &[Simulated {
                action: "route53:ChangeResourceRecordSets".into(),
                resource: "z".into(),
                decision: "implicitDeny".into(),
            }],
        );
        assert_eq!(denied.grade, Grade::Fail);
        assert!(denied.detail.contains("route53:ChangeResourceRecordSets"));
    }
}
