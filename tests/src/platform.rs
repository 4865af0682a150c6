//! A two-region platform in the emulator, with names unique to one test: the state table, an
//! SNS topic per region (eu-north-1's with an SQS subscriber), a hosted zone with one weighted
//! record per region, and the health alarms of both regions (all OK to start with).
//! The emulator has no PutCompositeAlarm, so the platform has metric alarms only.

use crate::{create_state_table, create_table, drain_queue, sdk, topic_with_queue, unique};
use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use chrono::{DateTime, Utc};
use resilience_core::model::audit::AuditRecord;
use resilience_core::store::StateStore;
use resilience_core::store::dynamodb::DynamoStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub const SOUTH: &str = "eu-south-1";
pub const NORTH: &str = "eu-north-1";
/// Where the functions run in these tests: the backup region, outside the failing primary.
pub const HOME: &str = NORTH;
pub const HEALTH_ALARMS: [&str; 3] = ["api-5xx", "api-latency", "canary"];

#[derive(Debug)]
pub struct Platform {
    pub id: String,
    pub config: Value,
    pub state_table: String,
    pub queue_url: String,
    pub zone_id: String,
    pub record_name: String,
    /// The functions talk to the emulator through this model of AWS's delays.
    pub latency: crate::latency::LatencyModel,
    /// The operator key in the emulator's KMS (its ARN), trusted by the configuration.
    pub operator_key: String,
}

impl Platform {
    /// Provisions everything; `strategies` as in `dns.strategies`.
    pub async fn provision(strategies: &[&str]) -> Platform {
        let id = unique("t");
        let mut config: Value = serde_json::from_str(resilience_core::config::EXAMPLE).unwrap();
        // The practice drill's names are the deployed stack's; `practice_drill` wires its own.
        config.as_object_mut().unwrap().remove("failover_drill");
        let state_table = format!("{id}-state");
        let north = sdk(NORTH).await;
        create_state_table(&aws_sdk_dynamodb::Client::new(&north), &state_table).await;

        let (north_topic, queue_url) = topic_with_queue(NORTH, &format!("{id}-notify")).await;
        let south_topic = aws_sdk_sns::Client::new(&sdk(SOUTH).await)
            .create_topic()
            .name(format!("{id}-notify"))
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();

        let zone_name = format!("{id}.aworld.example.");
        let record_name = format!("api.{zone_name}");
        let r53 = aws_sdk_route53::Client::new(&sdk("us-east-1").await);
        let zone = r53
            .create_hosted_zone()
            .name(&zone_name)
            .caller_reference(&id)
            .send()
            .await
            .unwrap();
        let zone_id = zone.hosted_zone.unwrap().id.trim_start_matches("/hostedzone/").to_owned();
        let mut batch = ChangeBatch::builder();
        for (region, ip) in [(SOUTH, "192.0.2.10"), (NORTH, "192.0.2.20")] {
            let health_check = data_plane_health_check(&id, region, &r53).await;
            let rrs = ResourceRecordSet::builder()
                .name(&record_name)
                .r#type(RrType::A)
                .set_identifier(region)
                .weight(100)
                .health_check_id(health_check)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
                .build()
                .unwrap();
            batch = batch.changes(
                Change::builder()
                    .action(ChangeAction::Create)
                    .resource_record_set(rrs)
                    .build()
                    .unwrap(),
            );
        }
        r53.change_resource_record_sets()
            .hosted_zone_id(&zone_id)
            .change_batch(batch.build().unwrap())
            .send()
            .await
            .unwrap();

        for region in [SOUTH, NORTH] {
            let cw = aws_sdk_cloudwatch::Client::new(&sdk(region).await);
            let names: Vec<String> = HEALTH_ALARMS.iter().map(|b| format!("{id}-{b}-{region}")).collect();
            for name in &names {
                watch_alarm(&cw, name, "AWorld/Api").await;
            }
            config["regions"][region]["health_alarms"] = json!(names);
            // moto does not implement PutCompositeAlarm: composite alarms are covered by the
            // decision's unit tests and the signal fixtures, not here.
            config["regions"][region]["composite_alarm"] = Value::Null;
        }
        provision_capacity(&id, &mut config).await;
        provision_protected_tables(&id, &mut config).await;
        provision_throttle_table(&id, &mut config).await;
        let operator_key = provision_operator_key(&mut config).await;
        config["state_table"] = json!(state_table);
        config["notifications"]["topics"] = json!({ NORTH: north_topic, SOUTH: south_topic });
        config["dns"]["hosted_zone_id"] = json!(zone_id);
        config["dns"]["record_name"] = json!(record_name);
        config["dns"]["strategies"] = json!(strategies);
        config["dns"]["health_metric"]["namespace"] = json!(format!("aworld/Failover/{id}"));
        // A metric name of its own too: moto's GetMetricData ignores the namespace when the
        // query has dimensions, so tests running at once would read each other's drains.
        config["dns"]["health_metric"]["metric_name"] = json!(format!("RegionDrained-{id}"));
        config["dns"]["health_metric"]["alarm_name"] = json!(format!("{id}-drained-{{region}}"));
        config["dns"]["health_metric"]["confirm_seconds"] = json!(8);
        config["dns"]["insync_wait_seconds"] = json!(10);
        // The latency model's checkers follow within 0.4 s; its API has no request-rate quota.
        config["dns"]["answer_confirm_seconds"] = json!(8);
        config["dns"]["answer_sample_ms"] = json!(20);
        let wiring = crate::latency::DrainWiring {
            namespace: format!("aworld/Failover/{id}"),
            metric: format!("RegionDrained-{id}"),
            alarm_name: format!("{id}-drained-{{region}}"),
            pairs: vec![(SOUTH.into(), NORTH.into()), (NORTH.into(), SOUTH.into())],
        };
        let mut latency = crate::latency::LatencyModel::start(&crate::endpoint(), wiring, crate::latency::Delays::default()).await;
        latency
            .answer_dns(crate::latency::DnsWiring {
                zone_id: zone_id.clone(),
                record_name: record_name.clone(),
            })
            .await;
        let platform = Platform {
            id,
            config,
            state_table,
            queue_url,
            zone_id,
            record_name,
            latency,
            operator_key,
        };
        for region in [SOUTH, NORTH] {
            for base in HEALTH_ALARMS {
                platform.set_alarm(region, base, StateValue::Ok).await;
            }
        }
        platform
    }

    /// Wires the practice failover drill as the template does: a practice name in the zone
    /// with a weighted record per region on a CLOUDWATCH_METRIC health check, following a
    /// practice drain alarm (a namespace of its own) in the peer; two practice trigger alarms
    /// of eu-south-1 (the drilled region, quorum 2), OK. The latency model evaluates the
    /// practice drain alarms and answers for the practice name too.
    pub async fn practice_drill(&mut self) {
        let evaluation = self.latency.delays.alarm_evaluation;
        self.practice_drill_with_trigger_ok_delays([evaluation, evaluation]).await;
    }

    /// The same, each trigger alarm returning to OK after its own delay (CloudWatch evaluates
    /// each alarm on its own).
    pub async fn practice_drill_with_trigger_ok_delays(&mut self, ok_delays: [std::time::Duration; 2]) {
        let id = self.id.clone();
        let practice = format!("drill.{}", self.record_name.trim_start_matches("api."));
        let (namespace, metric) = (format!("aworld/FailoverDrill/{id}"), format!("DrillDrained-{id}"));
        let r53 = aws_sdk_route53::Client::new(&sdk("us-east-1").await);
        let mut records = serde_json::Map::new();
        for (region, ip) in [(SOUTH, "198.51.100.10"), (NORTH, "198.51.100.20")] {
            let alarm = format!("{id}-drill-drained-{region}");
            let check = metric_health_check(&id, region, &alarm, (&namespace, &metric), &r53).await;
            let rrs = ResourceRecordSet::builder()
                .name(&practice)
                .r#type(RrType::A)
                .set_identifier(region)
                .weight(100)
                .health_check_id(&check)
                .ttl(60)
                .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
                .build()
                .unwrap();
            self.change_record(ChangeAction::Create, rrs).await;
            records.insert(
                region.into(),
                json!({ "set_identifier": region, "weight": 100, "health_check_id": check }),
            );
        }
        // eu-south-1's trigger alarms, there (as its health alarms are), on the trigger metric;
        // the latency model evaluates them like the drain alarms.
        let cw = aws_sdk_cloudwatch::Client::new(&sdk(SOUTH).await);
        let trigger_metric = format!("PracticeTrigger-{id}");
        let triggers: Vec<String> = ["a", "b"].iter().map(|n| format!("{id}-drill-trigger-{n}-{SOUTH}")).collect();
        for (t, ok_delay) in triggers.iter().zip(ok_delays) {
            region_alarm(&cw, t, (&namespace, &trigger_metric), SOUTH).await;
            cw.set_alarm_state()
                .alarm_name(t)
                .state_value(StateValue::Ok)
                .state_reason("test bed")
                .send()
                .await
                .unwrap();
            self.latency
                .add_drain_alarms_returning_ok_after(
                    crate::latency::DrainWiring {
                        namespace: namespace.clone(),
                        metric: trigger_metric.clone(),
                        alarm_name: t.replace(SOUTH, "{region}"),
                        pairs: vec![(SOUTH.into(), SOUTH.into())],
                    },
                    ok_delay,
                )
                .await;
        }
        self.config["failover_drill"] = json!({
            "record_name": practice,
            "records": records,
            "health_metric": { "namespace": namespace, "metric_name": metric, "alarm_name": format!("{id}-drill-drained-{{region}}"), "confirm_seconds": 8 },
            "region": SOUTH,
            "trigger_alarms": triggers,
            "trigger_metric": { "namespace": namespace, "metric_name": trigger_metric },
            "rto_target_seconds": 60,
            "answer_wait_seconds": 15,
        });
        self.latency
            .add_drain_alarms(crate::latency::DrainWiring {
                namespace,
                metric,
                alarm_name: format!("{id}-drill-drained-{{region}}"),
                pairs: vec![(SOUTH.into(), NORTH.into()), (NORTH.into(), SOUTH.into())],
            })
            .await;
        self.latency
            .answer_dns(crate::latency::DnsWiring {
                zone_id: self.zone_id.clone(),
                record_name: practice,
            })
            .await;
    }

    /// Wires each region's record to a RECOVERY_CONTROL health check on its routing control
    /// (`controls`: region, control ARN), as the routing-control strategy needs, and has the
    /// latency model's Route 53 follow `cluster`'s controls.
    pub async fn wire_routing_controls(&self, controls: &[(&str, &str)], cluster: crate::latency::RoutingControls) {
        use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType};
        self.latency.follow_routing_controls(cluster);
        for (region, arn) in controls {
            let config = HealthCheckConfig::builder()
                .r#type(HealthCheckType::RecoveryControl)
                .routing_control_arn(*arn)
                .build()
                .unwrap();
            self.put_health_check_on(region, &format!("{}-{region}-control", self.id), config)
                .await;
        }
    }

    /// A new health check of `config` on `region`'s record, in place of the one it had; its id.
    pub async fn put_health_check_on(&self, region: &str, reference: &str, config: aws_sdk_route53::types::HealthCheckConfig) -> String {
        let r53 = aws_sdk_route53::Client::new(&sdk("us-east-1").await);
        let check = create_health_check(&r53, reference, config).await;
        let mut rrs = self.record(region).await;
        rrs.health_check_id = Some(check.clone());
        self.change_record(ChangeAction::Upsert, rrs).await;
        check
    }

    /// Publishes `value` as `region`'s drain metric in its peer region (where its drain alarm
    /// lives), stamped `at` (CloudWatch's receipt time when `None`).
    pub async fn publish_drain(&self, region: &str, value: f64, at: Option<DateTime<Utc>>) {
        use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
        let peer = if region == SOUTH { NORTH } else { SOUTH };
        let hm = &self.config["dns"]["health_metric"];
        aws_sdk_cloudwatch::Client::new(&sdk(peer).await)
            .put_metric_data()
            .namespace(hm["namespace"].as_str().unwrap())
            .metric_data(
                MetricDatum::builder()
                    .metric_name(hm["metric_name"].as_str().unwrap())
                    .dimensions(Dimension::builder().name("Region").value(region).build())
                    .value(value)
                    .unit(StandardUnit::Count)
                    .storage_resolution(60)
                    .set_timestamp(at.map(|t| aws_smithy_types::DateTime::from_secs(t.timestamp())))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// Adds a serving region: its health alarms (OK), its SNS topic with a queue subscribed
    /// (returned), its weighted record (weight 100, no health check: for control-plane tests),
    /// and its configuration, preferred by `priority`.
    pub async fn add_region(&mut self, region: &str, priority: u32, ip: &str) -> String {
        let cw = aws_sdk_cloudwatch::Client::new(&sdk(region).await);
        let names: Vec<String> = HEALTH_ALARMS.iter().map(|b| self.alarm_name(b, region)).collect();
        for name in &names {
            watch_alarm(&cw, name, "AWorld/Api").await;
        }
        let (topic, queue) = topic_with_queue(region, &format!("{}-notify", self.id)).await;
        let rrs = ResourceRecordSet::builder()
            .name(&self.record_name)
            .r#type(RrType::A)
            .set_identifier(region)
            .weight(100)
            .ttl(60)
            .resource_records(ResourceRecord::builder().value(ip).build().unwrap())
            .build()
            .unwrap();
        self.change_record(ChangeAction::Create, rrs).await;
        self.config["regions"][region] = json!({ "role": "backup", "priority": priority, "health_alarms": names });
        self.config["dns"]["records"][region] = json!({ "set_identifier": region, "weight": 100 });
        self.config["notifications"]["topics"][region] = json!(topic);
        for base in HEALTH_ALARMS {
            self.set_alarm(region, base, StateValue::Ok).await;
        }
        queue
    }

    /// Writes one record set of the platform's zone, as someone with Route 53 rights would.
    pub async fn change_record(&self, action: ChangeAction, rrs: ResourceRecordSet) {
        let change = Change::builder().action(action).resource_record_set(rrs).build().unwrap();
        aws_sdk_route53::Client::new(&sdk("us-east-1").await)
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone_id)
            .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
            .send()
            .await
            .unwrap();
    }

    /// A region's weighted record as Route 53 holds it.
    pub async fn record(&self, set_identifier: &str) -> ResourceRecordSet {
        let r53 = aws_sdk_route53::Client::new(&sdk("us-east-1").await);
        let listed = r53.list_resource_record_sets().hosted_zone_id(&self.zone_id).send().await.unwrap();
        listed
            .resource_record_sets()
            .iter()
            .find(|r| r.set_identifier() == Some(set_identifier))
            .unwrap()
            .clone()
    }

    pub fn alarm_name(&self, base: &str, region: &str) -> String {
        format!("{}-{base}-{region}", self.id)
    }

    pub async fn set_alarm(&self, region: &str, base: &str, state: StateValue) {
        aws_sdk_cloudwatch::Client::new(&sdk(region).await)
            .set_alarm_state()
            .alarm_name(self.alarm_name(base, region))
            .state_value(state)
            .state_reason("set by test")
            .send()
            .await
            .unwrap();
    }

    /// The environment of a function deployed in [`HOME`] against this platform.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RESILIENCE_CONFIG", self.config.to_string()),
            ("AWS_REGION", HOME.to_owned()),
            ("AWS_ENDPOINT_URL", self.latency.proxy.url()),
        ]
    }

    /// A real-format EventBridge alarm state change for one of this platform's alarms.
    pub fn alarm_event(&self, base: &str, region: &str, state: &str, at: DateTime<Utc>) -> Value {
        crate::alarm_event(&self.alarm_name(base, region), region, state, at)
    }

    /// An operator command event (documented format) from the configured operator, signed by
    /// the in-process test key (a test that edits it afterwards signs again with [`crate::sign`],
    /// or leaves it as a forgery).
    /// The "CloudWatch Alarm State Change" event EventBridge delivers for `alarm`'s last change
    /// in `region`: its current state, at its state-change time (the emulator has no EventBridge
    /// delivery, so the test delivers it).
    pub async fn state_change_event(&self, alarm: &str, region: &str) -> Value {
        crate::state_change_event(&aws_sdk_cloudwatch::Client::new(&sdk(region).await), alarm, region, None).await
    }

    /// [`Self::state_change_event`] once the alarm is in `state` (CloudWatch, here the latency
    /// model, evaluates it a moment after its metric changes; at most 10 s).
    pub async fn state_change_event_when(&self, alarm: &str, region: &str, state: StateValue) -> Value {
        crate::state_change_event(&aws_sdk_cloudwatch::Client::new(&sdk(region).await), alarm, region, Some(state)).await
    }

    pub fn command(&self, detail_type: &str, region: Option<&str>) -> Value {
        let mut e = crate::fixture("operator-failover.json");
        e["id"] = json!(uuid::Uuid::new_v4().to_string());
        e["detail-type"] = json!(detail_type);
        match region {
            Some(r) => e["detail"]["region"] = json!(r),
            None => {
                e["detail"].as_object_mut().unwrap().remove("region");
            }
        }
        crate::sign(&mut e);
        e
    }

    /// Weight of each region's record, by set identifier.
    pub async fn weights(&self) -> BTreeMap<String, i64> {
        let r53 = aws_sdk_route53::Client::new(&sdk("us-east-1").await);
        let out = r53.list_resource_record_sets().hosted_zone_id(&self.zone_id).send().await.unwrap();
        out.resource_record_sets()
            .iter()
            .filter_map(|r| Some((r.set_identifier()?.to_owned(), r.weight()?)))
            .collect()
    }

    /// The latest "region drained" value published for `region` (in its peer region).
    pub async fn drain_metric(&self, region: &str) -> Option<f64> {
        let peer = if region == SOUTH { NORTH } else { SOUTH };
        let cw = aws_sdk_cloudwatch::Client::new(&sdk(peer).await);
        let hm = &self.config["dns"]["health_metric"];
        crate::latency::latest_drain(&cw, hm["namespace"].as_str().unwrap(), hm["metric_name"].as_str().unwrap(), region)
            .await
            .unwrap()
    }

    /// The state of `region`'s drain alarm (in its peer region), as CloudWatch set it.
    pub async fn drain_alarm(&self, region: &str) -> Option<StateValue> {
        let peer = if region == SOUTH { NORTH } else { SOUTH };
        let cw = aws_sdk_cloudwatch::Client::new(&sdk(peer).await);
        let name = self.config["dns"]["health_metric"]["alarm_name"]
            .as_str()
            .unwrap()
            .replace("{region}", region);
        let out = cw.describe_alarms().alarm_names(name).send().await.unwrap();
        out.metric_alarms().first().and_then(|a| a.state_value().cloned())
    }

    /// Waits (at most 20 s) until `region`'s drain alarm is in `state`: the latency model's
    /// CloudWatch evaluates it a moment after its metric changes.
    pub async fn until_drain_alarm(&self, region: &str, state: StateValue) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.drain_alarm(region).await.as_ref() != Some(&state) {
            assert!(
                std::time::Instant::now() < deadline,
                "{region}'s drain alarm never became {state:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Notifications received by the SQS subscriber: the machine-readable bodies.
    pub async fn notifications(&self) -> Vec<Value> {
        drain_queue(NORTH, &self.queue_url)
            .await
            .into_iter()
            .map(|envelope| serde_json::from_str(envelope["Message"].as_str().unwrap_or("null")).unwrap_or(Value::Null))
            .collect()
    }

    pub fn store(&self, ddb: aws_sdk_dynamodb::Client) -> DynamoStore {
        DynamoStore::new(ddb, self.state_table.clone())
    }

    pub async fn audit(&self, function: &str) -> Vec<AuditRecord> {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk(HOME).await);
        self.store(ddb).recent_audit(function, 1000).await.unwrap()
    }
}

/// Baselines of the capacity resources the platform registers.
pub const TABLE_WRITE_BASELINE: (i32, i32) = (5, 40);
pub const PROVISIONED_BASELINE: (i32, i32) = (2, 20);
/// The platform function's reserved concurrency before any emergency.
pub const RESERVED_BASELINE: i32 = 100;

/// Registers the capacity resources of the example configuration under unique names: a
/// provisioned table's write capacity in both regions, and in the backup region a function's
/// provisioned concurrency (alias `live`) and reserved concurrency ([`RESERVED_BASELINE`] at
/// first: a function without a reservation is never reserved by a raise).
async fn provision_capacity(id: &str, config: &mut Value) {
    use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
    for region in [SOUTH, NORTH] {
        let aas = aws_sdk_applicationautoscaling::Client::new(&sdk(region).await);
        aas.register_scalable_target()
            .service_namespace(ServiceNamespace::Dynamodb)
            .resource_id(format!("table/{id}-orders"))
            .scalable_dimension(ScalableDimension::DynamoDbTableWriteCapacityUnits)
            .min_capacity(TABLE_WRITE_BASELINE.0)
            .max_capacity(TABLE_WRITE_BASELINE.1)
            .send()
            .await
            .unwrap();
    }
    let north = sdk(NORTH).await;
    aws_sdk_applicationautoscaling::Client::new(&north)
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Lambda)
        .resource_id(format!("function:{id}-api:live"))
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .min_capacity(PROVISIONED_BASELINE.0)
        .max_capacity(PROVISIONED_BASELINE.1)
        .send()
        .await
        .unwrap();
    create_function(&north, &format!("{id}-api")).await;
    aws_sdk_lambda::Client::new(&north)
        .put_function_concurrency()
        .function_name(format!("{id}-api"))
        .reserved_concurrent_executions(RESERVED_BASELINE)
        .send()
        .await
        .unwrap();
    let text = config["capacity"]
        .to_string()
        .replace("aworld-orders", &format!("{id}-orders"))
        .replace("aworld-api", &format!("{id}-api"))
        .replace("\"aworld-saturation-orders-throttles", &format!("\"{id}-orders-write-throttles"))
        .replace("\"aworld-saturation-api-concurrency", &format!("\"{id}-api-concurrency"));
    config["capacity"] = serde_json::from_str(&text).unwrap();
    // The saturation alarms, OK to start with.
    for (region, names) in [
        (SOUTH, vec![format!("{id}-orders-write-throttles-{SOUTH}")]),
        (
            NORTH,
            vec![
                format!("{id}-orders-write-throttles-{NORTH}"),
                format!("{id}-api-concurrency-{NORTH}"),
            ],
        ),
    ] {
        let cw = aws_sdk_cloudwatch::Client::new(&sdk(region).await);
        for name in names {
            watch_alarm(&cw, &name, "AWorld/Capacity").await;
            cw.set_alarm_state()
                .alarm_name(&name)
                .state_value(StateValue::Ok)
                .state_reason("provisioned")
                .send()
                .await
                .unwrap();
        }
    }
}

/// A Lambda function in the emulator (never invoked: the emulator needs Docker for that).
async fn create_function(cfg: &aws_config::SdkConfig, name: &str) {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, Runtime};
    // The emulator checks that the execution role exists.
    let role = aws_sdk_iam::Client::new(cfg)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap();
    let iam_role = role.role().unwrap().arn();
    aws_sdk_lambda::Client::new(cfg)
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .role(iam_role)
        .handler("bootstrap")
        .code(FunctionCode::builder().zip_file(Blob::new(zip_with_bootstrap())).build())
        .send()
        .await
        .unwrap();
}

/// The smallest valid zip archive holding an empty `bootstrap` (stored, no compression).
fn zip_with_bootstrap() -> Vec<u8> {
    let name = b"bootstrap";
    let mut z = Vec::new();
    let crc_empty = 0u32;
    // local file header
    z.extend_from_slice(&[0x50, 0x4b, 0x03, 0x04, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&crc_empty.to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name);
    let central = z.len() as u32;
    // central directory header
    z.extend_from_slice(&[0x50, 0x4b, 0x01, 0x02, 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(&crc_empty.to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    z.extend_from_slice(name);
    let central_len = z.len() as u32 - central;
    // end of central directory
    z.extend_from_slice(&[0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 1, 0, 1, 0]);
    z.extend_from_slice(&central_len.to_le_bytes());
    z.extend_from_slice(&central.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

impl Platform {
    /// MinCapacity / MaxCapacity of a scalable target, read back with DescribeScalableTargets.
    pub async fn scalable_target(&self, region: &str, resource_id: &str) -> (i32, i32) {
        let aas = aws_sdk_applicationautoscaling::Client::new(&sdk(region).await);
        let out = aas
            .describe_scalable_targets()
            .service_namespace(if resource_id.starts_with("table/") {
                aws_sdk_applicationautoscaling::types::ServiceNamespace::Dynamodb
            } else {
                aws_sdk_applicationautoscaling::types::ServiceNamespace::Lambda
            })
            .resource_ids(resource_id)
            .send()
            .await
            .unwrap();
        let t = &out.scalable_targets()[0];
        (t.min_capacity(), t.max_capacity())
    }

    pub fn table_target(&self) -> String {
        format!("table/{}-orders", self.id)
    }

    pub fn provisioned_target(&self) -> String {
        format!("function:{}-api:live", self.id)
    }

    /// Reserved concurrency of the platform's function (None: no reservation).
    pub async fn reserved_concurrency(&self) -> Option<i32> {
        aws_sdk_lambda::Client::new(&sdk(NORTH).await)
            .get_function_concurrency()
            .function_name(format!("{}-api", self.id))
            .send()
            .await
            .unwrap()
            .reserved_concurrent_executions()
    }
}

/// Items written to the drill table (eu-north-1's orders table).
pub const ORDERS: usize = 40;

/// The protected tables in both regions with PITR on (the emulator has no global-table
/// replicas: one table per region, and `backup.global_tables` false), orders filled with data.
async fn provision_protected_tables(id: &str, config: &mut Value) {
    use aws_sdk_dynamodb::types::{AttributeValue, PointInTimeRecoverySpecification};
    let tables = [format!("{id}-orders"), format!("{id}-users")];
    for region in [SOUTH, NORTH] {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk(region).await);
        for table in &tables {
            create_table(&ddb, table, "id", None).await;
            ddb.update_continuous_backups()
                .table_name(table)
                .point_in_time_recovery_specification(
                    PointInTimeRecoverySpecification::builder()
                        .point_in_time_recovery_enabled(true)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        for i in 0..ORDERS {
            ddb.put_item()
                .table_name(&tables[0])
                .item("id", AttributeValue::S(format!("order-{i:04}")))
                .item("amount", AttributeValue::N(format!("{}.{:02}", i * 7, i % 100)))
                .item(
                    "lines",
                    AttributeValue::L(vec![AttributeValue::M(
                        [("sku".to_owned(), AttributeValue::S(format!("sku-{i}")))].into(),
                    )]),
                )
                .item("tags", AttributeValue::Ss(vec!["b".into(), "a".into()]))
                .send()
                .await
                .unwrap();
        }
    }
    config["protected_tables"] = json!(tables);
    config["backup"]["global_tables"] = json!(false);
    config["backup"]["drill"]["table"] = json!(tables[0]);
    config["backup"]["drill"]["canaries"] = json!(3);
}

impl Platform {
    /// Tables in `region` whose name starts with `prefix`.
    pub async fn tables_starting(&self, region: &str, prefix: &str) -> Vec<String> {
        let ddb = aws_sdk_dynamodb::Client::new(&sdk(region).await);
        let mut names = Vec::new();
        let mut start = None;
        loop {
            let page = ddb.list_tables().set_exclusive_start_table_name(start).send().await.unwrap();
            names.extend(page.table_names().iter().filter(|n| n.starts_with(prefix)).cloned());
            start = page.last_evaluated_table_name().map(str::to_owned);
            if start.is_none() {
                return names;
            }
        }
    }
}

/// The throttle table (pk = principal) in both regions.
async fn provision_throttle_table(id: &str, config: &mut Value) {
    let table = format!("{id}-throttle");
    for region in [SOUTH, NORTH] {
        create_table(&aws_sdk_dynamodb::Client::new(&sdk(region).await), &table, "pk", None).await;
    }
    config["throttle"]["table"] = json!(table);
}

impl Platform {
    /// A detector's "Suspicious Activity" event about `principal`.
    pub fn suspicious(&self, principal: &str) -> Value {
        let mut e = crate::fixture("suspicious-activity.json");
        e["id"] = json!(uuid::Uuid::new_v4().to_string());
        e["detail"]["principal"] = json!(principal);
        e
    }

    /// An SQS batch whose bodies are `events`.
    pub fn sqs_batch(&self, bodies: &[Value]) -> Value {
        let records: Vec<Value> = bodies
            .iter()
            .map(|b| {
                let mut r = crate::fixture("sqs-batch.json")["Records"][0].clone();
                r["messageId"] = json!(uuid::Uuid::new_v4().to_string());
                r["body"] = json!(if b.is_string() {
                    b.as_str().unwrap().to_owned()
                } else {
                    b.to_string()
                });
                r
            })
            .collect();
        json!({ "Records": records })
    }

    /// The throttle record of `principal` as stored (level name, until epoch s, offences).
    pub async fn throttle_record(&self, principal: &str) -> Option<(String, i64, u32)> {
        let out = aws_sdk_dynamodb::Client::new(&sdk(HOME).await)
            .get_item()
            .table_name(self.config["throttle"]["table"].as_str().unwrap())
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(principal.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        let item = out.item?;
        let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let n = |k: &str| {
            item.get(k)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_default()
        };
        Some((s("level_name"), n("until") as i64, n("offences") as u32))
    }
}

/// The data-plane wiring of `region`, as infra/template.yaml builds it: the drain alarm lives in
/// the peer region (on RegionDrained{Region=<region>}), a CLOUDWATCH_METRIC health check follows
/// it, and the region's weighted record carries the health check. Returns the health check id.
async fn data_plane_health_check(id: &str, region: &str, r53: &aws_sdk_route53::Client) -> String {
    let alarm = format!("{id}-drained-{region}");
    metric_health_check(
        id,
        region,
        &alarm,
        (&format!("aworld/Failover/{id}"), &format!("RegionDrained-{id}")),
        r53,
    )
    .await
}

/// A drain alarm on (namespace, metric) for `region`, in its peer, and a CLOUDWATCH_METRIC
/// health check following it; returns the health check's id.
async fn metric_health_check(
    id: &str,
    region: &str,
    alarm: &str,
    (namespace, metric): (&str, &str),
    r53: &aws_sdk_route53::Client,
) -> String {
    use aws_sdk_route53::types::{AlarmIdentifier, CloudWatchRegion, HealthCheckConfig, HealthCheckType, InsufficientDataHealthStatus};
    let peer = if region == SOUTH { NORTH } else { SOUTH };
    region_alarm(
        &aws_sdk_cloudwatch::Client::new(&sdk(peer).await),
        alarm,
        (namespace, metric),
        region,
    )
    .await;
    let config = HealthCheckConfig::builder()
        .r#type(HealthCheckType::CloudwatchMetric)
        .alarm_identifier(
            AlarmIdentifier::builder()
                .region(CloudWatchRegion::from(peer))
                .name(alarm)
                .build()
                .unwrap(),
        )
        .insufficient_data_health_status(InsufficientDataHealthStatus::LastKnownStatus)
        .build()
        .unwrap();
    create_health_check(r53, &format!("{alarm}-{id}"), config).await
}

/// A new health check of `config`; its id.
pub async fn create_health_check(
    r53: &aws_sdk_route53::Client,
    reference: &str,
    config: aws_sdk_route53::types::HealthCheckConfig,
) -> String {
    r53.create_health_check()
        .caller_reference(reference)
        .health_check_config(config)
        .send()
        .await
        .unwrap()
        .health_check
        .unwrap()
        .id
}

/// A metric alarm on its own metric (tests set its state directly with SetAlarmState).
/// An alarm as the template makes the drain and trigger alarms: Maximum of (namespace, metric)
/// with the `Region` dimension `region` at least 1, one standard-resolution 60-second period
/// (Route 53 health checks support no high-resolution alarm), missing data ignored.
async fn region_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, (namespace, metric): (&str, &str), region: &str) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace(namespace)
        .metric_name(metric)
        .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("Region").value(region).build())
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("ignore")
        .send()
        .await
        .unwrap();
}

async fn watch_alarm(cw: &aws_sdk_cloudwatch::Client, name: &str, namespace: &str) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace(namespace)
        .metric_name(name)
        .statistic(Statistic::Maximum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
}

/// The operator keys the functions trust: an asymmetric key in the emulator's KMS, as the
/// template creates one per region (the CLI signs with it), and the in-process test key, which
/// signs the commands tests build themselves. Returns the KMS key's ARN.
async fn provision_operator_key(config: &mut Value) -> String {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    use base64::Engine;
    let kms = aws_sdk_kms::Client::new(&sdk(HOME).await);
    let key = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .description("operator commands (test bed)")
        .send()
        .await
        .unwrap();
    let arn = key.key_metadata().unwrap().arn().unwrap().to_owned();
    let public = kms.get_public_key().key_id(&arn).send().await.unwrap();
    let test_key = resilience_core::fixtures::operator_key().signing_key();
    config["operators"]["signing_keys"] = json!([
        { "key_id": arn, "public_key": base64::engine::general_purpose::STANDARD.encode(public.public_key().unwrap().as_ref()) },
        test_key,
    ]);
    arn
}
