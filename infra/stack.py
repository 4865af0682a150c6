"""The SAM template as data: read it, transform it offline, resolve its intrinsic functions for
one region, and derive from it the names the suite's configuration must use.

One source of names: the deployed configuration takes every deployment-owned name (platform,
topics, tables, drain namespace, schedules, event sources, operator principal, zone, record)
from the template and the stack parameters, and a configuration that names an alarm, table or
function the template does not create or grant is refused, each one listed. Used by deploy.py
(the real deploy) and by the tests (the same template deployed to the emulator)."""
import copy
import json
import os
import subprocess

import yaml
from samtranslator.translator.transform import transform

HERE = os.path.dirname(os.path.abspath(__file__))


def cargo_target_dir():
    """Where cargo builds (CARGO_TARGET_DIR, build.target-dir or ./target): asked of cargo itself."""
    out = subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=os.path.join(HERE, ".."))
    return json.loads(out)["target_directory"]
FUNCTIONS = ["dns-failover", "capacity-scaler", "backup-verifier", "user-throttle", "access-authorizer", "readiness-check"]

# Documented size limits the deployment depends on.
CFN_PARAMETER_MAX = 4096  # CloudFormation quotas: "Parameter value", 4,096 bytes
LAMBDA_ENV_MAX = 4096  # Lambda quotas: "Function environment variables", 4 KB in aggregate
SSM_STANDARD_MAX = 4096  # Parameter Store tiers: Standard 4 KB
SSM_ADVANCED_MAX = 8192  # Parameter Store tiers: Advanced 8 KB


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
    with open(os.path.join(HERE, "template.yaml")) as f:
        return yaml.load(f, Loader=CfnLoader)


def guardrail(platform, stack, deployer, break_glass, parameter, canary_role):
    """The shipped guardrail (infra/guardrail.json), an SCP for the suite's account: what it
    denies to every principal but the suite's roles (`<stack>-*`), the deployer and the
    break-glass role. SCPs do not apply to service principals (EventBridge, SNS, CloudWatch
    alarm actions) nor to service-linked roles (global-table replication)."""
    with open(os.path.join(HERE, "guardrail.json")) as f:
        text = f.read()
    for key, value in {"Platform": platform, "Stack": stack, "Deployer": deployer, "BreakGlass": break_glass,
                       "ConfigParameter": parameter, "CanaryRole": canary_role}.items():
        text = text.replace("${" + key + "}", value)
    return json.loads(text)


def stack_reserved(cfn):
    """Lambda concurrency the (transformed) stack reserves in its Region: the sum of its
    functions' ReservedConcurrentExecutions (the preflight compares it with the account's
    quota)."""
    return sum(int(v["Properties"].get("ReservedConcurrentExecutions", 0))
               for v in cfn["Resources"].values() if v["Type"] == "AWS::Lambda::Function")


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


def parameters(template, given):
    """The stack parameters with the template's defaults filled in."""
    out = {k: v["Default"] for k, v in template.get("Parameters", {}).items() if "Default" in v}
    out.update(given)
    return out


class Resolver:
    """Resolves Ref, Fn::Sub, Fn::GetAtt, Fn::Join, Fn::If for one region, as CloudFormation
    would: parameters, pseudo parameters, and `refs` (logical id -> Ref value) / `attrs`
    ((logical id, attribute) -> value) for resources."""

    def __init__(self, template, params, region, account, partition="aws", refs=None, attrs=None):
        self.params = parameters(template, params)
        self.conditions = template.get("Conditions", {})
        self.pseudo = {"AWS::Region": region, "AWS::AccountId": account, "AWS::Partition": partition,
                       "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "aworld-resilience", "AWS::NoValue": None}
        self.refs = refs or {}
        self.attrs = attrs or {}

    def ref(self, name):
        for table in (self.pseudo, self.params, self.refs):
            if name in table:
                return table[name]
        raise KeyError(f"cannot resolve Ref {name}")

    def condition(self, name):
        return bool(self(self.conditions[name]))

    def __call__(self, node):
        if isinstance(node, list):
            return [self(n) for n in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self(v) for k, v in arg[1].items()})
                return self._sub(text, extra)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                if (logical, attribute) not in self.attrs:
                    raise KeyError(f"cannot resolve GetAtt {logical}.{attribute}")
                return self.attrs[(logical, attribute)]
            if key == "Fn::Join":
                items = arg[1] if isinstance(arg[1], list) else self(arg[1])
                return arg[0].join(str(self(v)) for v in items)
            if key == "Fn::Split":
                return str(self(arg[1])).split(arg[0])
            if key == "Fn::Equals":
                return self(arg[0]) == self(arg[1])
            if key == "Fn::Not":
                return not self(arg[0])
            if key == "Fn::If":
                return self(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Condition":
                return self.condition(arg)
        return {k: self(v) for k, v in node.items()}

    def _sub(self, text, extra):
        out, i = [], 0
        while True:
            j = text.find("${", i)
            if j < 0:
                return "".join(out) + text[i:]
            k = text.index("}", j)
            out.append(text[i:j])
            name = text[j + 2:k]
            if name in extra:
                value = extra[name]
            elif "." in name:
                value = self.attrs.get(tuple(name.split(".", 1)))
                if value is None:
                    raise KeyError(f"cannot resolve ${{{name}}}")
            else:
                value = self.ref(name)
            out.append(str(value))
            i = k + 1


def names_in(template, params, region, account, partition="aws"):
    """What the template creates (or grants) in `region`: the names a configuration must use.
    `template` is the SAM template (before the transform)."""
    resources = template["Resources"]
    # Ref of a named resource, as CloudFormation returns it: alarms and tables give their name.
    probe = Resolver(template, params, region, account, partition)
    refs = {}
    for logical, res in resources.items():
        props = res.get("Properties", {})
        for key in ("AlarmName", "TableName", "Name", "QueueName"):
            if key in props:
                try:
                    refs[logical] = probe(props[key])
                except KeyError:
                    pass
    topic_name = probe(resources["AlertsTopic"]["Properties"]["TopicName"])
    refs["AlertsTopic"] = f"arn:{partition}:sns:{region}:{account}:{topic_name}"
    r = Resolver(template, params, region, account, partition, refs=refs)
    made = {logical: res for logical, res in resources.items() if "Condition" not in res or r.condition(res["Condition"])}
    alarms = sorted(r(res["Properties"]["AlarmName"]) for res in made.values()
                    if res["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"))
    practice = "PracticePeerDrainAlarm" in made
    schedules = {}
    sources = {}
    for logical, res in resources.items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        for event_id, ev in res["Properties"].get("Events", {}).items():
            if ev["Type"] == "ScheduleV2" and "Name" in ev["Properties"]:
                schedules[event_id] = r(ev["Properties"]["Name"])
            pattern = ev["Properties"].get("Pattern", {}) if ev["Type"] == "EventBridgeRule" else {}
            for source in r(pattern.get("source", [])):
                if isinstance(source, str) and not source.startswith("aws."):
                    sources.setdefault(source.rsplit(".", 1)[-1], source)
    p = r.params
    # IAM grants that bound what a configuration may name (the template's policy resources).
    return {
        "platform": p["Platform"],
        "alarms": alarms,
        "topic": refs["AlertsTopic"],
        "state_table": r(resources["StateTable"]["Properties"]["TableName"]),
        "throttle_table": r(resources["ThrottleTable"]["Properties"]["TableName"]),
        "drain_namespace": r(resources["PeerDrainAlarm"]["Properties"]["Namespace"]),
        "drain_metric": r(resources["PeerDrainAlarm"]["Properties"]["MetricName"]),
        # The alarm for the peer region, with the region as the configuration's placeholder.
        "drain_alarm": r(resources["PeerDrainAlarm"]["Properties"]["AlarmName"]).replace(p["PeerRegion"], "{region}"),
        "dns_failover_timeout": int(resources["DnsFailover"]["Properties"]["Timeout"]),
        "schedules": schedules,
        "operator_source": sources.get("operator"),
        "detector_source": sources.get("detector"),
        "operator_principal": p.get("OperatorPrincipalArn"),
        "hosted_zone_id": p.get("HostedZoneId"),
        "record_name": p.get("RecordName"),
        # The practice failover drill's name and wiring, when the stack makes them.
        "practice_record": p.get("PracticeRecordName") if practice else None,
        "practice_namespace": r(resources["PracticePeerDrainAlarm"]["Properties"]["Namespace"]) if practice else None,
        "practice_metric": r(resources["PracticePeerDrainAlarm"]["Properties"]["MetricName"]) if practice else None,
        "practice_alarm": r(resources["PracticePeerDrainAlarm"]["Properties"]["AlarmName"]).replace(p["PeerRegion"], "{region}") if practice else None,
        # This region's trigger alarms (its practice health alarms) and their metric.
        "practice_triggers": sorted(r(made[k]["Properties"]["AlarmName"]) for k in made if k.startswith("PracticeTriggerAlarm")),
        "practice_trigger_metric": {"namespace": r(resources["PracticeTriggerAlarmA"]["Properties"]["Namespace"]),
                                    "metric_name": r(resources["PracticeTriggerAlarmA"]["Properties"]["MetricName"])} if practice else None,
        "protected_table": p["ProtectedTableName"],
        "scaled_function_prefix": f"{p['Platform']}-api",
        # The usage plans' API keys and rates, when the stack creates them (an ApiId is given).
        "usage_plans": {
            name: {"key": r(resources[f"{logical}UsagePlanKey"]["Properties"]["Value"]),
                   "rps": float(r(resources[f"{logical}UsagePlan"]["Properties"]["Throttle"]["RateLimit"]))}
            for logical, name in (("Default", "default"), ("RateLimited", "rate-limited"), ("Strict", "strict"))
        } if r.condition("HasApi") else None,
    }


def operator_keys(kms_by_region, platform):
    """operators.signing_keys: each region's operator key (the template's `alias/<platform>-operator`)
    with its public key as KMS GetPublicKey returns it (DER SubjectPublicKeyInfo, base64 here).
    A region whose stack does not exist yet has no key: returned in `missing`."""
    import base64
    keys, missing = [], []
    for region, kms in sorted(kms_by_region.items()):
        try:
            out = kms.get_public_key(KeyId=f"alias/{platform}-operator")
        except kms.exceptions.NotFoundException:
            missing.append(region)
            continue
        # GetPublicKey answers KeySpec and its deprecated twin CustomerMasterKeySpec (the
        # emulator only the latter).
        spec = out.get("KeySpec") or out.get("CustomerMasterKeySpec")
        if spec != "ECC_NIST_P256" or out.get("KeyUsage") != "SIGN_VERIFY":
            raise SystemExit(f"refused: alias/{platform}-operator in {region} is {spec}/{out.get('KeyUsage')}, not ECC_NIST_P256/SIGN_VERIFY")
        # The key's ARN from DescribeKey: the commands name it and the CLI picks a region's key by it.
        arn = kms.describe_key(KeyId=f"alias/{platform}-operator")["KeyMetadata"]["Arn"]
        keys.append({"key_id": arn, "public_key": base64.b64encode(out["PublicKey"]).decode()})
    return keys, missing


def render_config(user, names_by_region, signing_keys=None):
    """The configuration as deployed: `user` (a configuration document, dict) with every
    deployment-owned name taken from the template (`names_by_region`: region -> names_in(...)).
    Returns (config, changes, problems): what was set and why, and what the template cannot
    satisfy (each one a line naming the field and the fix). Problems mean: do not deploy."""
    cfg = copy.deepcopy(user)
    changes, problems = [], []
    regions = sorted(names_by_region)
    any_names = names_by_region[regions[0]]

    def own(path, value):
        node = cfg
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if node.get(path[-1]) != value:
            changes.append(f"{'.'.join(path)}: {json.dumps(node.get(path[-1]))} -> {json.dumps(value)} (from the template)")
            node[path[-1]] = value

    own(["platform"], any_names["platform"])
    own(["notifications", "topics"], {r: names_by_region[r]["topic"] for r in regions})
    own(["state_table"], any_names["state_table"])
    own(["dns", "hosted_zone_id"], any_names["hosted_zone_id"])
    own(["dns", "record_name"], any_names["record_name"])
    if "health-metric" in cfg.get("dns", {}).get("strategies", []) or "health_metric" in cfg.get("dns", {}):
        own(["dns", "health_metric", "namespace"], any_names["drain_namespace"])
        own(["dns", "health_metric", "metric_name"], any_names["drain_metric"])
        own(["dns", "health_metric", "alarm_name"], any_names["drain_alarm"])
    own(["dns", "function_timeout_seconds"], any_names["dns_failover_timeout"])
    own(["operators", "sources"], [any_names["operator_source"]])
    own(["operators", "principals"], [any_names["operator_principal"]])
    if signing_keys is not None:
        own(["operators", "signing_keys"], signing_keys)
    plans = any_names.get("usage_plans")
    if plans and cfg.get("auth") is not None:
        own(["auth", "default_usage_plan_key"], plans["default"]["key"])
        by_key = {v["key"]: (name, v["rps"]) for name, v in plans.items() if name != "default"}
        for i, level in enumerate((cfg.get("throttle") or {}).get("levels", [])):
            if level.get("block"):
                continue
            key = level.get("usage_plan_key")
            if key not in by_key:
                problems.append(f"throttle.levels[{i}] ({level.get('name')}): usage_plan_key {key} is not a plan key the template creates "
                                f"(fix: one of {sorted(by_key)})")
            elif level.get("limit_rps") is not None and float(level["limit_rps"]) != by_key[key][1]:
                problems.append(f"throttle.levels[{i}] ({level.get('name')}): limit_rps {level['limit_rps']} but the {by_key[key][0]} plan's rate is "
                                f"{by_key[key][1]:g} (fix: make them equal: the template's {by_key[key][0]} rate parameter or limit_rps)")
    if cfg.get("throttle") is not None:
        own(["throttle", "table"], any_names["throttle_table"])
        own(["throttle", "detector_sources"], [any_names["detector_source"]])
    drill = (cfg.get("backup") or {}).get("drill")
    if drill:
        drill_region = drill.get("region")
        if drill_region not in names_by_region:
            problems.append(f"backup.drill.region: {drill_region} is not a deployed region (fix: one of {regions})")
        else:
            own(["backup", "drill", "schedules"], [names_by_region[drill_region]["schedules"]["RestoreDrill"]])

    fd = cfg.get("failover_drill")
    if fd:
        if not fd.get("use_production_record"):
            if not any_names.get("practice_record"):
                problems.append("failover_drill: the template makes no practice name (fix: set PracticeRecordName in samconfig.toml, "
                                "or remove failover_drill)")
            else:
                own(["failover_drill", "record_name"], any_names["practice_record"])
                own(["failover_drill", "records"], {r: {"set_identifier": r, "weight": 100} for r in regions})
                if "health-metric" in cfg.get("dns", {}).get("strategies", []):
                    own(["failover_drill", "health_metric", "namespace"], any_names["practice_namespace"])
                    own(["failover_drill", "health_metric", "metric_name"], any_names["practice_metric"])
                    own(["failover_drill", "health_metric", "alarm_name"], any_names["practice_alarm"])
        drilled = fd.get("region")
        if drilled not in names_by_region:
            problems.append(f"failover_drill.region: {drilled} is not a deployed region (fix: one of {regions})")
        else:
            own(["failover_drill", "trigger_alarms"], names_by_region[drilled]["practice_triggers"])
            if names_by_region[drilled].get("practice_trigger_metric"):
                own(["failover_drill", "trigger_metric"], names_by_region[drilled]["practice_trigger_metric"])
            own(["failover_drill", "schedules"], [names_by_region[r]["schedules"]["FailoverDrill"] for r in regions if r != drilled])

    configured = set(cfg.get("regions", {}))
    if configured != set(regions):
        problems.append(f"regions: {sorted(configured)} but the deployment is to {regions} (fix: configure exactly the deployed regions)")
    for region, rc in sorted(cfg.get("regions", {}).items()):
        created = set(names_by_region.get(region, {}).get("alarms", []))
        for name in list(rc.get("health_alarms", [])) + ([rc["composite_alarm"]] if rc.get("composite_alarm") else []):
            if name not in created:
                problems.append(f"regions.{region}: alarm {name} is not created by the template in {region} "
                                f"(fix: use one of {sorted(a for a in created if '-health-' in a)})")
    for i, res in enumerate((cfg.get("capacity") or {}).get("resources", [])):
        region = res.get("region")
        created = set(names_by_region.get(region, {}).get("alarms", []))
        for name in res.get("saturation_alarms", []):
            if name not in created:
                problems.append(f"capacity.resources[{i}]: saturation alarm {name} is not created by the template in {region} "
                                f"(fix: use one of {sorted(a for a in created if '-saturation-' in a)})")
        target = res.get("target", {})
        prefix = any_names["scaled_function_prefix"]
        function = target.get("function_name") or (target.get("resource_id", "").split(":")[1] if target.get("service_namespace") == "lambda" else None)
        if function is not None and not function.startswith(prefix):
            problems.append(f"capacity.resources[{i}]: function {function} is outside the template's grant {prefix}* "
                            f"(fix: name functions {prefix}*, or widen the capacity policy in infra/template.yaml)")
        if target.get("service_namespace") == "dynamodb":
            table = target.get("resource_id", "").split("/")[1] if "/" in target.get("resource_id", "") else ""
            if table != any_names["protected_table"]:
                problems.append(f"capacity.resources[{i}]: table {table} is not the template's ProtectedTableName {any_names['protected_table']}")
    allowed_tables = {any_names["protected_table"]}
    prefix = any_names["platform"] + "-"
    for table in cfg.get("protected_tables", []):
        if table not in allowed_tables and not table.startswith(prefix):
            problems.append(f"protected_tables: {table} is outside backup-verifier's grant ({any_names['protected_table']} or {prefix}*)")
    if drill and drill.get("table") not in allowed_tables:
        problems.append(f"backup.drill.table: {drill.get('table')} is not the template's ProtectedTableName {any_names['protected_table']} "
                        "(the drill's scratch-table grant is <ProtectedTableName>-drill-*)")
    return cfg, changes, problems


def minified(cfg):
    return json.dumps(cfg, separators=(",", ":"), sort_keys=False)


# ---- the signed configuration (shared/src/config/signed.rs is the verifying side) -----------
CONFIG_FORMAT = "aworld-resilience signed configuration 1"


def config_statement(signed_at, text):
    """What the deploy signs: short, because KMS Sign with MessageType RAW takes at most 4,096
    bytes ("Sign", AWS KMS API Reference) and the document is larger."""
    import hashlib
    return f"{CONFIG_FORMAT}\nsigned_at: {signed_at}\nsha256: {hashlib.sha256(text.encode()).hexdigest()}\n"


def signed_config(kms, key_arn, cfg, signed_at=None):
    """The parameter's value: the minified document in an envelope signed with `key_arn`
    (ECDSA_SHA_256). The functions refuse anything else."""
    import base64
    import datetime
    signed_at = signed_at or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = minified(cfg)
    sig = kms.sign(KeyId=key_arn, Message=config_statement(signed_at, text).encode(), MessageType="RAW",
                   SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    return json.dumps({"format": CONFIG_FORMAT, "signed_at": signed_at, "key_id": key_arn,
                       "signature": base64.b64encode(sig).decode(), "config": text}, separators=(",", ":"))


def deployer_principal(caller_arn):
    """The IAM principal behind the deploying credentials: an assumed-role session's role
    (`arn:aws:sts::A:assumed-role/R/s` -> `arn:aws:iam::A:role/R`), a user as it is. A role with
    a path cannot be rebuilt from its session ARN: pass it with --deployer-arn."""
    parts = caller_arn.split(":")
    if parts[5] == "root":
        # A key policy naming the account root delegates the key to every IAM policy.
        raise SystemExit("refused: deploy as an IAM role or user, not the account root (its key policy would let IAM grant the configuration key to anyone)")
    if parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5].split("/")[1]
        return f"arn:{parts[1]}:iam::{parts[4]}:role/{role}"
    return caller_arn


def config_key_policy(deployer_arn):
    """Only the deployer may sign with, read or administer the configuration key. No statement
    names the account root, so IAM policies cannot grant it to anyone else ("Default key
    policy": the root statement is what delegates a key to IAM) — KMS administration through
    IAM, which common power-user roles have, reaches nothing here."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "DeployerOnly", "Effect": "Allow", "Principal": {"AWS": deployer_arn}, "Action": "kms:*", "Resource": "*"},
    ]}


def config_key(kms, platform, deployer_arn, pinned_arn=None):
    """The deploy's configuration key: the one the deployed stack pins (by ARN: an alias can be
    repointed by anyone with kms:UpdateAlias), or a new one on a first deploy. Returns
    (arn, base64 DER public key, created)."""
    import base64
    created = False
    if pinned_arn:
        meta = kms.describe_key(KeyId=pinned_arn)["KeyMetadata"]
        if meta.get("KeyState") != "Enabled":
            raise SystemExit(f"refused: the configuration key {pinned_arn} pinned by the stack is {meta.get('KeyState')} "
                             "(fix: re-enable it, or pass --new-config-key to create and pin another)")
        arn = meta["Arn"]
    else:
        arn = kms.create_key(Description=f"{platform}-resilience configuration: only the deploy signs",
                             KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256", Policy=json.dumps(config_key_policy(deployer_arn)),
                             Tags=[{"TagKey": "aworld-resilience:platform", "TagValue": platform},
                                   {"TagKey": "aworld-resilience:role", "TagValue": "config-signer"}])["KeyMetadata"]["Arn"]
        created = True
    out = kms.get_public_key(KeyId=arn)
    spec = out.get("KeySpec") or out.get("CustomerMasterKeySpec")
    if spec != "ECC_NIST_P256" or out.get("KeyUsage") != "SIGN_VERIFY":
        raise SystemExit(f"refused: the configuration key {arn} is {spec}/{out.get('KeyUsage')}, not ECC_NIST_P256/SIGN_VERIFY")
    return arn, base64.b64encode(out["PublicKey"]).decode(), created
