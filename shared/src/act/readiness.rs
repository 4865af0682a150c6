//! Readiness, the readings: the live account, in every configured region, read once per check
//! and handed to the graders of `decide::readiness`. Only reads (Describe / Get / List /
//! Simulate / TestDNSAnswer); every call is counted (an SDK interceptor), so the report says
//! what one check costs. A reading that fails becomes an item graded as such, never a pass.

use crate::aws::clients::AwsClients;
use crate::config::{CapacityTarget, Strategy, SuiteConfig};
use crate::decide::readiness::{
    self as grade, AlarmFacts, Area, Grade, HealthCheckFacts, Item, Quotas, ReadFailure, ReadinessReport, RecordFacts, Simulated,
    SubscriptionFacts,
};
use crate::model::Region;
use aws_sdk_route53::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts operations (not retries) on every client the probe makes.
#[derive(Debug, Clone, Default)]
struct CallCounter(Arc<AtomicU64>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "ReadinessCallCounter"
    }

    fn read_before_execution(&self, _: &BeforeSerializationInterceptorContextRef<'_>, _: &mut ConfigBag) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// A failed read, classified by its error code, with a message short enough for a report: the
/// code and message when AWS gave them, else the HTTP status or the transport's own error.
fn failure<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    e: SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> ReadFailure {
    let code = e.code().map(str::to_owned);
    let message = match (&code, &e) {
        (Some(c), _) => format!("{c}: {}", e.message().unwrap_or_default()),
        (None, SdkError::ServiceError(se)) => format!("HTTP {} without an AWS error", se.raw().status().as_u16()),
        (None, _) => {
            let full = DisplayErrorContext(&e).to_string();
            full.chars().take(200).collect()
        }
    };
    // A 403 is a refusal whatever its body says (the query protocols' error bodies differ).
    let forbidden = matches!(&e, SdkError::ServiceError(se) if se.raw().status().as_u16() == 403);
    match code.as_deref() {
        None if forbidden => ReadFailure::Denied(message),
        code => ReadFailure::from_code(code, message),
    }
}

fn code_of<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    e.code()
}

/// What one simulation is about: a resource and the condition values of the request.
type Target = (String, Vec<(&'static str, String)>);

/// Reads the account for a readiness check.
#[derive(Debug, Clone)]
pub struct ReadinessProbe {
    clients: AwsClients,
    calls: CallCounter,
    /// Tests: aws-smithy-mocks' interceptor on every client (what the emulator cannot answer).
    mock: Option<aws_smithy_runtime_api::client::interceptors::SharedInterceptor>,
}

macro_rules! client {
    ($self:ident, $krate:ident, $region:expr) => {{
        let mut b = $krate::config::Builder::from(&$self.clients.config_for($region)).interceptor($self.calls.clone());
        if let Some(m) = &$self.mock {
            b.push_interceptor(m.clone());
        }
        $krate::Client::from_conf(b.build())
    }};
}

/// The inputs of one check that are not in the configuration.
#[derive(Debug, Clone, Default)]
pub struct CheckInputs {
    /// The SSM parameter the functions read their configuration from (`None`: not deployed
    /// from a parameter, e.g. the CLI with a local file and no `--parameter`).
    pub config_parameter: Option<String>,
    /// The regions the suite recorded as drained (`None`: the state could not be read).
    pub recorded_drained: Option<BTreeSet<Region>>,
}

impl ReadinessProbe {
    pub fn new(clients: AwsClients) -> Self {
        ReadinessProbe {
            clients,
            calls: CallCounter::default(),
            mock: None,
        }
    }

    /// One full check from `home`: every area, every configured region.
    pub async fn run(&self, config: &SuiteConfig, home: &Region, inputs: &CheckInputs) -> ReadinessReport {
        let started = std::time::Instant::now();
        let before = self.calls.0.load(Ordering::Relaxed);
        let per_region = config.regions.keys().map(|r| async move {
            let (a, b, c, d, e, f) = futures_util::join!(
                self.signals(config, r),
                self.capacity(config, r),
                self.data(config, r),
                self.notifications(config, r),
                self.permissions(config, r),
                self.configuration(config, r, inputs.config_parameter.as_deref()),
            );
            [a, b, c, d, e, f].concat()
        });
        let (regional, dns) = futures_util::join!(futures_util::future::join_all(per_region), self.dns(config, inputs));
        let mut items: Vec<Item> = regional.into_iter().flatten().chain(dns).collect();
        items.sort_by(|a, b| (a.area, &a.region, &a.item).cmp(&(b.area, &b.region, &b.item)));
        ReadinessReport {
            at: chrono::Utc::now(),
            checked_from: home.to_string(),
            items,
            api_calls: self.calls.0.load(Ordering::Relaxed) - before,
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    // ---- signals ----------------------------------------------------------------------------

    async fn signals(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let mut items = self.alarms(config, region).await;
        items.extend(self.rules(config, region).await);
        items
    }

    /// The alarms the configuration names in `region`: health, composite, the drain alarms of
    /// the other regions (which live here and which Route 53 follows), saturation.
    async fn alarms(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let mut wanted: BTreeMap<String, bool> = BTreeMap::new(); // name -> Route 53 follows it
        if let Some(rc) = config.regions.get(region) {
            for a in rc.health_alarms.iter().chain(rc.composite_alarm.iter()) {
                wanted.insert(a.clone(), false);
            }
        }
        if let Some(m) = config
            .dns
            .health_metric
            .as_ref()
            .filter(|_| config.dns.strategies.contains(&Strategy::HealthMetric))
        {
            for peer in config.peers_of(region) {
                wanted.insert(m.alarm_of(peer), true);
            }
        }
        for r in config.capacity.resources.iter().filter(|r| &r.region == region) {
            for a in &r.saturation_alarms {
                wanted.entry(a.clone()).or_insert(false);
            }
        }
        let cw = client!(self, aws_sdk_cloudwatch, region);
        let names: Vec<String> = wanted.keys().cloned().collect();
        let mut found: BTreeMap<String, AlarmFacts> = BTreeMap::new();
        // DescribeAlarms: at most 100 names per call; composite alarms only when asked for.
        for chunk in names.chunks(100) {
            let out = cw
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
                .alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm)
                .send()
                .await;
            match out {
                Ok(out) => {
                    for a in out.metric_alarms() {
                        let name = a.alarm_name().unwrap_or_default().to_owned();
                        found.insert(
                            name.clone(),
                            AlarmFacts {
                                name,
                                composite: false,
                                period: a.period(),
                                statistic: a.statistic().map(|s| s.as_str().to_owned()),
                                extended_statistic: a.extended_statistic().map(str::to_owned),
                                metric_math: !a.metrics().is_empty(),
                            },
                        );
                    }
                    for a in out.composite_alarms() {
                        let name = a.alarm_name().unwrap_or_default().to_owned();
                        found.insert(
                            name.clone(),
                            AlarmFacts {
                                name,
                                composite: true,
                                ..AlarmFacts::default()
                            },
                        );
                    }
                }
                Err(e) => {
                    let f = failure(e);
                    return chunk
                        .iter()
                        .map(|n| {
                            grade::unreadable(
                                Area::Signals,
                                region.as_str(),
                                format!("alarm {n}"),
                                "cloudwatch:DescribeAlarms",
                                &f,
                            )
                        })
                        .collect();
                }
            }
        }
        wanted
            .iter()
            .map(|(name, followed)| {
                let item = format!("alarm {name}");
                match found.get(name) {
                    None => Item::new(
                        Area::Signals,
                        region.as_str(),
                        item,
                        Grade::Fail,
                        format!("alarm {name} does not exist in {region}: nothing it watches can start a reaction"),
                        "create it (infra/template.yaml) or correct the name in the configuration",
                    ),
                    Some(a) if *followed => match grade::route53_alarm_problem(a) {
                        Some(problem) => Item::new(
                            Area::Signals,
                            region.as_str(),
                            item,
                            Grade::Fail,
                            format!("Route 53 follows {name}, which {problem}: its health check cannot use it"),
                            "a standard-resolution metric alarm on Average, Minimum, Maximum, Sum or SampleCount (\"Monitoring a CloudWatch alarm\")",
                        ),
                        None => Item::pass(Area::Signals, region.as_str(), item, "exists; a metric alarm Route 53 can follow"),
                    },
                    Some(_) => Item::pass(Area::Signals, region.as_str(), item, "exists"),
                }
            })
            .collect()
    }

    /// The EventBridge rules that route alarms, AWS Health events and commands to the
    /// functions, and the forwarding of this region's signals to its peers.
    async fn rules(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let Some((partition, account)) = grade::partition_and_account(config) else {
            return vec![];
        };
        let eb = client!(self, aws_sdk_eventbridge, region);
        let mut items = Vec::new();
        // Each (target, bus) once: the enabled rules' patterns.
        let mut cache: BTreeMap<(String, String), Result<Vec<String>, ReadFailure>> = BTreeMap::new();
        for route in grade::routes(config, region) {
            let arn = format!(
                "arn:{partition}:lambda:{region}:{account}:function:{}",
                grade::function_name(config, route.function)
            );
            let key = (arn.clone(), route.bus.clone());
            if !cache.contains_key(&key) {
                let patterns = enabled_patterns(&eb, &arn, &route.bus).await;
                cache.insert(key.clone(), patterns);
            }
            let item = format!("{} events on bus {} reach {}", route.source, route.bus, route.function);
            items.push(match &cache[&key] {
                Err(f) => grade::unreadable(
                    Area::Signals,
                    region.as_str(),
                    item,
                    "events:ListRuleNamesByTarget / events:DescribeRule",
                    f,
                ),
                Ok(patterns) => {
                    let routed = patterns.iter().any(|p| grade::pattern_routes(p, &route.source, None));
                    let missed: Vec<&String> = route
                        .alarms
                        .iter()
                        .filter(|a| !patterns.iter().any(|p| grade::pattern_routes(p, &route.source, Some(a))))
                        .collect();
                    if !routed {
                        Item::new(
                            Area::Signals,
                            region.as_str(),
                            item,
                            Grade::Fail,
                            format!(
                                "no enabled rule on bus {} sends {} events to {}",
                                route.bus,
                                route.source,
                                grade::function_name(config, route.function)
                            ),
                            "redeploy the stack (the function's EventBridgeRule events) or enable the rule",
                        )
                    } else if !missed.is_empty() {
                        Item::new(
                            Area::Signals,
                            region.as_str(),
                            item,
                            Grade::Fail,
                            format!("the rules' alarm-name filters let no state change of {missed:?} through"),
                            format!(
                                "name the alarms with the rule's prefix ({}-health- / saturation) or widen the rule",
                                config.platform
                            ),
                        )
                    } else {
                        Item::pass(Area::Signals, region.as_str(), item, format!("{} enabled rule(s)", patterns.len()))
                    }
                }
            });
        }
        for peer in config.peers_of(region) {
            let bus = format!("arn:{partition}:events:{peer}:{account}:event-bus/default");
            let item = format!("alarms and AWS Health forwarded to {peer}");
            let own: Vec<&String> = config.regions[region].health_alarms.iter().collect();
            items.push(match enabled_patterns(&eb, &bus, "default").await {
                Err(f) => grade::unreadable(
                    Area::Signals,
                    region.as_str(),
                    item,
                    "events:ListRuleNamesByTarget / events:DescribeRule",
                    &f,
                ),
                Ok(patterns) => {
                    let alarms_ok = own
                        .iter()
                        .all(|a| patterns.iter().any(|p| grade::pattern_routes(p, "aws.cloudwatch", Some(a))));
                    let health_ok = patterns.iter().any(|p| grade::pattern_routes(p, "aws.health", None));
                    if alarms_ok && health_ok {
                        Item::pass(
                            Area::Signals,
                            region.as_str(),
                            item,
                            format!("{} enabled rule(s) to {peer}'s default bus", patterns.len()),
                        )
                    } else {
                        Item::new(
                            Area::Signals,
                            region.as_str(),
                            item,
                            Grade::Fail,
                            format!(
                                "{} of {region} do not reach {peer}, which acts on {region}'s failures",
                                match (alarms_ok, health_ok) {
                                    (false, false) => "health alarms and AWS Health events",
                                    (false, true) => "health alarms",
                                    _ => "AWS Health events",
                                }
                            ),
                            "redeploy the stack (ForwardHealthToPeer, ForwardAwsHealthToPeer) or enable the rules",
                        )
                    }
                }
            });
        }
        items
    }

    // ---- DNS (global) -----------------------------------------------------------------------

    async fn dns(&self, config: &SuiteConfig, inputs: &CheckInputs) -> Vec<Item> {
        let us_east_1: Region = crate::aws::clients::ROUTE53_CONTROL_PLANE_REGION
            .parse()
            .unwrap_or_else(|_| unreachable!("a region code"));
        let r53 = client!(self, aws_sdk_route53, &us_east_1);
        let zone = &config.dns.hosted_zone_id;
        let mut items = Vec::new();
        // The record set of the protected name (weighted records: one per set identifier).
        let listed = r53
            .list_resource_record_sets()
            .hosted_zone_id(zone)
            .start_record_name(&config.dns.record_name)
            .max_items(100)
            .send()
            .await;
        let records: BTreeMap<Region, RecordFacts> = match listed {
            Err(e) => {
                let f = failure(e);
                return vec![grade::unreadable(
                    Area::Dns,
                    "global",
                    format!("records of {}", config.dns.record_name),
                    "route53:ListResourceRecordSets",
                    &f,
                )];
            }
            Ok(out) => record_facts(config, out.resource_record_sets()),
        };
        for region in config.dns.records.keys() {
            let found = records.get(region);
            let record_item = grade::grade_record(config, region, found);
            items.push(record_item);
            let Some(id) = found.and_then(|r| r.health_check_id.clone()) else {
                continue;
            };
            items.push(match r53.get_health_check().health_check_id(&id).send().await {
                // GetHealthCheck always gives a CLOUDWATCH_METRIC check its AlarmIdentifier (required
                // by CreateHealthCheck for that type): one without it is an answer that cannot be graded.
                Ok(out)
                    if out
                        .health_check()
                        .and_then(|h| h.health_check_config())
                        .is_some_and(|c| c.r#type().as_str() == "CLOUDWATCH_METRIC" && c.alarm_identifier().is_none()) =>
                {
                    grade::unreadable(
                        Area::Dns,
                        "global",
                        format!("health check {id} ({region})"),
                        "route53:GetHealthCheck",
                        &ReadFailure::Other("a CLOUDWATCH_METRIC health check was described without its AlarmIdentifier".into()),
                    )
                }
                Ok(out) => {
                    let facts = out.health_check().and_then(|h| h.health_check_config()).map(|c| HealthCheckFacts {
                        kind: c.r#type().as_str().to_owned(),
                        inverted: c.inverted().unwrap_or(false),
                        alarm_name: c.alarm_identifier().map(|a| a.name().to_owned()),
                        alarm_region: c.alarm_identifier().map(|a| a.region().as_str().to_owned()),
                        routing_control_arn: c.routing_control_arn().map(str::to_owned),
                    });
                    grade::grade_health_check(config, region, &id, facts.as_ref())
                }
                Err(e) if code_of(&e) == Some("NoSuchHealthCheck") => grade::grade_health_check(config, region, &id, None),
                Err(e) => grade::unreadable(
                    Area::Dns,
                    "global",
                    format!("health check {id} ({region})"),
                    "route53:GetHealthCheck",
                    &failure(e),
                ),
            });
        }
        if let Some(rc) = config
            .dns
            .routing_control
            .as_ref()
            .filter(|_| config.dns.strategies.contains(&Strategy::RoutingControl))
        {
            let switches = crate::act::traffic::TrafficSwitches::new(config, &self.clients);
            for (region, arn) in &rc.controls {
                let item = format!("routing control of {region}");
                items.push(match switches.holds(Strategy::RoutingControl, region).await {
                    Ok(drained) => Item::pass(
                        Area::Dns,
                        "global",
                        item,
                        format!("{arn} answers through the cluster ({})", if drained { "Off" } else { "On" }),
                    ),
                    Err(e) => Item::new(
                        Area::Dns,
                        "global",
                        item,
                        Grade::Fail,
                        format!("{arn} does not answer through any cluster endpoint: {e}"),
                        "check dns.routing_control (control ARN, cluster endpoints) against the ARC cluster",
                    ),
                });
            }
        }
        // What a resolver gets now, from Route 53 itself.
        let answer_item = "answer agrees with the recorded state";
        match r53
            .test_dns_answer()
            .hosted_zone_id(zone)
            .record_name(&config.dns.record_name)
            .record_type(aws_sdk_route53::types::RrType::A)
            .send()
            .await
        {
            Ok(out) => match &inputs.recorded_drained {
                Some(drained) => items.push(grade::grade_answer(out.record_data(), &records, drained)),
                None => items.push(Item::new(
                    Area::Dns,
                    "global",
                    answer_item,
                    Grade::Warn,
                    format!(
                        "Route 53 answers {:?}; the recorded state could not be read to compare",
                        out.record_data()
                    ),
                    "check the state table (`resilience status`)",
                )),
            },
            Err(e) => items.push(grade::unreadable(
                Area::Dns,
                "global",
                answer_item,
                "route53:TestDNSAnswer",
                &failure(e),
            )),
        }
        // Accelerated recovery keeps record changes possible while us-east-1 is impaired
        // ("Enabling accelerated recovery for managing public DNS records": HostedZone.Features).
        let item = format!("accelerated recovery of zone {zone}");
        items.push(match r53.get_hosted_zone().id(zone).send().await {
            Ok(out) => {
                let status = out
                    .hosted_zone()
                    .and_then(|z| z.features())
                    .and_then(|f| f.accelerated_recovery_status())
                    .map(|s| s.as_str().to_owned());
                match status.as_deref() {
                    Some("ENABLED") => Item::pass(Area::Dns, "global", item, "enabled"),
                    other => Item::new(
                        Area::Dns,
                        "global",
                        item,
                        Grade::Warn,
                        format!(
                            "accelerated recovery is {}: a control-plane drain depends on us-east-1",
                            other.unwrap_or("not enabled")
                        ),
                        "UpdateHostedZoneFeatures with EnableAcceleratedRecovery (public zones)",
                    ),
                }
            }
            Err(e) => grade::unreadable(Area::Dns, "global", item, "route53:GetHostedZone", &failure(e)),
        });
        items
    }

    // ---- capacity ---------------------------------------------------------------------------

    async fn capacity(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let resources: Vec<_> = config.capacity.resources.iter().filter(|r| &r.region == region).collect();
        if resources.is_empty() {
            return vec![];
        }
        let aas = client!(self, aws_sdk_applicationautoscaling, region);
        let lambda = client!(self, aws_sdk_lambda, region);
        let mut items = Vec::new();
        let mut current: BTreeMap<String, i64> = BTreeMap::new();
        for r in &resources {
            let item = format!("capacity target {}", r.id());
            items.push(match &r.target {
                CapacityTarget::ScalableTarget {
                    service_namespace,
                    resource_id,
                    scalable_dimension,
                } => {
                    let out = aas
                        .describe_scalable_targets()
                        .service_namespace(service_namespace.as_str().into())
                        .resource_ids(resource_id)
                        .scalable_dimension(scalable_dimension.as_str().into())
                        .send()
                        .await;
                    match out {
                        Ok(out) => match out.scalable_targets().first() {
                            Some(t) => Item::pass(
                                Area::Capacity,
                                region.as_str(),
                                item,
                                format!("registered, min {} max {}", t.min_capacity(), t.max_capacity()),
                            ),
                            None => Item::new(
                                Area::Capacity,
                                region.as_str(),
                                item,
                                Grade::Fail,
                                format!("{resource_id} ({scalable_dimension}) is not a registered scalable target: capacity-scaler cannot raise it"),
                                "RegisterScalableTarget it (its baseline min and max), or remove it from capacity.resources",
                            ),
                        },
                        Err(e) => grade::unreadable(Area::Capacity, region.as_str(), item, "application-autoscaling:DescribeScalableTargets", &failure(e)),
                    }
                }
                CapacityTarget::ReservedConcurrency { function_name } => {
                    match lambda.get_function_concurrency().function_name(function_name).send().await {
                        Ok(out) => {
                            let reserved = out.reserved_concurrent_executions().map_or(0, i64::from);
                            current.insert(r.id(), reserved);
                            Item::pass(Area::Capacity, region.as_str(), item, format!("{function_name} exists, {reserved} reserved"))
                        }
                        Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Item::new(
                            Area::Capacity,
                            region.as_str(),
                            item,
                            Grade::Fail,
                            format!("function {function_name} does not exist in {region}"),
                            "deploy it, or correct capacity.resources[].target.function_name",
                        ),
                        Err(e) => grade::unreadable(Area::Capacity, region.as_str(), item, "lambda:GetFunctionConcurrency", &failure(e)),
                    }
                }
            });
        }
        let mut quotas = Quotas::default();
        match lambda.get_account_settings().send().await {
            Ok(out) => {
                let limit = out.account_limit();
                quotas.lambda_concurrency = limit.map(|l| i64::from(l.concurrent_executions()));
                let unreserved = limit.and_then(|l| l.unreserved_concurrent_executions()).map_or(0, i64::from);
                let raise = grade::planned_reserved_raise(config, region, &current);
                items.push(grade::grade_unreserved(config, region, unreserved, raise));
            }
            Err(e) => items.push(grade::unreadable(
                Area::Capacity,
                region.as_str(),
                "unreserved concurrency after the failover raises",
                "lambda:GetAccountSettings",
                &failure(e),
            )),
        }
        let uses_dynamodb = resources
            .iter()
            .any(|r| matches!(&r.target, CapacityTarget::ScalableTarget { service_namespace, .. } if service_namespace == "dynamodb"));
        if uses_dynamodb {
            match client!(self, aws_sdk_dynamodb, region).describe_limits().send().await {
                Ok(out) => {
                    quotas.table_max_write = out.table_max_write_capacity_units();
                    quotas.table_max_read = out.table_max_read_capacity_units();
                }
                Err(e) => {
                    items.push(grade::unreadable(
                        Area::Capacity,
                        region.as_str(),
                        "account quotas cover the ceilings",
                        "dynamodb:DescribeLimits",
                        &failure(e),
                    ));
                    return items;
                }
            }
        }
        items.push(grade::grade_quotas(config, region, &quotas));
        items
    }

    // ---- data -------------------------------------------------------------------------------

    async fn data(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let ddb = client!(self, aws_sdk_dynamodb, region);
        let mut items = Vec::new();
        for table in &config.protected_tables {
            let item = format!("point-in-time recovery of {table}");
            items.push(match ddb.describe_continuous_backups().table_name(table).send().await {
                Ok(out) => {
                    let pitr = out
                        .continuous_backups_description()
                        .and_then(|d| d.point_in_time_recovery_description());
                    grade::grade_pitr(
                        table,
                        region,
                        pitr.and_then(|p| p.point_in_time_recovery_status()).map(|s| s.as_str()),
                        pitr.and_then(|p| p.recovery_period_in_days()),
                        config.backup.recovery_period_days,
                    )
                }
                Err(e) if code_of(&e) == Some("TableNotFoundException") => Item::new(
                    Area::Data,
                    region.as_str(),
                    item,
                    Grade::Fail,
                    format!("table {table} has no replica in {region}"),
                    "add the replica to the global table, or remove the region",
                ),
                Err(e) => grade::unreadable(Area::Data, region.as_str(), item, "dynamodb:DescribeContinuousBackups", &failure(e)),
            });
            if !config.backup.global_tables {
                continue;
            }
            let item = format!("replicas of {table} seen from {region}");
            items.push(match ddb.describe_table().table_name(table).send().await {
                Ok(out) => {
                    let replicas: BTreeMap<String, String> = out
                        .table()
                        .map(|t| t.replicas())
                        .unwrap_or_default()
                        .iter()
                        .map(|r| {
                            (
                                r.region_name().unwrap_or_default().to_owned(),
                                r.replica_status().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                            )
                        })
                        .collect();
                    let wrong: Vec<String> = config
                        .peers_of(region)
                        .filter_map(|peer| match replicas.get(peer.as_str()) {
                            Some(s) if s == "ACTIVE" => None,
                            Some(s) => Some(format!("{peer} is {s}")),
                            None => Some(format!("{peer} is not a replica")),
                        })
                        .collect();
                    if wrong.is_empty() {
                        Item::pass(
                            Area::Data,
                            region.as_str(),
                            item,
                            format!("every peer replica ACTIVE ({})", replicas.len()),
                        )
                    } else {
                        Item::new(
                            Area::Data,
                            region.as_str(),
                            item,
                            Grade::Fail,
                            wrong.join("; "),
                            "add or repair the replica (UpdateTable ReplicaUpdates); until then the region has no copy of the data",
                        )
                    }
                }
                Err(e) => grade::unreadable(Area::Data, region.as_str(), item, "dynamodb:DescribeTable", &failure(e)),
            });
        }
        items
    }

    // ---- notifications ----------------------------------------------------------------------

    async fn notifications(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let Some(topic) = config.topic_for(region) else {
            return vec![];
        };
        let sns = client!(self, aws_sdk_sns, region);
        let item_name = format!("subscribers of {topic}");
        let mut subs = Vec::new();
        let mut next: Option<String> = None;
        loop {
            // ListSubscriptionsByTopic: up to 100 per page.
            match sns
                .list_subscriptions_by_topic()
                .topic_arn(topic)
                .set_next_token(next.clone())
                .send()
                .await
            {
                Ok(out) => {
                    for s in out.subscriptions() {
                        let arn = s.subscription_arn().unwrap_or_default();
                        let mut facts = SubscriptionFacts {
                            protocol: s.protocol().unwrap_or_default().to_owned(),
                            endpoint: s.endpoint().unwrap_or_default().to_owned(),
                            // An unconfirmed subscription is listed without an ARN ("PendingConfirmation").
                            confirmed: arn.starts_with("arn:"),
                            ..SubscriptionFacts::default()
                        };
                        if facts.confirmed {
                            match sns.get_subscription_attributes().subscription_arn(arn).send().await {
                                Ok(a) => {
                                    let attrs = a.attributes().cloned().unwrap_or_default();
                                    facts.confirmed = attrs.get("PendingConfirmation").is_none_or(|v| v != "true");
                                    facts.filter_policy = attrs.get("FilterPolicy").cloned();
                                    facts.filter_scope = attrs.get("FilterPolicyScope").cloned();
                                }
                                Err(e) => {
                                    return vec![grade::unreadable(
                                        Area::Notifications,
                                        region.as_str(),
                                        item_name,
                                        "sns:GetSubscriptionAttributes",
                                        &failure(e),
                                    )];
                                }
                            }
                        }
                        subs.push(facts);
                    }
                    next = out.next_token().map(str::to_owned);
                    if next.is_none() {
                        break;
                    }
                }
                Err(e) if code_of(&e) == Some("NotFound") => {
                    return vec![Item::new(
                        Area::Notifications,
                        region.as_str(),
                        item_name,
                        Grade::Fail,
                        format!("topic {topic} does not exist: no alert would reach anyone"),
                        "redeploy the stack (AlertsTopic) or correct notifications.topics",
                    )];
                }
                Err(e) => {
                    return vec![grade::unreadable(
                        Area::Notifications,
                        region.as_str(),
                        item_name,
                        "sns:ListSubscriptionsByTopic",
                        &failure(e),
                    )];
                }
            }
        }
        vec![grade::grade_subscriptions(region, topic, &subs)]
    }

    // ---- permissions ------------------------------------------------------------------------

    async fn permissions(&self, config: &SuiteConfig, region: &Region) -> Vec<Item> {
        let lambda = client!(self, aws_sdk_lambda, region);
        // IAM is global; its endpoint is in us-east-1 for the aws partition.
        let iam = client!(self, aws_sdk_iam, region);
        let mut items = Vec::new();
        let mut simulator_down: Option<ReadFailure> = None;
        for function in grade::checked_functions() {
            let name = grade::function_name(config, function);
            let item = format!("{function} may do its job");
            let role = match lambda.get_function_configuration().function_name(&name).send().await {
                Ok(out) => out.role().unwrap_or_default().to_owned(),
                Err(e) if code_of(&e) == Some("ResourceNotFoundException") => {
                    items.push(Item::new(
                        Area::Permissions,
                        region.as_str(),
                        item,
                        Grade::Fail,
                        format!("function {name} is not deployed in {region}"),
                        "deploy the stack in this region (make deploy)",
                    ));
                    continue;
                }
                Err(e) => {
                    items.push(grade::unreadable(
                        Area::Permissions,
                        region.as_str(),
                        item,
                        "lambda:GetFunctionConfiguration",
                        &failure(e),
                    ));
                    continue;
                }
            };
            // One simulation per resource (and condition): the actions on it.
            let mut groups: BTreeMap<Target, Vec<&str>> = BTreeMap::new();
            for n in grade::needs(config, function, region) {
                groups.entry((n.resource, n.context)).or_default().push(n.action);
            }
            let mut results = Vec::new();
            // A simulator that did not answer (not a refusal) is not asked again for the other
            // functions: one report of it, not five times the SDK's retries.
            let mut unread = simulator_down.clone();
            for ((resource, context), actions) in groups {
                if unread.is_some() {
                    break;
                }
                let mut req = iam
                    .simulate_principal_policy()
                    .policy_source_arn(&role)
                    .set_action_names(Some(actions.iter().map(|a| (*a).to_owned()).collect()));
                if resource != "*" {
                    req = req.resource_arns(&resource);
                }
                for (key, value) in &context {
                    // dynamodb:LeadingKeys is multivalued (tested with ForAllValues): a list.
                    let kind = if key.ends_with("LeadingKeys") {
                        aws_sdk_iam::types::ContextKeyTypeEnum::StringList
                    } else {
                        aws_sdk_iam::types::ContextKeyTypeEnum::String
                    };
                    req = req.context_entries(
                        aws_sdk_iam::types::ContextEntry::builder()
                            .context_key_name(*key)
                            .context_key_type(kind)
                            .context_key_values(value)
                            .build(),
                    );
                }
                // SimulatePrincipalPolicy pages its results (Marker / IsTruncated) and may return
                // fewer than MaxItems before the end: every page is read.
                let mut pages = req.into_paginator().send();
                while let Some(page) = pages.next().await {
                    match page {
                        Ok(out) => results.extend(out.evaluation_results().iter().map(|r| Simulated {
                            action: r.eval_action_name().to_owned(),
                            resource: resource.clone(),
                            decision: r.eval_decision().as_str().to_owned(),
                        })),
                        Err(e) => {
                            unread = Some(failure(e));
                            break;
                        }
                    }
                }
            }
            if let Some(f @ (ReadFailure::Other(_) | ReadFailure::Throttled(_))) = &unread {
                simulator_down = Some(f.clone());
            }
            items.push(match unread {
                Some(f) => grade::unreadable(Area::Permissions, region.as_str(), item, "iam:SimulatePrincipalPolicy", &f),
                None => grade::grade_permissions(function, region, &role, &results),
            });
        }
        items
    }

    // ---- configuration ----------------------------------------------------------------------

    async fn configuration(&self, config: &SuiteConfig, region: &Region, parameter: Option<&str>) -> Vec<Item> {
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
        vec![match SuiteConfig::from_text(name, text, |_| None) {
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
                format!("version {version}, valid, sha256 {}", digest(&deployed)),
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

/// The event patterns of the enabled rules on `bus` that target `arn`.
async fn enabled_patterns(eb: &aws_sdk_eventbridge::Client, arn: &str, bus: &str) -> Result<Vec<String>, ReadFailure> {
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let out = eb
            .list_rule_names_by_target()
            .target_arn(arn)
            .event_bus_name(bus)
            .set_next_token(next)
            .send()
            .await
            .map_err(failure)?;
        names.extend(out.rule_names().iter().cloned());
        next = out.next_token().map(str::to_owned);
        if next.is_none() {
            break;
        }
    }
    let mut patterns = Vec::new();
    for name in names {
        let rule = eb.describe_rule().name(&name).event_bus_name(bus).send().await.map_err(failure)?;
        let enabled = rule.state().is_some_and(|s| s.as_str().starts_with("ENABLED"));
        if enabled {
            patterns.push(rule.event_pattern().unwrap_or_default().to_owned());
        }
    }
    Ok(patterns)
}

/// Each configured region's record of `config.dns.record_name` among `sets` (a
/// ListResourceRecordSets page), matched by set identifier.
pub(crate) fn record_facts(config: &SuiteConfig, sets: &[aws_sdk_route53::types::ResourceRecordSet]) -> BTreeMap<Region, RecordFacts> {
    let want = config.dns.record_name.trim_end_matches('.');
    let sets: Vec<_> = sets.iter().filter(|s| s.name().trim_end_matches('.') == want).collect();
    config
        .dns
        .records
        .iter()
        .filter_map(|(region, rec)| {
            sets.iter()
                .find(|s| s.set_identifier() == Some(rec.set_identifier.as_str()))
                .map(|s| {
                    (
                        region.clone(),
                        RecordFacts {
                            weight: s.weight(),
                            ttl: s.ttl(),
                            health_check_id: s.health_check_id().map(str::to_owned),
                            values: s.resource_records().iter().map(|r| r.value().to_owned()).collect(),
                        },
                    )
                })
        })
        .collect()
}
#[cfg(test)]
mod tests {
    //! What the emulator cannot answer (TestDNSAnswer, IAM's policy simulator, hosted-zone
    //! features, account quotas below a plan, throttling), with aws-smithy-mocks.
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, mock};
    use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
    use aws_smithy_types::error::ErrorMetadata;

    fn config() -> SuiteConfig {
        SuiteConfig::from_json(crate::config::EXAMPLE).unwrap()
    }

    fn region(r: &str) -> Region {
        r.parse().unwrap()
    }

    /// A probe whose every call is answered by `rules` (any order, each as often as asked).
    fn probe(rules: &[Rule]) -> ReadinessProbe {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for r in rules {
            interceptor = interceptor.with_rule(r);
        }
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-south-1"))
            .credentials_provider(aws_sdk_route53::config::SharedCredentialsProvider::new(
                aws_sdk_route53::config::Credentials::for_tests(),
            ))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            // One answer per call: a throttled read is reported, not retried away.
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        let mut p = ReadinessProbe::new(AwsClients::from_config(sdk));
        p.mock = Some(SharedInterceptor::new(interceptor));
        p
    }

    fn grades(items: &[Item]) -> Vec<(String, Grade)> {
        items.iter().map(|i| (i.item.clone(), i.grade)).collect()
    }

    #[tokio::test]
    async fn quotas_short_of_the_plan_fail_naming_the_quota_and_the_shortfall() {
        use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
        use aws_sdk_applicationautoscaling::types::{ScalableDimension, ScalableTarget, ServiceNamespace};
        use aws_sdk_dynamodb::operation::describe_limits::DescribeLimitsOutput;
        use aws_sdk_lambda::operation::get_account_settings::GetAccountSettingsOutput;
        use aws_sdk_lambda::operation::get_function_concurrency::GetFunctionConcurrencyOutput;
        use aws_sdk_lambda::types::AccountLimit;
        let rules = [
            mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
                .sequence()
                .output(|| {
                    DescribeScalableTargetsOutput::builder()
                        .scalable_targets(
                            ScalableTarget::builder()
                                .service_namespace(ServiceNamespace::Dynamodb)
                                .resource_id("table/aworld-orders")
                                .scalable_dimension(ScalableDimension::DynamoDbTableWriteCapacityUnits)
                                .min_capacity(100)
                                .max_capacity(200)
                                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                                .role_arn("arn:aws:iam::123456789012:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable")
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .repeatedly()
                .build(),
            mock!(aws_sdk_lambda::Client::get_function_concurrency)
                .then_output(|| GetFunctionConcurrencyOutput::builder().reserved_concurrent_executions(100).build()),
            // 250 unreserved; the failover raises aworld-api by 2 x 100: 50 would be left.
            mock!(aws_sdk_lambda::Client::get_account_settings).then_output(|| {
                GetAccountSettingsOutput::builder()
                    .account_limit(AccountLimit::builder().concurrent_executions(1000).unreserved_concurrent_executions(250).build())
                    .build()
            }),
            // A table may not go above 500 write units here; the plan's ceiling is 1000.
            mock!(aws_sdk_dynamodb::Client::describe_limits).then_output(|| {
                DescribeLimitsOutput::builder()
                    .table_max_write_capacity_units(500)
                    .table_max_read_capacity_units(40_000)
                    .account_max_write_capacity_units(80_000)
                    .account_max_read_capacity_units(80_000)
                    .build()
            }),
        ];
        let items = probe(&rules).capacity(&config(), &region("eu-north-1")).await;
        let failing: Vec<&Item> = items.iter().filter(|i| i.grade == Grade::Fail).collect();
        assert_eq!(failing.len(), 2, "{:#?}", grades(&items));
        let unreserved = failing.iter().find(|i| i.item.starts_with("unreserved")).unwrap();
        assert!(unreserved.detail.contains("50 left"), "{unreserved:?}");
        let quota = failing.iter().find(|i| i.item.starts_with("account quotas")).unwrap();
        assert!(
            quota.detail.contains("TableMaxWriteCapacityUnits") && quota.detail.contains("500"),
            "{quota:?}"
        );
        assert!(quota.fix.contains("Service Quotas"), "{quota:?}");
        assert!(
            items
                .iter()
                .filter(|i| i.item.starts_with("capacity target"))
                .all(|i| i.grade == Grade::Pass)
        );
    }

    fn dns_rules(answer: &'static str, accelerated: aws_sdk_route53::types::AcceleratedRecoveryStatus) -> Vec<Rule> {
        use aws_sdk_route53::operation::get_hosted_zone::GetHostedZoneOutput;
        use aws_sdk_route53::operation::list_resource_record_sets::ListResourceRecordSetsOutput;
        use aws_sdk_route53::operation::test_dns_answer::TestDnsAnswerOutput;
        use aws_sdk_route53::types::*;
        let record = |id: &str, value: &str, check: &str| {
            ResourceRecordSet::builder()
                .name("api.aworld.example.")
                .r#type(RrType::A)
                .set_identifier(id)
                .weight(100)
                .ttl(60)
                .health_check_id(check)
                .resource_records(ResourceRecord::builder().value(value).build().unwrap())
                .build()
                .unwrap()
        };
        let (south, north) = (
            record("eu-south-1", "192.0.2.20", "hc-south"),
            record("eu-north-1", "192.0.2.10", "hc-north"),
        );
        vec![
            mock!(aws_sdk_route53::Client::list_resource_record_sets).then_output(move || {
                ListResourceRecordSetsOutput::builder()
                    .resource_record_sets(south.clone())
                    .resource_record_sets(north.clone())
                    .is_truncated(false)
                    .max_items(100)
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_route53::Client::get_health_check)
                .match_requests(|r| r.health_check_id() == Some("hc-south"))
                .then_output(|| health_check("hc-south", "aworld-drained-eu-south-1", CloudWatchRegion::EuNorth1)),
            mock!(aws_sdk_route53::Client::get_health_check)
                .match_requests(|r| r.health_check_id() == Some("hc-north"))
                .then_output(|| health_check("hc-north", "aworld-drained-eu-north-1", CloudWatchRegion::EuSouth1)),
            mock!(aws_sdk_route53::Client::test_dns_answer).then_output(move || {
                TestDnsAnswerOutput::builder()
                    .nameserver("ns-1.awsdns-01.org")
                    .record_name("api.aworld.example.")
                    .record_type(RrType::A)
                    .record_data(answer)
                    .response_code("NOERROR")
                    .protocol("UDP")
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_route53::Client::get_hosted_zone).then_output(move || {
                GetHostedZoneOutput::builder()
                    .hosted_zone(
                        HostedZone::builder()
                            .id("Z0AWORLDEXAMPLE")
                            .name("aworld.example.")
                            .caller_reference("r")
                            .features(
                                HostedZoneFeatures::builder()
                                    .accelerated_recovery_status(accelerated.clone())
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build()
            }),
        ]
    }

    fn health_check(
        id: &str,
        alarm: &str,
        alarm_region: aws_sdk_route53::types::CloudWatchRegion,
    ) -> aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput {
        use aws_sdk_route53::types::*;
        aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput::builder()
            .health_check(
                HealthCheck::builder()
                    .id(id)
                    .caller_reference(id)
                    .health_check_version(1)
                    .health_check_config(
                        HealthCheckConfig::builder()
                            .r#type(HealthCheckType::CloudwatchMetric)
                            .alarm_identifier(AlarmIdentifier::builder().region(alarm_region).name(alarm).build().unwrap())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
    }

    #[tokio::test]
    async fn a_dns_answer_naming_a_drained_region_fails_and_one_naming_a_serving_region_passes() {
        use aws_sdk_route53::types::AcceleratedRecoveryStatus;
        let drained = CheckInputs {
            config_parameter: None,
            recorded_drained: Some(BTreeSet::from([region("eu-south-1")])),
        };
        let items = probe(&dns_rules("192.0.2.20", AcceleratedRecoveryStatus::Enabled))
            .dns(&config(), &drained)
            .await;
        let answer = items.iter().find(|i| i.item.starts_with("answer")).unwrap();
        assert_eq!(answer.grade, Grade::Fail, "{answer:?}");
        assert!(answer.detail.contains("eu-south-1"), "{answer:?}");
        assert_eq!(
            items.iter().filter(|i| i.grade != Grade::Pass).count(),
            1,
            "records, health checks and accelerated recovery pass: {:#?}",
            grades(&items)
        );

        let items = probe(&dns_rules("192.0.2.10", AcceleratedRecoveryStatus::Disabled))
            .dns(&config(), &drained)
            .await;
        let answer = items.iter().find(|i| i.item.starts_with("answer")).unwrap();
        assert_eq!(answer.grade, Grade::Pass, "{answer:?}");
        let accelerated = items.iter().find(|i| i.item.starts_with("accelerated")).unwrap();
        assert_eq!(
            accelerated.grade,
            Grade::Warn,
            "a zone without accelerated recovery warns: {accelerated:?}"
        );
    }

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

    #[tokio::test]
    async fn every_peer_replica_must_be_active_and_pitr_on_with_the_configured_period() {
        use aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput;
        use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
        use aws_sdk_dynamodb::types::*;
        let pitr = |days: i32| {
            mock!(aws_sdk_dynamodb::Client::describe_continuous_backups)
                .sequence()
                .output(move || {
                    DescribeContinuousBackupsOutput::builder()
                        .continuous_backups_description(
                            ContinuousBackupsDescription::builder()
                                .continuous_backups_status(ContinuousBackupsStatus::Enabled)
                                .point_in_time_recovery_description(
                                    PointInTimeRecoveryDescription::builder()
                                        .point_in_time_recovery_status(PointInTimeRecoveryStatus::Enabled)
                                        .recovery_period_in_days(days)
                                        .build(),
                                )
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .repeatedly()
                .build()
        };
        let table = |peer: ReplicaStatus| {
            mock!(aws_sdk_dynamodb::Client::describe_table)
                .sequence()
                .output(move || {
                    DescribeTableOutput::builder()
                        .table(
                            TableDescription::builder()
                                .replicas(
                                    ReplicaDescription::builder()
                                        .region_name("eu-south-1")
                                        .replica_status(ReplicaStatus::Active)
                                        .build(),
                                )
                                .replicas(
                                    ReplicaDescription::builder()
                                        .region_name("eu-north-1")
                                        .replica_status(peer.clone())
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                })
                .repeatedly()
                .build()
        };
        let items = probe(&[pitr(35), table(ReplicaStatus::Active)])
            .data(&config(), &region("eu-south-1"))
            .await;
        assert!(items.iter().all(|i| i.grade == Grade::Pass), "{:#?}", grades(&items));
        assert_eq!(items.len(), 4, "PITR and replicas of both protected tables");
        let items = probe(&[pitr(7), table(ReplicaStatus::Creating)])
            .data(&config(), &region("eu-south-1"))
            .await;
        let failing: Vec<&Item> = items.iter().filter(|i| i.grade == Grade::Fail).collect();
        assert_eq!(failing.len(), 4, "{:#?}", grades(&items));
        assert!(failing.iter().any(|i| i.detail.contains("eu-north-1 is CREATING")), "{failing:?}");
        assert!(
            failing.iter().any(|i| i.detail.contains("7 days of recovery, 35 configured")),
            "{failing:?}"
        );
    }

    #[tokio::test]
    async fn a_throttled_read_is_reported_as_not_checked_never_as_a_pass() {
        use aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsError;
        let rules = [mock!(aws_sdk_cloudwatch::Client::describe_alarms)
            .sequence()
            .error(|| DescribeAlarmsError::generic(ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build()))
            .repeatedly()
            .build()];
        let items = probe(&rules).alarms(&config(), &region("eu-south-1")).await;
        assert!(!items.is_empty());
        assert!(
            items.iter().all(|i| i.grade == Grade::Warn && i.detail.contains("throttled")),
            "{:#?}",
            items
        );
    }
}
