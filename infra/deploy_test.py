#!/usr/bin/env python3
"""The SAM template, transformed offline (aws-sam-translator) and deployed to the local
emulator's CloudFormation (AWS_ENDPOINT_URL, set by scripts/with-moto.sh), then checked
resource by resource through boto3. What the emulator skips (GlobalTable, CloudWatch alarms,
Scheduler schedules, anomaly detectors) is covered by cfn-lint and checkov, not here."""
import io, os, sys, zipfile

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deploy import deploy_stack, load_template, transformed  # noqa: E402

REGION = "eu-north-1"
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
HERE = os.path.dirname(os.path.abspath(__file__))
FUNCTIONS = ["dns-failover", "capacity-scaler", "backup-verifier", "user-throttle", "access-authorizer"]
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + detail) if detail and not ok else ''}")


def main():
    template = load_template()
    s3 = boto3.client("s3", region_name=REGION)
    bucket = "resilience-artifacts"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "")
    for name in FUNCTIONS:
        s3.put_object(Bucket=bucket, Key=f"{name}.zip", Body=buf.getvalue())
    params = {
        "Platform": "aworld", "RegionRole": "backup", "PeerRegion": "eu-south-1",
        "ResilienceConfig": open(os.path.join(HERE, "..", "docs", "example-config.json")).read(),
        "HostedZoneId": "", "RecordName": "api.aworld.example.", "PeerEndpoint": "192.0.2.10",
        "OperatorPrincipalArn": "arn:aws:iam::123456789012:role/aworld-oncall",
        "AlertEmail": "oncall@aworld.example", "ApiName": "aworld-api", "ProtectedTableName": "aworld-orders",
    }
    r53 = boto3.client("route53", region_name="us-east-1")
    zone = r53.create_hosted_zone(Name="aworld.example.", CallerReference="infra-test")["HostedZone"]["Id"].split("/")[-1]
    params["HostedZoneId"] = zone

    cfn_template = transformed(template, params, bucket)
    check("SAM template transforms offline", "Transform" not in cfn_template and len(cfn_template["Resources"]) > len(template["Resources"]))
    lambdas = [k for k, v in cfn_template["Resources"].items() if v["Type"] == "AWS::Lambda::Function"]
    check("five Lambda functions after the transform", len(lambdas) == 5, str(lambdas))
    arm = all(cfn_template["Resources"][k]["Properties"].get("Architectures") == ["arm64"] for k in lambdas)
    check("every function is arm64 / provided.al2023 / 128 MB", arm and all(
        cfn_template["Resources"][k]["Properties"]["Runtime"] == "provided.al2023" and cfn_template["Resources"][k]["Properties"]["MemorySize"] == 128
        for k in lambdas))
    roles = [k for k, v in cfn_template["Resources"].items() if v["Type"] == "AWS::IAM::Role"]
    wide = []
    for k in roles:
        for pol in cfn_template["Resources"][k]["Properties"].get("Policies", []):
            for st in pol["PolicyDocument"]["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                mutating = [a for a in actions if not a.split(":")[1].startswith(("Describe", "Get", "List", "Query", "Scan", "BatchGet"))]
                if st.get("Resource") == "*" and mutating and "Condition" not in st:
                    wide.append((k, mutating))
    check("no mutating action on Resource '*' without a condition", not wide, str(wide))

    # Emulator gap: moto resolves {"Ref": <AWS::Events::EventBus>} inside a rule to an object,
    # not the bus name; give it the name the real service would resolve the Ref to.
    for res in cfn_template["Resources"].values():
        if res["Type"] == "AWS::Events::Rule" and res["Properties"].get("EventBusName") == {"Ref": "OperatorBus"}:
            res["Properties"]["EventBusName"] = "aworld-operator"
    status = deploy_stack(REGION, cfn_template, params)
    check("stack created in the emulator", status == "CREATE_COMPLETE", status)

    names = {f["FunctionName"] for f in boto3.client("lambda", region_name=REGION).list_functions()["Functions"]}
    check("functions deployed", all(f"aworld-{n}" in names for n in FUNCTIONS), str(names))
    topics = [t["TopicArn"] for t in boto3.client("sns", region_name=REGION).list_topics()["Topics"]]
    check("notification topic deployed", any(t.endswith(":aworld-resilience") for t in topics), str(topics))
    queues = boto3.client("sqs", region_name=REGION).list_queues().get("QueueUrls", [])
    check("dead-letter and detector queues deployed", any("dead-letters" in q for q in queues) and any("suspicious-activity" in q for q in queues), str(queues))
    events = boto3.client("events", region_name=REGION)
    rules = events.list_rules()["Rules"]
    check("EventBridge rules deployed (alarms, health, forwarding)", len(rules) >= 5, str([r["Name"] for r in rules]))
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    check("operator event bus deployed", "aworld-operator" in buses, str(buses))
    hcs = r53.list_health_checks()["HealthChecks"]
    check("CLOUDWATCH_METRIC health check deployed", any(h["HealthCheckConfig"]["Type"] == "CLOUDWATCH_METRIC" for h in hcs), str(hcs))
    records = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    check("peer region's weighted record with its health check", any(r.get("SetIdentifier") == "eu-south-1" and r.get("HealthCheckId") for r in records), str(records))

    failed = results.count(False)
    print(f"{results.count(True)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
