#!/usr/bin/env python3
"""Deploys the suite to both regions with the SAM CLI, doing first what SAM cannot.

The inputs are infra/samconfig.toml (one environment per region: `primary`, `backup`) and the
suite configuration document. In order:
1. the configuration is rendered from the template's names for this deployment (account and
   partition from the deploying credentials, `ACCOUNT` in samconfig.toml replaced by it), and a
   configuration naming an alarm, table or function the template does not create or grant is
   refused with each one listed (infra/stack.py);
2. it is validated exactly as a function's init validates it (`resilience config check`);
3. it is signed with the deploy's configuration key and written to the SSM parameter in both
   regions (Intelligent-Tiering: Advanced above 4 KB) — SAM cannot: the document does not fit a
   CloudFormation parameter (4,096 bytes) nor a function's environment (4 KB in all). The key
   (KMS, ECC_NIST_P256, in the primary region) is made on the first deploy with a policy naming
   only the deploying principal; its public key is pinned in both stacks (ConfigSignerPublicKey,
   the functions' RESILIENCE_CONFIG_SIGNER) and its ARN too (ConfigSignerKeyArn: later deploys
   find it there, never by an alias anyone with kms:UpdateAlias could repoint). The functions
   accept only documents it signed (shared/src/config/signed.rs);
4. `sam deploy --config-env primary`, then `--config-env backup` (the primary stack owns the
   global tables the backup's functions use; SAM deploys one stack per command);
5. the configuration rendered and written again with both stacks' operator keys (KMS
   `GetPublicKey` of `alias/<platform>-operator`): on a first deploy they did not exist yet.

  .venv/bin/python infra/deploy.py --config docs/example-config.json            # everything
  .venv/bin/python infra/deploy.py --config my-config.json --config-only        # a configuration change, no code deploy
"""
import argparse
import json
import os
import subprocess
import sys
import tomllib

import boto3

from stack import (HERE, SSM_ADVANCED_MAX, SSM_STANDARD_MAX, cargo_target_dir, config_key, deployer_principal, load_template, minified, names_in,
                   guardrail, operator_keys, render_config, signed_config, stack_reserved, transformed)

ENVIRONMENTS = ("primary", "backup")


def sam_parameters(samconfig, env, account):
    """The stack parameters of one samconfig.toml environment, ACCOUNT replaced."""
    section = samconfig[env]["deploy"]["parameters"]
    overrides = section["parameter_overrides"]
    if isinstance(overrides, str):
        overrides = overrides.split()
    params = dict(item.split("=", 1) for item in overrides)
    return section["region"], {k: v.replace("ACCOUNT", account) for k, v in params.items()}


def deployed_config(config_file, template, params_by_region, account, partition):
    """The configuration rendered for this deployment (names from the template, the operator
    keys from KMS), or exits with every problem listed."""
    with open(config_file) as f:
        user = json.load(f)
    names = {r: names_in(template, p, r, account, partition) for r, p in params_by_region.items()}
    platform = next(iter(params_by_region.values())).get("Platform", "aworld")
    keys, missing = operator_keys({r: boto3.client("kms", region_name=r) for r in params_by_region}, platform)
    for region in missing:
        print(f"config: {region} has no operator key yet (first deploy): commands signed there are refused until the configuration is written again after its stack")
    cfg, changes, problems = render_config(user, names, keys)
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
    print(done.stdout.strip())
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        sys.exit(2)


def pinned_config_key(region, stack_name):
    """The configuration key ARN the deployed stack pins (None before the first deploy)."""
    cfn = boto3.client("cloudformation", region_name=region)
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        return None
    return next((p["ParameterValue"] for p in stack.get("Parameters", []) if p["ParameterKey"] == "ConfigSignerKeyArn"), None) or None


def put_config(region, name, cfg, signer):
    """Writes the configuration parameter, signed (`signer`: (kms client, key ARN)).
    Intelligent-Tiering: Standard up to 4 KB, Advanced (8 KB) above ("Managing parameter
    tiers"); anything larger is refused here."""
    text = signed_config(signer[0], signer[1], cfg)
    size = len(text.encode())
    if size > SSM_ADVANCED_MAX:
        sys.exit(f"refused: the configuration is {size} bytes; an SSM parameter holds at most {SSM_ADVANCED_MAX}")
    ssm = boto3.client("ssm", region_name=region)
    version = ssm.put_parameter(Name=name, Value=text, Type="String", Overwrite=True,
                                Tier="Intelligent-Tiering", Description="aworld-resilience configuration")["Version"]
    print(f"{region}: {name} version {version}, {size} bytes ({'Standard' if size <= SSM_STANDARD_MAX else 'Advanced'} tier)")
    return version


def preflight(cli, template, params_by_region, enable_high_throughput):
    """`resilience preflight` for every Region and principal the stacks name; exits on a FAIL."""
    reserve = max(stack_reserved(transformed(template, p, "preflight")) for p in params_by_region.values())
    cmd = [cli, "preflight", "--reserve", str(reserve)]
    for region in params_by_region:
        cmd += ["--region", region]
    some = next(iter(params_by_region.values()))
    for name in ("Operator", "Detector"):
        if some.get(f"{name}PrincipalArn"):
            cmd += ["--principal", f"{name}={some[f'{name}PrincipalArn']}"]
    if enable_high_throughput:
        cmd.append("--enable-high-throughput")
    print("+ " + " ".join(cmd), flush=True)
    if subprocess.run(cmd).returncode != 0:
        sys.exit("refused: the preflight failed (above, each with its fix); nothing was created")


def drained_records(cfg):
    """The regions whose weighted record is not at its configured weight: drained by
    dns-failover's control-plane strategy. A stack update that touches the template's record
    would put its `Weight: 100` back and send traffic to a drained region, so the deploy stops."""
    dns = cfg["dns"]
    r53 = boto3.client("route53")
    page = r53.list_resource_record_sets(HostedZoneId=dns["hosted_zone_id"], StartRecordName=dns["record_name"])
    want = dns["record_name"].rstrip(".")
    live = {r.get("SetIdentifier"): r.get("Weight") for r in page["ResourceRecordSets"] if r["Name"].rstrip(".") == want}
    out = []
    for region, rec in sorted(dns["records"].items()):
        weight = live.get(rec["set_identifier"])
        if weight is not None and weight != rec.get("weight", 100):
            out.append(f"{region}: record {rec['set_identifier']} is at weight {weight}, not {rec.get('weight', 100)}")
    return out


def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--config", required=True, help="the suite configuration document (JSON file)")
    a.add_argument("--samconfig", default=os.path.join(HERE, "samconfig.toml"))
    a.add_argument("--config-only", action="store_true", help="render, validate and write the configuration parameter only (no code deploy)")
    a.add_argument("--cli", default=os.environ.get("RESILIENCE_CLI") or os.path.join(cargo_target_dir(), "debug", "resilience"))
    a.add_argument("--sam", default="sam")
    a.add_argument("--deployer-arn", help="the IAM principal that deploys (default: from the credentials; give it for a role with a path)")
    a.add_argument("--new-config-key", action="store_true",
                   help="make a new configuration key and pin it (rotation; the old key stays until you schedule its deletion)")
    a.add_argument("--print-guardrail", action="store_true",
                   help="print the guardrail SCP (infra/guardrail.json) rendered for this deploy, to attach in your organization, and stop")
    a.add_argument("--break-glass-arn", help="with --print-guardrail: the break-glass role (default: role/break-glass in the deploying account)")
    a.add_argument("--canary-role-arn", help="with --print-guardrail: the Synthetics canary's execution role (default: role/<platform>-canary)")
    a.add_argument("--enable-high-throughput", action="store_true",
                   help="let the preflight raise Parameter Store to high throughput where it is standard (billed per API interaction)")
    a.add_argument("--allow-weight-reset", action="store_true",
                   help="deploy even while a region is drained by weight (the update may restore its weight and its traffic)")
    o = a.parse_args()
    with open(o.samconfig, "rb") as f:
        samconfig = tomllib.load(f)
    # Account and partition come from the credentials that deploy, never from the example.
    caller = boto3.client("sts").get_caller_identity()
    account, partition = caller["Account"], caller["Arn"].split(":")[1]
    stacks = {env: sam_parameters(samconfig, env, account) for env in ENVIRONMENTS}
    params_by_region = dict(stacks.values())
    names = {p["ConfigParameterName"] for p in params_by_region.values()}
    if len(names) != 1 or len(params_by_region) != 2:
        sys.exit(f"refused: {o.samconfig} must deploy two regions with one ConfigParameterName (found {sorted(params_by_region)}, {sorted(names)})")
    parameter = names.pop()
    stack_names = {samconfig[env]["deploy"]["parameters"]["stack_name"] for env in ENVIRONMENTS}
    if len(stack_names) != 1:
        sys.exit(f"refused: {o.samconfig} names the stacks {sorted(stack_names)}: both regions' stacks must share one name "
                 "(the tables' resource policies and the guardrail allow the stack's roles by it)")
    template = load_template()
    if o.print_guardrail:
        platform = next(iter(params_by_region.values())).get("Platform", "aworld")
        print(json.dumps(guardrail(platform, samconfig["primary"]["deploy"]["parameters"]["stack_name"],
                                   o.deployer_arn or deployer_principal(caller["Arn"]),
                                   o.break_glass_arn or f"arn:{partition}:iam::{account}:role/break-glass", parameter,
                                   o.canary_role_arn or f"arn:{partition}:iam::{account}:role/{platform}-canary"), indent=1))
        return 0
    # Before anything is created (the configuration key included): the account must be able
    # to hold the stacks (Lambda quota, Regions enabled, principals, Parameter Store throughput).
    # A configuration-only rollout creates nothing, so needs no preflight.
    if not o.config_only:
        preflight(o.cli, template, params_by_region, o.enable_high_throughput)
    primary_region = stacks["primary"][0]
    pinned = None if o.new_config_key else pinned_config_key(primary_region, samconfig["primary"]["deploy"]["parameters"]["stack_name"])
    if o.config_only and not pinned:
        sys.exit("refused: no deployed stack pins a configuration key yet, so the functions would refuse this document (fix: make deploy)")
    kms = boto3.client("kms", region_name=primary_region)
    key_arn, public_key, created = config_key(kms, next(iter(params_by_region.values())).get("Platform", "aworld"),
                                              o.deployer_arn or deployer_principal(caller["Arn"]), pinned)
    if created:
        print(f"config: made the configuration key {key_arn} (only the deployer may use or administer it; "
              "after deleting the stacks, schedule its deletion: aws kms schedule-key-deletion --key-id <arn>)")
    for _region, params in stacks.values():
        params["ConfigSignerKeyArn"], params["ConfigSignerPublicKey"] = key_arn, public_key
    signer = (kms, key_arn)
    cfg = deployed_config(o.config, template, params_by_region, account, partition)
    validate(cfg, o.cli)
    if not o.new_config_key:
        # Before the stacks, except on a rotation: the running functions pin the old key and
        # would refuse a document signed by the new one until their stack is updated.
        for region in params_by_region:
            put_config(region, parameter, cfg, signer)
    if o.config_only:
        return 0
    drained = drained_records(cfg)
    if drained and not o.allow_weight_reset:
        print("refused: a region is drained by weight; a stack update can restore the template's weight and send traffic to it:", file=sys.stderr)
        for line in drained:
            print(f"  - {line}", file=sys.stderr)
        print("fix: fail the region back first (resilience send failback), or deploy with --allow-weight-reset", file=sys.stderr)
        return 3
    for env in ENVIRONMENTS:
        region, params = stacks[env]
        overrides = [f"{k}={v}" for k, v in params.items()]
        cmd = [o.sam, "deploy", "--config-file", o.samconfig, "--config-env", env, "--parameter-overrides", *overrides]
        print("+ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=HERE, check=True)
    # The stacks own the operator keys: the configuration names their public keys, so it is
    # rendered and written again now that both exist (a first deploy had none).
    cfg = deployed_config(o.config, template, params_by_region, account, partition)
    validate(cfg, o.cli)
    for region in params_by_region:
        put_config(region, parameter, cfg, signer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
