"""The alternative users would otherwise write: a Python/boto3 Lambda handler making the same
AWS calls as the dns-failover reaction, in the same order, under the same Runtime API loop
(the one the managed Python runtime runs). Used only by `make bench` (tools/src/bin/reaction.rs)
to compare cold start + first event. Configuration comes from RESILIENCE_CONFIG like the
function's; boto3 honours AWS_ENDPOINT_URL as the Rust SDK does.
"""

import json
import os
import time
import urllib.request
import uuid

import boto3  # noqa: E402  (imported at init, as a handler module would)

CONFIG = json.loads(os.environ["RESILIENCE_CONFIG"])
HOME = os.environ["AWS_REGION"]
DDB = boto3.client("dynamodb", region_name=HOME)
CW = {r: boto3.client("cloudwatch", region_name=r) for r in CONFIG["regions"]}
SNS = boto3.client("sns", region_name=HOME)


def handler(event):
    table = CONFIG["state_table"]
    key = str(uuid.uuid4())

    def item(pk):
        return {"pk": {"S": pk}, "sk": {"S": "x"}, "body": {"S": "{}"}}

    DDB.put_item(TableName=table, Item=item(f"key#{key}"), ConditionExpression="attribute_not_exists(pk)")
    DDB.put_item(TableName=table, Item=item(f"lease#{key}"), ConditionExpression="attribute_not_exists(pk)")
    DDB.get_item(TableName=table, Key={"pk": {"S": f"state#{key}"}, "sk": {"S": "x"}}, ConsistentRead=True)
    for region, rc in CONFIG["regions"].items():
        CW[region].describe_alarms(AlarmNames=rc["health_alarms"])
    ns = CONFIG["dns"]["health_metric"]["namespace"]
    metric = CONFIG["dns"]["health_metric"]["metric_name"]
    failed = event["region"]
    peer = next(r for r in CONFIG["regions"] if r != failed)
    dims = [{"Name": "Region", "Value": failed}]
    now = time.time()
    CW[peer].get_metric_data(
        MetricDataQueries=[{"Id": "d", "MetricStat": {"Metric": {"Namespace": ns, "MetricName": metric, "Dimensions": dims}, "Period": 1, "Stat": "Maximum"}}],
        StartTime=now - 300,
        EndTime=now,
    )
    CW[peer].put_metric_data(Namespace=ns, MetricData=[{"MetricName": metric, "Dimensions": dims, "Value": 1.0, "StorageResolution": 1}])
    DDB.put_item(TableName=table, Item=item(f"audit#{key}"))
    DDB.put_item(TableName=table, Item=item(f"state#{key}"))
    # The same message the function sends: a human form and a JSON form, with attributes.
    machine = json.dumps({"severity": "critical", "function": "dns-failover", "region": HOME,
                          "subject": f"Failover: {failed} drained", "summary": "What failed ...",
                          "body": {"decision": {"decision": "failover", "drain": failed, "target": peer}, "audit_id": key}})
    human = f"Failover: {failed} drained\n\nWhat failed ...\n\n-- machine-readable --\n{machine}"
    message = {"default": human, "email": human, "sqs": machine, "lambda": machine, "http": machine, "https": machine}
    attrs = {k: {"DataType": "String", "StringValue": v} for k, v in
             {"severity": "critical", "function": "dns-failover", "region": HOME}.items()}
    SNS.publish(TopicArn=CONFIG["notifications"]["topics"][HOME], Subject=f"Failover: {failed} drained",
                Message=json.dumps(message), MessageStructure="json", MessageAttributes=attrs)
    DDB.put_item(TableName=table, Item=item(f"state#{key}"))
    DDB.delete_item(TableName=table, Key={"pk": {"S": f"lease#{key}"}, "sk": {"S": "x"}})
    DDB.update_item(
        TableName=table,
        Key={"pk": {"S": f"key#{key}"}, "sk": {"S": "x"}},
        UpdateExpression="SET body = :b",
        ExpressionAttributeValues={":b": {"S": "done"}},
    )
    return {"decision": {"decision": "failover", "drain": failed, "target": peer}}


def main():
    api = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/invocation"
    while True:
        with urllib.request.urlopen(f"{api}/next") as r:
            request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
            event = json.loads(r.read())
        body = json.dumps(handler(event)).encode()
        urllib.request.urlopen(urllib.request.Request(f"{api}/{request_id}/response", data=body, method="POST")).read()


if __name__ == "__main__":
    main()
