#!/usr/bin/env python3
"""Deploys the suite to both regions: uploads the arm64 zips built by `make package`, transforms
the SAM template offline (aws-sam-translator) and creates or updates one CloudFormation stack
per region through boto3 (standard credentials; AWS_ENDPOINT_URL points it at an emulator).

  .venv/bin/python infra/deploy.py --primary eu-south-1 --backup eu-north-1 \\
      --hosted-zone-id Z123 --record-name api.aworld.example. --config docs/example-config.json \\
      --operator-role arn:aws:iam::123456789012:role/aworld-oncall --alert-email oncall@aworld.example \\
      --primary-endpoint 192.0.2.10 --backup-endpoint 192.0.2.20 --bucket-prefix aworld-artifacts
"""
import argparse, json, os, subprocess, sys

import boto3

from stack import (FUNCTIONS, HERE, SSM_ADVANCED_MAX, SSM_STANDARD_MAX, load_template, minified, names_in,
                   render_config, transformed)


def deployed_config(config_file, template, params_by_region, account, partition):
    """The configuration rendered for this deployment (names from the template), or exits with
    every problem listed."""
    with open(config_file) as f:
        user = json.load(f)
    names = {r: names_in(template, p, r, account, partition) for r, p in params_by_region.items()}
    cfg, changes, problems = render_config(user, names)
    for line in changes:
        print(f"config: {line}")
    if problems:
        print(f"refused: the configuration names {len(problems)} thing(s) the template does not create or grant:", file=sys.stderr)
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        sys.exit(2)
    return cfg


def validate(cfg, cli):
    """The same validation as a function's init (`resilience config check`)."""
    done = subprocess.run([cli, "config", "check", "-"], input=minified(cfg), text=True, capture_output=True)
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        sys.exit(2)


def put_config(region, name, cfg):
    """Writes the configuration parameter. Intelligent-Tiering: Standard up to 4 KB, Advanced
    (8 KB) above ("Managing parameter tiers"); anything larger is refused here."""
    text = minified(cfg)
    size = len(text.encode())
    if size > SSM_ADVANCED_MAX:
        sys.exit(f"refused: the configuration is {size} bytes; an SSM parameter holds at most {SSM_ADVANCED_MAX}")
    ssm = boto3.client("ssm", region_name=region)
    version = ssm.put_parameter(Name=name, Value=text, Type="String", Overwrite=True,
                                Tier="Intelligent-Tiering", Description="aworld-resilience configuration")["Version"]
    print(f"{region}: {name} version {version}, {size} bytes ({'Standard' if size <= SSM_STANDARD_MAX else 'Advanced'} tier)")
    return version


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
    a.add_argument("--config-parameter", default="/aworld/resilience/config")
    a.add_argument("--config-only", action="store_true", help="render, validate and write the configuration parameter only (no code deploy)")
    a.add_argument("--cli", default=os.path.join(HERE, "..", "target", "debug", "resilience"))
    a.add_argument("--zips", default=os.path.join(HERE, "..", "target", "lambda"))
    o = a.parse_args()
    template = load_template()
    # Account and partition come from the credentials that deploy, never from the example.
    caller = boto3.client("sts", region_name=o.primary).get_caller_identity()
    account, partition = caller["Account"], caller["Arn"].split(":")[1]
    stacks = [(o.primary, "primary", o.backup, o.backup_endpoint), (o.backup, "backup", o.primary, o.primary_endpoint)]
    params_by_region = {
        region: {
            "Platform": o.platform, "RegionRole": role, "PeerRegion": peer, "ConfigParameterName": o.config_parameter,
            "HostedZoneId": o.hosted_zone_id, "RecordName": o.record_name, "PeerEndpoint": peer_endpoint,
            "OperatorPrincipalArn": o.operator_role, "AlertEmail": o.alert_email,
        }
        for region, role, peer, peer_endpoint in stacks
    }
    cfg = deployed_config(o.config, template, params_by_region, account, partition)
    validate(cfg, o.cli)
    for region, *_ in stacks:
        put_config(region, o.config_parameter, cfg)
    if o.config_only:
        return 0
    # Primary first: its stack owns the global tables the backup's functions use.
    for region, *_ in stacks:
        bucket = f"{o.bucket_prefix}-{region}"
        upload(region, bucket, o.zips)
        params = params_by_region[region]
        status = deploy_stack(region, transformed(template, params, bucket), params)
        print(f"{region}: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
