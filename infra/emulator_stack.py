#!/usr/bin/env python3
"""The suite's stacks as the template deploys them, on the local emulator, for the tests.

Against a moto_server started with strict IAM (scripts/moto_server.py --strict-iam, the first
3 requests unauthenticated), this:
1. makes an administrator (the 3 unauthenticated requests) and uses it for everything else;
2. renders the configuration from the template (stack.render_config, account and partition
   from STS) and writes it to the configuration parameter in both regions, as deploy.py does;
3. transforms the SAM template offline and creates both regions' stacks through CloudFormation;
4. creates what the emulator's CloudFormation skips (alarms, composite alarms, global-table
   replicas, Scheduler schedules, topic and queue policies) from the template's own resource
   definitions, resolved for each region;
5. gives each function an IAM user whose only policies are the inline policies the transformed
   template gives that function's role (the emulator cannot use the roles' own credentials:
   moto answers 500 for an AssumeRole on a role trusting a service principal);
6. creates the platform's own resources the suite acts on (protected tables with PITR, their
   scalable target, the API function) — not part of the template;
7. prints a manifest (JSON) for the tests: endpoint, regions, the functions' credentials, the
   actions each one is granted, the configuration and where it is.

Usage: emulator_stack.py ENDPOINT MANIFEST_OUT
"""
import io
import json
import os
import sys
import zipfile

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import (FUNCTIONS, Resolver, config_key, load_template, minified, names_in, operator_keys, render_config, signed_config,  # noqa: E402
                   transformed)

PRIMARY, BACKUP = "eu-south-1", "eu-north-1"
PARAMETER = "/aworld/resilience/config"
HERE = os.path.dirname(os.path.abspath(__file__))
# The functions' logical ids in the template.
LOGICAL = {"dns-failover": "DnsFailover", "capacity-scaler": "CapacityScaler", "backup-verifier": "BackupVerifier",
           "user-throttle": "UserThrottle", "access-authorizer": "AccessAuthorizer",
           "readiness-check": "ReadinessCheck"}


def session(endpoint, key=None, secret=None):
    creds = {"aws_access_key_id": key or "bootstrap", "aws_secret_access_key": secret or "bootstrap"}
    return lambda service, region=BACKUP: boto3.client(service, region_name=region, endpoint_url=endpoint, **creds)


def bootstrap_admin(endpoint):
    """The first three requests, before enforcement: an administrator user and its key."""
    iam = session(endpoint)("iam")
    iam.create_user(UserName="stack-admin")
    iam.put_user_policy(UserName="stack-admin", PolicyName="admin",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="stack-admin")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def stack_params(region, role, peer, zone):
    return {"Platform": "aworld", "RegionRole": role, "PeerRegion": peer, "ConfigParameterName": PARAMETER,
            "HostedZoneId": zone, "RecordName": "api.aworld.example.", "PracticeRecordName": "drill.api.aworld.example.", "PeerEndpoint": "192.0.2.10" if peer == PRIMARY else "192.0.2.20",
            "OperatorPrincipalArn": "arn:aws:iam::{account}:role/aworld-oncall", "DetectorPrincipalArn": "arn:aws:iam::{account}:role/aworld-detector", "AlertEmail": "oncall@aworld.example"}


def physical(client, region, stack="aworld-resilience"):
    cfn = client("cloudformation", region)
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"] if r.get("LogicalResourceId") and r.get("PhysicalResourceId")}


def resolver(template, params, region, account, phys, sam=None):
    """Ref / GetAtt values as CloudFormation gives them, from the deployed stack."""
    refs, attrs = dict(phys), {}
    resources = template["Resources"]
    for logical, res in resources.items():
        props, kind = res.get("Properties", {}), res["Type"]
        pid = phys.get(logical)
        if kind == "AWS::KMS::Key" and pid:
            attrs[(logical, "Arn")] = f"arn:aws:kms:{region}:{account}:key/{pid}"
        elif kind == "AWS::SQS::Queue" and pid:
            attrs[(logical, "Arn")] = f"arn:aws:sqs:{region}:{account}:{pid.rsplit('/', 1)[-1]}"
            attrs[(logical, "QueueName")] = pid.rsplit("/", 1)[-1]
        elif kind == "AWS::Events::EventBus":
            # moto gives the bus no physical id; CloudFormation's Ref is its name.
            name = pid.rsplit("/", 1)[-1] if pid else Resolver(template, params, region, account)(props["Name"])
            refs[logical] = name
            attrs[(logical, "Arn")] = f"arn:aws:events:{region}:{account}:event-bus/{name}"
        elif kind == "AWS::IAM::Role" and pid:
            attrs[(logical, "Arn")] = f"arn:aws:iam::{account}:role/{pid}"
        elif kind == "AWS::Events::Rule" and pid:
            attrs[(logical, "Arn")] = f"arn:aws:events:{region}:{account}:rule/{pid}"
        elif kind == "AWS::Lambda::Function" and pid:
            attrs[(logical, "Arn")] = f"arn:aws:lambda:{region}:{account}:function:{pid}"
    probe = Resolver(template, params, region, account, refs=refs, attrs=attrs)
    for logical, res in resources.items():
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            refs[logical] = probe(props["AlarmName"])
        elif res["Type"] == "AWS::DynamoDB::GlobalTable":
            refs[logical] = probe(props["TableName"])
    return Resolver(template, params, region, account, refs=refs, attrs=attrs)


CREATED_HERE = {"AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm", "AWS::DynamoDB::GlobalTable", "AWS::Scheduler::Schedule",
                "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::CloudWatch::AnomalyDetector", "AWS::Events::EventBusPolicy",
                "AWS::KMS::Alias", "AWS::SNS::Subscription"}


def create_skipped(client, cfn_template, r, region, skipped):
    """What moto's CloudFormation does not create, from the template's definitions."""
    for logical, res in cfn_template["Resources"].items():
        kind = res["Type"]
        if "Condition" in res and not r.condition(res["Condition"]):
            continue
        if kind not in CREATED_HERE:
            continue
        props = r(res.get("Properties", {}))
        if kind == "AWS::CloudWatch::Alarm":
            args = {k: v for k, v in props.items() if k not in ("Metrics",)}
            if "Metrics" in props:
                args["Metrics"] = props["Metrics"]
            client("cloudwatch", region).put_metric_alarm(**args)
        elif kind == "AWS::CloudWatch::CompositeAlarm":
            # moto has no PutCompositeAlarm: a metric alarm of the same name stands in (the suite
            # reads both kinds by name; its rule is not evaluated on the emulator).
            client("cloudwatch", region).put_metric_alarm(
                AlarmName=props["AlarmName"], Namespace="Emulator/Composite", MetricName=props["AlarmName"], Statistic="Maximum",
                Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                AlarmActions=props.get("AlarmActions", []))
            skipped.append(f"{region} {logical} (AWS::CloudWatch::CompositeAlarm): a metric alarm of the same name, rule not evaluated")
        elif kind == "AWS::DynamoDB::GlobalTable":
            for replica in props["Replicas"]:
                ddb = client("dynamodb", replica["Region"])
                ddb.create_table(TableName=props["TableName"], BillingMode=props["BillingMode"],
                                 AttributeDefinitions=props["AttributeDefinitions"], KeySchema=props["KeySchema"])
                ttl = props.get("TimeToLiveSpecification")
                if ttl:
                    ddb.update_time_to_live(TableName=props["TableName"], TimeToLiveSpecification=ttl)
                if replica.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
                    ddb.update_continuous_backups(TableName=props["TableName"], PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        elif kind == "AWS::Scheduler::Schedule":
            client("scheduler", region).create_schedule(**{k: v for k, v in props.items() if k in ("Name", "ScheduleExpression", "FlexibleTimeWindow", "Target", "State")})
        elif kind == "AWS::SNS::Subscription":
            # moto's CloudFormation does not subscribe; moto confirms an email subscription at
            # once (on AWS it is pending until the address confirms it).
            client("sns", region).subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"])
            skipped.append(f"{region} {logical} (AWS::SNS::Subscription): subscribed here, confirmed at once by the emulator")
        elif kind == "AWS::SNS::TopicPolicy":
            for topic in props["Topics"]:
                client("sns", region).set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"]))
        elif kind == "AWS::SQS::QueuePolicy":
            for queue in props["Queues"]:
                client("sqs", region).set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
        elif kind == "AWS::KMS::Alias" and "OperatorSigningKey" in json.dumps(res["Properties"]["TargetKeyId"]):
            # moto's CloudFormation makes every key symmetric (KeySpec and KeyUsage ignored):
            # the operator key is made as the template defines it and the alias points to it.
            key_props = r(cfn_template["Resources"]["OperatorSigningKey"]["Properties"])
            kms = client("kms", region)
            key = kms.create_key(KeySpec=key_props["KeySpec"], KeyUsage=key_props["KeyUsage"], Description=key_props["Description"],
                                 Policy=json.dumps(key_props["KeyPolicy"]),
                                 Tags=[{"TagKey": t["Key"], "TagValue": t["Value"]} for t in key_props.get("Tags", [])])["KeyMetadata"]
            kms.update_alias(AliasName=props["AliasName"], TargetKeyId=key["KeyId"])
            skipped.append(f"{region} OperatorSigningKey (AWS::KMS::Key): made again as {key_props['KeySpec']}/{key_props['KeyUsage']}; key policy not enforced")
        elif kind in ("AWS::CloudWatch::AnomalyDetector", "AWS::Events::EventBusPolicy"):
            skipped.append(f"{region} {logical} ({kind}): no effect on the functions' calls")


def function_policies(cfn_template, r, name):
    """The inline policies the transformed template gives the function's role, resolved."""
    role = cfn_template["Resources"][f"{LOGICAL[name]}Role"]["Properties"]
    return [(p["PolicyName"], r(p["PolicyDocument"])) for p in role.get("Policies", [])]


def granted_actions(policies):
    out = set()
    for _, doc in policies:
        for s in doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]:
            if s.get("Effect") == "Allow":
                out.update(s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    return sorted(out)


def platform_resources(client, account):
    """The platform's own resources the suite protects and scales (not the suite's template)."""
    for region in (PRIMARY, BACKUP):
        ddb = client("dynamodb", region)
        for table in ("aworld-orders", "aworld-users"):
            ddb.create_table(TableName=table, BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 100, "WriteCapacityUnits": 100},
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
            ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        for i in range(5):
            ddb.put_item(TableName="aworld-orders", Item={"pk": {"S": f"order-{i}"}, "total": {"N": str(10 * i)}})
        client("application-autoscaling", region).register_scalable_target(
            ServiceNamespace="dynamodb", ResourceId="table/aworld-orders", ScalableDimension="dynamodb:table:WriteCapacityUnits", MinCapacity=100, MaxCapacity=200)
        iam = client("iam", region)
        if region == PRIMARY:
            iam.create_role(RoleName="aworld-api-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("bootstrap", "")
        aws_lambda = client("lambda", region)
        aws_lambda.create_function(FunctionName="aworld-api", Runtime="provided.al2023", Handler="bootstrap",
                                   Role=f"arn:aws:iam::{account}:role/aworld-api-role", Code={"ZipFile": buf.getvalue()})
        if region == BACKUP:
            # The example's reserved-concurrency target: a function with a reservation to raise.
            aws_lambda.put_function_concurrency(FunctionName="aworld-api", ReservedConcurrentExecutions=100)
        version = aws_lambda.publish_version(FunctionName="aworld-api")["Version"]
        aws_lambda.create_alias(FunctionName="aworld-api", Name="live", FunctionVersion=version)
        client("application-autoscaling", region).register_scalable_target(
            ServiceNamespace="lambda", ResourceId="function:aworld-api:live", ScalableDimension="lambda:function:ProvisionedConcurrency",
            MinCapacity=0, MaxCapacity=50)


def main():
    endpoint, out_path = sys.argv[1], sys.argv[2]
    admin_key = bootstrap_admin(endpoint)
    admin = session(endpoint, *admin_key)
    account = admin("sts").get_caller_identity()["Account"]
    template = load_template()
    zone = admin("route53", "us-east-1").create_hosted_zone(Name="aworld.example.", CallerReference="emulator-stack")["HostedZone"]["Id"].split("/")[-1]
    params = {PRIMARY: stack_params(PRIMARY, "primary", BACKUP, zone), BACKUP: stack_params(BACKUP, "backup", PRIMARY, zone)}
    for p in params.values():
        p["OperatorPrincipalArn"] = p["OperatorPrincipalArn"].format(account=account)
        p["DetectorPrincipalArn"] = p["DetectorPrincipalArn"].format(account=account)

    # As deploy.py does: the configuration key, made by the deployer (here the administrator)
    # with a policy naming only it, pinned in both stacks by public key and ARN.
    kms = admin("kms", PRIMARY)
    key_arn, public_key, _ = config_key(kms, "aworld", admin("sts").get_caller_identity()["Arn"])
    for p in params.values():
        p["ConfigSignerKeyArn"], p["ConfigSignerPublicKey"] = key_arn, public_key

    with open(os.path.join(HERE, "..", "docs", "example-config.json")) as f:
        user_config = json.load(f)
    names = {r: names_in(template, p, r, account) for r, p in params.items()}
    config, _changes, problems = render_config(user_config, names)
    if problems:
        sys.exit("the example configuration does not match the template:\n" + "\n".join(problems))
    for region in params:
        admin("ssm", region).put_parameter(Name=PARAMETER, Value=signed_config(kms, key_arn, config), Type="String",
                                           Tier="Intelligent-Tiering", Overwrite=True)

    platform_resources(admin, account)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "")
    functions, skipped = {}, []
    for region in (PRIMARY, BACKUP):  # primary first: its stack owns the global tables
        s3 = admin("s3", region)
        bucket = f"aworld-artifacts-{region}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        for name in FUNCTIONS:
            s3.put_object(Bucket=bucket, Key=f"{name}.zip", Body=buf.getvalue())
        cfn_template = transformed(template, params[region], bucket)
        deployable = json.loads(json.dumps(cfn_template))
        # Emulator gap: moto resolves Ref to an event bus, inside a rule, to an object, not its name.
        buses = {logical: f"aworld-{logical.removesuffix('Bus').lower()}" for logical, res in deployable["Resources"].items()
                 if res["Type"] == "AWS::Events::EventBus"}
        for res in deployable["Resources"].values():
            if res["Type"] == "AWS::KMS::Key":
                # Emulator gap: moto's CloudFormation reads a key's tags as TagKey/TagValue (the
                # API's shape), not Key/Value (the template's); the key is tagged when made again.
                res["Properties"].pop("Tags", None)
            bus = res["Properties"].get("EventBusName") if res["Type"] == "AWS::Events::Rule" else None
            if isinstance(bus, dict) and bus.get("Ref") in buses:
                res["Properties"]["EventBusName"] = buses[bus["Ref"]]
        cfn = admin("cloudformation", region)
        cfn.create_stack(StackName="aworld-resilience", TemplateBody=json.dumps(deployable),
                         Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params[region].items()],
                         Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
        cfn.get_waiter("stack_create_complete").wait(StackName="aworld-resilience", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        r = resolver(cfn_template, params[region], region, account, physical(admin, region))
        create_skipped(admin, cfn_template, r, region, skipped)
        for name in FUNCTIONS:
            policies = function_policies(cfn_template, r, name)
            user = f"{name}-{region}"
            iam = admin("iam", region)
            iam.create_user(UserName=user)
            for policy_name, doc in policies:
                iam.put_user_policy(UserName=user, PolicyName=policy_name, PolicyDocument=json.dumps(doc))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            functions.setdefault(name, {})[region] = {
                "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"],
                "principal": f"arn:aws:iam::{account}:user/{user}", "granted": granted_actions(policies),
            }
    # As deploy.py does after the stacks: the configuration again, with the operator keys.
    keys, missing = operator_keys({r: admin("kms", r) for r in params}, "aworld")
    if missing:
        sys.exit(f"no operator key in {missing}")
    config, _changes, problems = render_config(user_config, names, keys)
    signed = signed_config(kms, key_arn, config)
    for region in params:
        admin("ssm", region).put_parameter(Name=PARAMETER, Value=signed, Type="String", Tier="Intelligent-Tiering", Overwrite=True)
    manifest = {
        "endpoint": endpoint, "account": account, "primary": PRIMARY, "backup": BACKUP, "hosted_zone_id": zone,
        "config_parameter": PARAMETER, "config": config, "config_bytes": len(minified(config)), "parameter_bytes": len(signed),
        "config_key": {"arn": key_arn, "region": PRIMARY, "public_key": public_key},
        "admin": {"access_key_id": admin_key[0], "secret_access_key": admin_key[1]},
        "functions": functions, "skipped": skipped,
    }
    with open(out_path, "w") as f:
        json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
