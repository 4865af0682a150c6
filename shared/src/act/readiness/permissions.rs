//! Reading the permissions of a region's functions: IAM's policy simulator asked, for each
//! function's deployed role, about everything `decide::readiness::needs` lists. A grant the
//! template lost, or a deny or boundary added later, is found before a reaction is refused.

use super::ReadinessProbe;
use super::read::{code_of, failure};
use crate::config::SuiteConfig;
use crate::decide::readiness::{self as grade, Area, Grade, Item, Simulated};
use crate::model::ReadError;
use crate::model::{Function, Region};
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum};
use std::collections::BTreeMap;

/// What one simulation is about: a resource and the condition values of the request.
type Target = (String, Vec<(&'static str, String)>);

impl ReadinessProbe {
    /// Whether each checked function's deployed role in `region` may do what it needs, one
    /// item per function.
    pub(super) async fn permissions(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let lambda = client!(self, aws_sdk_lambda, region);
        // IAM is global; its endpoint is in us-east-1 for the aws partition.
        let iam = client!(self, aws_sdk_iam, region);
        let mut items = Vec::new();
        // A simulator that did not answer (not a refusal) is not asked again for the other
        // functions: one report of it, not five times the SDK's retries.
        let mut simulator_down: Option<ReadError> = None;
        for function in grade::checked_functions() {
            let role = match role_of(&lambda, config, region, function).await {
                Ok(role) => role,
                Err(graded) => {
                    items.push(graded);
                    continue;
                }
            };
            let simulated = match simulator_down.clone() {
                Some(f) => Err(f),
                None => simulate_needs(&iam, &role, config, function, region).await,
            };
            if let Err(f) = &simulated
                && f.kind != crate::model::ReadErrorKind::Denied
            {
                simulator_down = Some(f.clone());
            }
            items.push(match simulated {
                Err(f) => grade::unreadable(
                    Area::Permissions,
                    region.as_str(),
                    format!("{function} may do its job"),
                    "iam:SimulatePrincipalPolicy",
                    &f,
                ),
                Ok(results) => grade::grade_permissions(function, region, &role, &results),
            });
        }
        items
    }
}

/// The role `function` runs as in `region`; or the item saying why it cannot be checked (not
/// deployed there, or its configuration unread).
async fn role_of(lambda: &aws_sdk_lambda::Client, config: &SuiteConfig, region: &Region, function: Function) -> Result<String, Item> {
    let name = grade::function_name(config, function);
    let item = format!("{function} may do its job");
    match lambda.get_function_configuration().function_name(&name).send().await {
        Ok(out) => Ok(out.role().unwrap_or_default().to_owned()),
        Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Err(Item::new(
            Area::Permissions,
            region.as_str(),
            item,
            Grade::Fail,
            format!("function {name} is not deployed in {region}"),
            "deploy the stack in this region (make deploy)",
        )),
        Err(e) => Err(grade::unreadable(
            Area::Permissions,
            region.as_str(),
            item,
            "lambda:GetFunctionConfiguration",
            &failure(e),
        )),
    }
}

/// What the simulator answers `role` for everything `function` needs in `region`: one
/// simulation per resource (and condition), with the actions on it. The first simulation
/// that does not answer ends it: what the others said would be an incomplete grade.
async fn simulate_needs(
    iam: &aws_sdk_iam::Client,
    role: &str,
    config: &SuiteConfig,
    function: Function,
    region: &Region,
) -> Result<Vec<Simulated>, ReadError> {
    let mut groups: BTreeMap<Target, Vec<&str>> = BTreeMap::new();
    for n in grade::needs(config, function, region) {
        groups.entry((n.resource, n.context)).or_default().push(n.action);
    }
    let mut results = Vec::new();
    for ((resource, context), actions) in groups {
        results.extend(simulate(iam, role, &resource, &context, &actions).await?);
    }
    Ok(results)
}

/// One simulation: `actions` by `role` on `resource` (`*`: any) with the condition values
/// `context`. SimulatePrincipalPolicy pages its results (Marker / IsTruncated) and may return
/// fewer than MaxItems before the end: every page is read.
async fn simulate(
    iam: &aws_sdk_iam::Client,
    role: &str,
    resource: &str,
    context: &[(&'static str, String)],
    actions: &[&str],
) -> Result<Vec<Simulated>, ReadError> {
    let mut req = iam
        .simulate_principal_policy()
        .policy_source_arn(role)
        .set_action_names(Some(actions.iter().map(|a| (*a).to_owned()).collect()));
    if resource != "*" {
        req = req.resource_arns(resource);
    }
    for (key, value) in context {
        req = req.context_entries(context_entry(key, value));
    }
    let mut results = Vec::new();
    let mut pages = req.into_paginator().send();
    while let Some(page) = pages.next().await {
        let out = page.map_err(failure)?;
        results.extend(out.evaluation_results().iter().map(|r| Simulated {
            action: r.eval_action_name().to_owned(),
            resource: resource.to_owned(),
            decision: r.eval_decision().as_str().to_owned(),
        }));
    }
    Ok(results)
}

/// The condition value `key` = `value` as the simulator takes it: dynamodb:LeadingKeys is
/// multivalued (the template tests it with ForAllValues), so it is a list; the rest are strings.
fn context_entry(key: &str, value: &str) -> ContextEntry {
    let kind = if key.ends_with("LeadingKeys") {
        ContextKeyTypeEnum::StringList
    } else {
        ContextKeyTypeEnum::String
    };
    ContextEntry::builder()
        .context_key_name(key)
        .context_key_type(kind)
        .context_key_values(value)
        .build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::test_support::{config, grades, probe, region};
    use super::*;
    use aws_smithy_mocks::mock;

    #[tokio::test]
    async fn a_permission_the_role_is_refused_fails_naming_the_action_and_the_role() {
        use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput;
        use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType};
        use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
        let rules = [
            mock!(aws_sdk_lambda::Client::get_function_configuration)
                .sequence()
                .output(|| {
                    GetFunctionConfigurationOutput::builder()
                        .role("arn:aws:iam::123456789012:role/aworld-resilience-FunctionRole-X")
                        .build()
                })
                .repeatedly()
                .build(),
            // Every simulation allows what it is asked, except ChangeResourceRecordSets.
            mock!(aws_sdk_iam::Client::simulate_principal_policy)
                .sequence()
                .output(|| SimulatePrincipalPolicyOutput::builder().build())
                .repeatedly()
                .build(),
        ];
        // The interceptor answers per rule, not per input: the refused action gets a rule of its
        // own that matches only the hosted zone's simulation.
        let refused = mock!(aws_sdk_iam::Client::simulate_principal_policy)
            .match_requests(|r| r.action_names().iter().any(|a| a == "route53:ChangeResourceRecordSets"))
            .sequence()
            .output(|| {
                SimulatePrincipalPolicyOutput::builder()
                    .evaluation_results(
                        EvaluationResult::builder()
                            .eval_action_name("route53:ChangeResourceRecordSets")
                            .eval_decision(PolicyEvaluationDecisionType::ImplicitDeny)
                            .build()
                            .unwrap(),
                    )
                    .evaluation_results(
                        EvaluationResult::builder()
                            .eval_action_name("route53:ListResourceRecordSets")
                            .eval_decision(PolicyEvaluationDecisionType::Allowed)
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .repeatedly()
            .build();
        let items = probe(&[refused, rules[0].clone(), rules[1].clone()])
            .permissions(&config(), &region("eu-south-1"))
            .await;
        let failing: Vec<&Item> = items.iter().filter(|i| i.grade == Grade::Fail).collect();
        assert_eq!(failing.len(), 1, "{:#?}", grades(&items));
        assert_eq!(failing[0].item, "dns-failover may do its job");
        assert!(
            failing[0].detail.contains("route53:ChangeResourceRecordSets") && failing[0].detail.contains("implicitDeny"),
            "{:?}",
            failing[0]
        );
        assert!(
            failing[0].detail.contains("role/aworld-resilience-FunctionRole-X"),
            "{:?}",
            failing[0]
        );
        assert_eq!(items.len(), 5, "one item per function");
    }
}
