#!/usr/bin/env python3
"""Deploys the suite to both regions: uploads the arm64 zips built by `make package`, transforms
the SAM template offline (aws-sam-translator) and creates or updates one CloudFormation stack
per region through boto3 (standard credentials; AWS_ENDPOINT_URL points it at an emulator).

  .venv/bin/python infra/deploy.py --primary eu-south-1 --backup eu-north-1 \\
      --hosted-zone-id Z123 --record-name api.aworld.example. --config docs/example-config.json \\
      --operator-role arn:aws:iam::123456789012:role/aworld-oncall --alert-email oncall@aworld.example \\
      --primary-endpoint 192.0.2.10 --backup-endpoint 192.0.2.20 --bucket-prefix aworld-artifacts
"""
import argparse, copy, json, os, sys

import boto3
import yaml
from samtranslator.translator.transform import transform

HERE = os.path.dirname(os.path.abspath(__file__))
FUNCTIONS = ["dns-failover", "capacity-scaler", "backup-verifier", "user-throttle", "access-authorizer"]


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, !GetAtt, ...) as their long forms."""


def _tag(loader, suffix, node):
    key = suffix if suffix in ("Ref", "Condition") else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CfnLoader.add_multi_constructor("!", _tag)


class NoManagedPolicies:
    """The template uses inline policies only."""

    def load(self):
        return {}


def load_template():
    return yaml.load(open(os.path.join(HERE, "template.yaml")), Loader=CfnLoader)


def transformed(template, params, bucket):
    """The CloudFormation template, with each function's code in s3://bucket/<name>.zip."""
    template = copy.deepcopy(template)
    for res in template["Resources"].values():
        if res["Type"] == "AWS::Serverless::Function":
            res.pop("Metadata", None)
            binary = res["Properties"]["FunctionName"]["Fn::Sub"].split("}-", 1)[1]
            res["Properties"]["CodeUri"] = f"s3://{bucket}/{binary}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, params, NoManagedPolicies())


def upload(region, bucket, zips_dir):
    s3 = boto3.client("s3", region_name=region)
    try:
        kwargs = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **kwargs)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for name in FUNCTIONS:
        path = os.path.join(zips_dir, name, "bootstrap.zip")
        s3.upload_file(path, bucket, f"{name}.zip")


def deploy_stack(region, template, params, stack="aworld-resilience"):
    cfn = boto3.client("cloudformation", region_name=region)
    args = dict(
        StackName=stack,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    try:
        cfn.describe_stacks(StackName=stack)
        cfn.update_stack(**args)
        waiter = "stack_update_complete"
    except cfn.exceptions.ClientError as e:
        if "does not exist" not in str(e):
            raise
        cfn.create_stack(**args)
        waiter = "stack_create_complete"
    cfn.get_waiter(waiter).wait(StackName=stack)
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--primary", required=True)
    a.add_argument("--backup", required=True)
    a.add_argument("--hosted-zone-id", required=True)
    a.add_argument("--record-name", required=True)
    a.add_argument("--config", required=True, help="the suite configuration document (JSON file)")
    a.add_argument("--operator-role", required=True)
    a.add_argument("--alert-email", required=True)
    a.add_argument("--primary-endpoint", required=True)
    a.add_argument("--backup-endpoint", required=True)
    a.add_argument("--bucket-prefix", required=True)
    a.add_argument("--platform", default="aworld")
    a.add_argument("--zips", default=os.path.join(HERE, "..", "target", "lambda"))
    o = a.parse_args()
    template = load_template()
    config = json.dumps(json.load(open(o.config)))
    # Primary first: its stack owns the global tables the backup's functions use.
    for region, role, peer, peer_endpoint in [(o.primary, "primary", o.backup, o.backup_endpoint), (o.backup, "backup", o.primary, o.primary_endpoint)]:
        bucket = f"{o.bucket_prefix}-{region}"
        upload(region, bucket, o.zips)
        params = {
            "Platform": o.platform, "RegionRole": role, "PeerRegion": peer, "ResilienceConfig": config,
            "HostedZoneId": o.hosted_zone_id, "RecordName": o.record_name, "PeerEndpoint": peer_endpoint,
            "OperatorPrincipalArn": o.operator_role, "AlertEmail": o.alert_email,
        }
        status = deploy_stack(region, transformed(template, params, bucket), params)
        print(f"{region}: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
