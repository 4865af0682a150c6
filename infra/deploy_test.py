#!/usr/bin/env python3
"""The deployment's own checks, offline: the SAM template transforms, every documented size
limit the deployment depends on holds with room for growth, the configuration is rendered from
the template's names and validated exactly as a function's init validates it, and a
configuration naming what the template does not create is refused with every name listed.

The stacks themselves are deployed to the emulator, under IAM enforcement, by the end-to-end
test `deployed` (tests/tests/e2e/deployed.rs, through infra/emulator_stack.py)."""
import copy
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import (CFN_PARAMETER_MAX, CONFIG_FORMAT, cargo_target_dir, LAMBDA_ENV_MAX, SSM_ADVANCED_MAX, Resolver, load_template, minified,  # noqa: E402
                   guardrail, names_in, render_config, stack_reserved, transformed)

HERE = os.path.dirname(os.path.abspath(__file__))
CLI = os.environ.get("RESILIENCE_CLI") or os.path.join(cargo_target_dir(), "debug", "resilience")
ACCOUNT = "111122223333"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{(': ' + str(detail)) if detail and not ok else ''}")


def params(region, role, peer):
    return {"Platform": "aworld", "RegionRole": role, "PeerRegion": peer, "ConfigParameterName": "/aworld/resilience/config",
            "HostedZoneId": "Z0AWORLDEXAMPLE", "RecordName": "api.aworld.example.", "PracticeRecordName": "drill.api.aworld.example.", "PeerEndpoint": "192.0.2.10",
            "OperatorPrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/aworld-oncall", "DetectorPrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/aworld-detector", "AlertEmail": "oncall@aworld.example",
            "ConfigSignerPublicKey": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + "A" * 88, "ConfigSignerKeyArn": f"arn:aws:kms:eu-south-1:{ACCOUNT}:key/00000000-0000-0000-0000-000000000001"}


def cli_check(cfg):
    done = subprocess.run([CLI, "config", "check", "-"], input=minified(cfg), text=True, capture_output=True)
    return done.returncode, done.stdout + done.stderr


class AnyResolver(Resolver):
    """Resolves every resource of the transformed template to a name and ARN of the form AWS
    gives it (stack-generated names: `<stack>-<logical id>-<suffix>`), for the guardrail check."""

    ARN = {"AWS::DynamoDB::Table": "arn:aws:dynamodb:{r}:{a}:table/{n}", "AWS::DynamoDB::GlobalTable": "arn:aws:dynamodb:{r}:{a}:table/{n}",
           "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:{n}", "AWS::SQS::Queue": "arn:aws:sqs:{r}:{a}:{n}",
           "AWS::Lambda::Function": "arn:aws:lambda:{r}:{a}:function:{n}", "AWS::Events::EventBus": "arn:aws:events:{r}:{a}:event-bus/{n}",
           "AWS::Events::Rule": "arn:aws:events:{r}:{a}:rule/{n}", "AWS::KMS::Key": "arn:aws:kms:{r}:{a}:key/{n}",
           "AWS::IAM::Role": "arn:aws:iam::{a}:role/{n}", "AWS::Logs::LogGroup": "arn:aws:logs:{r}:{a}:log-group:{n}"}
    NAME = {"AWS::DynamoDB::Table": "TableName", "AWS::DynamoDB::GlobalTable": "TableName", "AWS::SNS::Topic": "TopicName",
            "AWS::SQS::Queue": "QueueName", "AWS::Lambda::Function": "FunctionName", "AWS::Events::EventBus": "Name",
            "AWS::Logs::LogGroup": "LogGroupName"}

    def __init__(self, cfn, params, region, account):
        super().__init__(cfn, params, region, account)
        self.cfn, self.region, self.account = cfn, region, account

    def _name(self, logical):
        res = self.cfn["Resources"][logical]
        prop = self.NAME.get(res["Type"])
        given = res.get("Properties", {}).get(prop) if prop else None
        return str(self(given)) if given is not None else f"aworld-resilience-{logical}-SUFFIX0001"

    def _arn(self, logical):
        res = self.cfn["Resources"][logical]
        form = self.ARN.get(res["Type"], "arn:aws:" + res["Type"].split("::")[1].lower() + ":{r}:{a}:{n}")
        return form.format(r=self.region, a=self.account, n=self._name(logical))

    def ref(self, name):
        try:
            return super().ref(name)
        except KeyError:
            res = self.cfn["Resources"].get(name)
            if res is None:
                raise
            if res["Type"] in ("AWS::SNS::Topic",):
                return self._arn(name)
            if res["Type"] == "AWS::SQS::Queue":
                return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{self._name(name)}"
            return self._name(name)

    def __call__(self, node):
        if isinstance(node, dict) and len(node) == 1 and "Fn::GetAtt" in node:
            arg = node["Fn::GetAtt"]
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            if logical in self.cfn["Resources"]:
                return self._arn(logical) if attribute == "Arn" else self._name(logical)
        if isinstance(node, dict) and len(node) == 1 and "Fn::Sub" in node:
            arg = node["Fn::Sub"]
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self(v) for k, v in arg[1].items()})
            import re as _re
            for m in _re.findall(r"\$\{([A-Za-z0-9]+)\.([A-Za-z]+)\}", text):
                if m[0] in self.cfn["Resources"]:
                    extra[f"{m[0]}.{m[1]}"] = self._arn(m[0]) if m[1] == "Arn" else self._name(m[0])
            for m in _re.findall(r"\$\{([A-Za-z0-9]+)\}", text):
                if m not in extra and m in self.cfn["Resources"]:
                    extra[m] = self.ref(m)
            return self._sub(text, extra)
        return super().__call__(node)


def table_policies(cfn, params, region, r, evaluate):
    """Each replica's resource policy, evaluated as AWS evaluates a resource policy's Deny for
    a same-account principal: the stack's roles keep every item write their own policies grant
    on the table, the replication service-linked role keeps its writes, an insider loses them."""
    slr = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication"
    full = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for logical in ("StateTable", "ThrottleTable"):
        table = r(cfn["Resources"][logical]["Properties"]["TableName"])
        arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}"
        replica = next(rep for rep in cfn["Resources"][logical]["Properties"]["Replicas"] if r(rep["Region"]) == region)
        policy = r(replica["ResourcePolicy"]["PolicyDocument"])
        allowed = lambda principal, action: evaluate([full, policy], action, arn, {"aws:PrincipalArn": principal})
        writes = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
        suite = []
        for role, res in cfn["Resources"].items():
            if res["Type"] != "AWS::IAM::Role":
                continue
            for pol in res["Properties"].get("Policies", []):
                for st in r(pol["PolicyDocument"])["Statement"]:
                    resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
                    actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                    if st.get("Effect") == "Allow" and arn in resources:
                        suite += [(role, act) for act in actions if act in writes]
        principal = lambda role: f"arn:aws:iam::{ACCOUNT}:role/aworld-resilience-{role}-SUFFIX0001"
        kept = [f"{role} {act}" for role, act in suite if not allowed(principal(role), act)]
        check(f"{table}: the replica's resource policy keeps the item writes of every stack role granted them ({len(suite)})",
              suite and not kept, kept)
        check(f"{table}: and of the replication service-linked role (denying it stops replication)",
              all(allowed(slr, act) for act in writes))
        check(f"{table}: and denies them to an insider with broad rights (budget pre-fill, forged freeze or drain, record edits)",
              not any(allowed(f"arn:aws:iam::{ACCOUNT}:role/PowerUser", act) for act in writes))


def guardrail_checks(cfn, params, region):
    """The shipped guardrail, evaluated as AWS evaluates an SCP's Deny statements (the
    emulator evaluates no SCP): every role the stack creates keeps every action its own
    policies grant, and an in-account insider with broad rights is denied every path that
    moves traffic, grants access, throttles a user or rewrites evidence."""
    sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
    from strict_iam import evaluate
    deployer, break_glass = f"arn:aws:iam::{ACCOUNT}:role/aworld-deploy", f"arn:aws:iam::{ACCOUNT}:role/break-glass"
    canary = f"arn:aws:iam::{ACCOUNT}:role/aworld-canary"
    scp = guardrail("aworld", "aworld-resilience", deployer, break_glass, "/aworld/resilience/config", canary)
    size = len(json.dumps(scp, separators=(",", ":")))
    check("the guardrail fits an SCP (5,120 characters, AWS Organizations quotas)", size <= 5120, size)
    # SCPs filter: everything is allowed (FullAWSAccess) unless a Deny of the guardrail matches.
    full = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    allowed = lambda principal, action, resource, ctx=None: evaluate([full, scp], action, resource, {"aws:PrincipalArn": principal, **(ctx or {})})
    r = AnyResolver(cfn, params, region, ACCOUNT)
    denied, exercised = [], 0
    for logical, res in cfn["Resources"].items():
        if res["Type"] != "AWS::IAM::Role":
            continue
        principal = f"arn:aws:iam::{ACCOUNT}:role/aworld-resilience-{logical}-SUFFIX0001"
        for pol in res["Properties"].get("Policies", []):
            for st in r(pol["PolicyDocument"])["Statement"]:
                if st.get("Effect") != "Allow":
                    continue
                namespaces = st.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace", [None])
                for action in st["Action"] if isinstance(st["Action"], list) else [st["Action"]]:
                    for resource in st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]:
                        for ns in namespaces if isinstance(namespaces, list) else [namespaces]:
                            exercised += 1
                            if not allowed(principal, action, resource, {"cloudwatch:namespace": ns} if ns else None):
                                denied.append(f"{logical} {action} {resource} {ns or ''}")
    check(f"under the guardrail every role of the stack keeps every action its policies grant ({exercised} action/resource pairs, schedules' roles included)",
          exercised > 100 and not denied, denied)
    table_policies(cfn, params, region, r, evaluate)
    topic = next(st for st in r(cfn["Resources"]["AlertsTopicPolicy"]["Properties"]["PolicyDocument"])["Statement"] if st["Sid"] == "OnlyTheSuitePublishes")
    full = {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    publishes = [role for role, res in cfn["Resources"].items() if res["Type"] == "AWS::IAM::Role"
                 and "sns:Publish" in json.dumps(res["Properties"].get("Policies", []))]
    topic_arn = r({"Ref": "AlertsTopic"})
    kept = [role for role in publishes if not evaluate([full, {"Statement": [topic]}], "sns:Publish", topic_arn,
                                                          {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/aworld-resilience-{role}-SUFFIX0001"})]
    check(f"the topic's policy lets every stack role that publishes publish ({len(publishes)}), denies an insider, and leaves the service principals (alarm actions) alone",
          publishes and not kept and topic["Principal"] == {"AWS": "*"}
          and not evaluate([full, {"Statement": [topic]}], "sns:Publish", topic_arn, {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/PowerUser"}), kept)
    insider = f"arn:aws:iam::{ACCOUNT}:role/PowerUser"
    a = f"{region}:{ACCOUNT}"
    paths = [
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "aworld/Failover"}, "drain metric"),
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "aworld/FailoverDrill"}, "practice trigger"),
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "CloudWatchSynthetics"}, "canary health vote"),
        ("cloudwatch:SetAlarmState", f"arn:aws:cloudwatch:{a}:alarm:aworld-health-api-5xx-{region}", {}, "health alarm state"),
        ("cloudwatch:DeleteAlarms", f"arn:aws:cloudwatch:{a}:alarm:aworld-suite-errors-{region}", {}, "self-watch alarm"),
        ("ssm:PutParameter", f"arn:aws:ssm:{a}:parameter/aworld/resilience/config", {}, "configuration rewrite"),
        ("ssm:DeleteParameter", f"arn:aws:ssm:{a}:parameter/aworld/resilience/config", {}, "configuration delete"),
        ("dynamodb:PutItem", f"arn:aws:dynamodb:{a}:table/aworld-resilience-state", {}, "state: budget pre-fill, far-future freeze, forged drained_by"),
        ("dynamodb:DeleteItem", f"arn:aws:dynamodb:{a}:table/aworld-resilience-state", {}, "audit delete"),
        ("dynamodb:UpdateItem", f"arn:aws:dynamodb:{a}:table/aworld-throttle", {}, "throttle-record edit"),
        ("dynamodb:PutResourcePolicy", f"arn:aws:dynamodb:{a}:table/aworld-throttle", {}, "table policy rewrite"),
        ("lambda:InvokeFunction", f"arn:aws:lambda:{a}:function:aworld-dns-failover", {}, "direct invocation (forged Health event)"),
        ("lambda:UpdateFunctionConfiguration", f"arn:aws:lambda:{a}:function:aworld-access-authorizer", {}, "function environment"),
        ("sns:Publish", f"arn:aws:sns:{a}:aworld-resilience", {}, "topic publish"),
        ("sns:Unsubscribe", f"arn:aws:sns:{a}:aworld-resilience:3b7c0a2e-0000-4000-8000-000000000000", {}, "topic unsubscribe"),
        ("sqs:PurgeQueue", f"arn:aws:sqs:{a}:aworld-resilience-dead-letters", {}, "DLQ purge"),
        ("events:DisableRule", f"arn:aws:events:{a}:rule/aworld-resilience-ConfigurationChanged-SUFFIX0001", {}, "rule disabled"),
        ("events:RemoveTargets", f"arn:aws:events:{a}:rule/aworld-operator/aworld-resilience-DnsFailoverOperator-SUFFIX0001", {}, "operator rule target"),
        ("scheduler:DeleteSchedule", f"arn:aws:scheduler:{a}:schedule/default/aworld-readiness-{region}", {}, "schedule delete"),
        ("kms:UpdateAlias", f"arn:aws:kms:{a}:alias/aworld-operator", {}, "key alias repoint"),
        ("kms:UntagResource", f"arn:aws:kms:{a}:key/1234", {"aws:ResourceTag/aworld:purpose": "operator-commands"}, "operator key untag"),
        ("kms:PutKeyPolicy", f"arn:aws:kms:{a}:key/1234", {"aws:ResourceTag/aworld:purpose": "operator-commands"}, "operator key policy"),
        ("logs:DeleteLogGroup", f"arn:aws:logs:{a}:log-group:/aws/lambda/aworld-dns-failover", {}, "log group delete"),
        ("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/aworld-resilience-Impostor", {}, "a role named like the suite's"),
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/aworld-resilience-DnsFailoverRole-SUFFIX0001", {}, "suite role policy"),
    ]
    open_paths = [f"{why}: {action} {resource}" for action, resource, ctx, why in paths if allowed(insider, action, resource, ctx)]
    check(f"under the guardrail an insider with broad rights is denied every path ({len(paths)})", not open_paths, open_paths)
    escape = [why for action, resource, ctx, why in paths if not allowed(break_glass, action, resource, ctx)]
    check("the break-glass role keeps every path (the guardrail is not a lock-out)", not escape, escape)
    deploy_paths = [p for p in paths if p[0].split(":")[0] in ("ssm", "events", "scheduler", "kms", "logs", "iam")]
    check("the deployer keeps what a deploy does (parameter, rules, schedules, aliases, logs, the stack's roles)",
          all(allowed(deployer, action, resource, ctx) for action, resource, ctx, _ in deploy_paths))


def main():
    template = load_template()
    by_region = {"eu-south-1": params("eu-south-1", "primary", "eu-north-1"), "eu-north-1": params("eu-north-1", "backup", "eu-south-1")}
    cfn = transformed(template, by_region["eu-north-1"], "artifacts")
    check("SAM template transforms offline", "Transform" not in cfn and len(cfn["Resources"]) > len(template["Resources"]))
    lambdas = {k: v["Properties"] for k, v in cfn["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    check("six Lambda functions, arm64 / provided.al2023 / 128 MB", len(lambdas) == 6 and all(
        p["Architectures"] == ["arm64"] and p["Runtime"] == "provided.al2023" and p["MemorySize"] == 128 for p in lambdas.values()), list(lambdas))
    guardrail_checks(cfn, by_region["eu-north-1"], "eu-north-1")
    # "Alarms that evaluate metrics in the AWS/DynamoDB namespace always ignore missing data even
    # if you choose a different option for TreatMissingData" (PutMetricAlarm).
    dynamo = {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"
              and "AWS/DynamoDB" in json.dumps(v["Properties"])}
    unsaid = [k for k, p in dynamo.items()
              if not (any("FILL(" in q.get("Expression", "") and q.get("ReturnData") for q in p.get("Metrics", []))
                      or p.get("TreatMissingData") == "ignore")]
    check(f"every AWS/DynamoDB alarm ({len(dynamo)}) fills its quiet minutes with metric math or says it ignores missing data, as AWS does",
          len(dynamo) >= 2 and not unsaid, unsaid)
    import re
    default = re.search(r"const STACK_RESERVED_CONCURRENCY: i64 = (\d+);", open(os.path.join(HERE, "..", "cli", "src", "main.rs")).read())
    check("`resilience preflight --reserve` defaults to what the stack reserves (the sum of its functions' reserved concurrency)",
          default is not None and int(default.group(1)) == stack_reserved(cfn), (default and default.group(1), stack_reserved(cfn)))
    wide = []
    for k, v in cfn["Resources"].items():
        if v["Type"] != "AWS::IAM::Role":
            continue
        for pol in v["Properties"].get("Policies", []):
            for st in pol["PolicyDocument"]["Statement"]:
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                mutating = [a for a in actions if not a.split(":")[1].startswith(("Describe", "Get", "List", "Query", "Scan", "BatchGet", "TestDNSAnswer"))]
                if st.get("Resource") == "*" and mutating and "Condition" not in st:
                    wide.append((k, mutating))
    check("no mutating action on Resource '*' without a condition", not wide, wide)
    own = [f"{k}Role" for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]
    check("the functions' own policies say Version 2012-10-17 (SAM's scheduler policies are SAM's)", all(
        pol["PolicyDocument"].get("Version") == "2012-10-17" for k in own for pol in cfn["Resources"][k]["Properties"].get("Policies", [])))

    # What the emulator does not evaluate (key and resource policies, SNS filters, Scheduler
    # input), checked on the resolved template against the documented forms.
    r = Resolver(template, by_region["eu-north-1"], "eu-north-1", ACCOUNT,
                 refs={"AlertsTopic": "topic", "DetectorEvents": "queue", "DeadLetters": "dlq"},
                 attrs={("DetectorEvents", "Arn"): "queue-arn", ("DeadLetters", "Arn"): "dlq-arn", ("DeadLetters", "QueueName"): "dlq",
                        ("ConfigurationChanged", "Arn"): "config-rule-arn"})
    res = template["Resources"]
    key = r(res["SuiteKey"]["Properties"]["KeyPolicy"])["Statement"]
    logs = [s for s in key if s.get("Principal", {}).get("Service") == "logs.eu-north-1.amazonaws.com"]
    check("the KMS key lets CloudWatch Logs use it, bound to the suite's log groups (encryption context)",
          len(logs) == 1 and logs[0]["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
          == f"arn:aws:logs:eu-north-1:{ACCOUNT}:log-group:/aws/lambda/aworld-*", logs)
    groups = [r(v["Properties"]["LogGroupName"]) for v in res.values() if v["Type"] == "AWS::Logs::LogGroup"]
    check("every encrypted log group is covered by that condition", len(groups) == 6 and all(g.startswith("/aws/lambda/aworld-") for g in groups), groups)
    mail = [v["Properties"] for v in res.values() if v["Type"] == "AWS::SNS::Subscription"]
    check("the alarm e-mail subscription has no attribute filter (alarm notifications carry no attributes)",
          mail and all("FilterPolicy" not in m for m in mail), mail)
    topic = r(res["AlertsTopicPolicy"]["Properties"]["PolicyDocument"])["Statement"]
    check("the topic takes alarm actions from this account's alarms only, over TLS only",
          any(s["Effect"] == "Allow" and s["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT for s in topic)
          and any(s["Effect"] == "Deny" and s["Condition"]["Bool"]["aws:SecureTransport"] == "false" for s in topic), topic)
    # Every write of the configuration parameter is announced: the rule matches Parameter
    # Store's documented change event for this parameter only (Systems Manager User Guide,
    # "Systems Manager event examples": source aws.ssm, detail-type "Parameter Store Change",
    # detail operation/name/type), evaluated by the emulator's EventBridge pattern matcher (its
    # TestEventPattern answers nothing); only that rule may publish to the topic.
    from moto.events.models import EventPattern
    changed = r(res["ConfigurationChanged"]["Properties"])
    sample = {"version": "0", "id": "6a7e4feb-b491-4cf7-a9f1-bf3703497718", "detail-type": "Parameter Store Change", "source": "aws.ssm",
              "account": ACCOUNT, "time": "2026-12-07T23:59:00Z", "region": "eu-north-1", "resources": [f"arn:aws:ssm:eu-north-1:{ACCOUNT}:parameter/aworld/resilience/config"],
              "detail": {"operation": "Update", "name": "/aworld/resilience/config", "type": "String", "description": ""}}
    matches = EventPattern.load(json.dumps(changed["EventPattern"])).matches_event
    other = json.loads(json.dumps(sample))
    other["detail"]["name"] = "/someone/else"
    publish = [st for st in r(res["AlertsTopicPolicy"]["Properties"]["PolicyDocument"])["Statement"] if st.get("Sid") == "ConfigurationChanges"]
    check("a write of the configuration parameter (and only of it) is announced to on-call through a rule only it may publish from",
          matches(sample) and not matches(other) and changed["Targets"][0]["Arn"] == "topic"
          and len(publish) == 1 and publish[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == "config-rule-arn", (changed, publish))
    # The suite watches itself: five alarms to on-call; the Lambda ones sum all six functions.
    watch = {k: r(res[k]["Properties"]) for k in ("SuiteErrorsAlarm", "SuiteThrottlesAlarm", "SuiteDroppedEventsAlarm", "DeadLettersAlarm", "SchedulerDroppedAlarm")}
    summed = {k: sorted(m["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for m in p["Metrics"] if "MetricStat" in m)
              for k, p in watch.items() if "Metrics" in p}
    check("the suite's own errors, throttles, dropped events, dead letters and dropped schedules page on-call, each function counted",
          all(p["AlarmActions"] == ["topic"] and p["AlarmName"].startswith("aworld-suite-") for p in watch.values())
          and len(summed) == 3 and all(v == sorted(f"aworld-{f}" for f in ("dns-failover", "capacity-scaler", "backup-verifier", "readiness-check", "user-throttle", "access-authorizer")) for v in summed.values())
          and watch["DeadLettersAlarm"]["Dimensions"][0]["Value"] == "dlq", (watch, summed))
    queues = r(res["QueuePolicies"]["Properties"])
    check("both queues refuse other accounts and plain HTTP",
          sorted(queues["Queues"]) == ["dlq", "queue"] and {s["Sid"] for s in queues["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"} >= {"ThisAccountOnly", "TlsOnly"}, queues)
    only = [s for s in queues["PolicyDocument"]["Statement"] if s["Sid"] == "OnlyDetectorsSend"]
    check("only the detector role may send to the detector queue (explicit Deny for the rest)",
          len(only) == 1 and only[0]["Effect"] == "Deny" and only[0]["Action"] == "sqs:SendMessage"
          and only[0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == f"arn:aws:iam::{ACCOUNT}:role/aworld-detector", only)
    # Operator commands: the key only the operator role signs with, and buses only their senders write to.
    key = r(res["OperatorSigningKey"]["Properties"])
    statements = {s["Sid"]: s for s in key["KeyPolicy"]["Statement"]}
    operator = f"arn:aws:iam::{ACCOUNT}:role/aworld-oncall"
    check("the operator key signs with P-256 and only the operator role may call kms:Sign (the account administers, never signs)",
          key["KeySpec"] == "ECC_NIST_P256" and key["KeyUsage"] == "SIGN_VERIFY"
          and statements["OperatorSigns"]["Principal"]["AWS"] == operator and statements["OperatorSigns"]["Action"] == "kms:Sign"
          and not any(a in ("kms:*", "kms:Sign", "kms:S*") for a in statements["AdministerNeverSign"]["Action"])
          and statements["NobodyElseSigns"]["Effect"] == "Deny" and statements["NobodyElseSigns"]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == operator
          and set(statements) == {"AdministerNeverSign", "OperatorSigns", "NobodyElseSigns"}, statements)
    denies = {v["Properties"]["EventBusName"]["Ref"]: r(v["Properties"]["Statement"]["Condition"]) for v in res.values()
              if v["Type"] == "AWS::Events::EventBusPolicy" and v["Properties"]["Statement"]["Effect"] == "Deny"}
    check("the operator and detector buses deny PutEvents to everyone but their one sender",
          {bus: c["ArnNotEquals"]["aws:PrincipalArn"] for bus, c in denies.items()}
          == {"OperatorBus": operator, "DetectorBus": f"arn:aws:iam::{ACCOUNT}:role/aworld-detector"}, denies)
    rules = [e["Properties"] for v in res.values() if v["Type"] == "AWS::Serverless::Function"
             for e in v["Properties"].get("Events", {}).values() if e["Type"] == "EventBridgeRule"]
    check("findings and commands are routed only from their own buses; no rule trusts a requested_by field",
          all(p.get("EventBusName", {}).get("Ref") in ("OperatorBus", "DetectorBus") for p in rules if "Command" in json.dumps(p) or "Suspicious" in json.dumps(p))
          and "requested_by" not in json.dumps(rules), rules)
    schedules = [e["Properties"] for v in res.values() if v["Type"] == "AWS::Serverless::Function"
                 for e in v["Properties"].get("Events", {}).values() if e["Type"] == "ScheduleV2"]
    inputs = [json.loads(r(s["Input"]).replace("<aws.scheduler.scheduled-time>", "T").replace("<aws.scheduler.schedule-arn>", "ARN")) for s in schedules]
    check("every schedule sends a Scheduled Event naming itself (Scheduler sends only its Input)",
          len(schedules) == 7 and all(i["detail-type"] == "Scheduled Event" and i["resources"] == ["ARN"] and i["id"] == "ARN@T" for i in inputs), inputs)

    # What dns-failover acts on reaches the peer that acts on it, and only once.
    fn = res["DnsFailover"]["Properties"]["Events"]
    local = {k: r(e["Properties"]["Pattern"]) for k, e in fn.items() if e["Type"] == "EventBridgeRule" and "EventBusName" not in e["Properties"]}
    forwards = {k: r(v["Properties"]["EventPattern"]) for k, v in res.items() if v["Type"] == "AWS::Events::Rule" and k.startswith("Forward")}
    def forwarded(pattern):
        return any({k: f[k] for k in f if k != "region"} == pattern for f in forwards.values())
    check("every alarm and AWS Health pattern dns-failover reacts to is also forwarded to the peer region",
          local and all(forwarded(p) for p in local.values()), (local, forwards))
    check("only events that arose in this region are forwarded (no ping-pong between the regions)",
          forwards and all(f.get("region") == ["eu-north-1"] for f in forwards.values()), forwards)
    # `resilience time-to-shift` models the template's alarms and records by default.
    model = json.loads(subprocess.run([CLI, "--json", "time-to-shift"], env={**os.environ, "RESILIENCE_CONFIG": minified(json.load(open(os.path.join(HERE, "..", "docs", "example-config.json"))))},
                                      text=True, capture_output=True).stdout or "{}")
    health = [v["Properties"] for v in res.values() if v["Type"] == "AWS::CloudWatch::Alarm" and "Period" in v["Properties"]
              and "-health-" in r(v["Properties"]["AlarmName"]) and "-health-drill-" not in r(v["Properties"]["AlarmName"])]
    a = model.get("assumptions", {})
    check("time-to-shift's defaults are the template's health alarms and record TTL",
          health and all(h["Period"] == a.get("alarm_period_seconds") and h["EvaluationPeriods"] == a.get("evaluation_periods") for h in health)
          and int(res["PeerRecord"]["Properties"]["TTL"]) == a.get("ttl_seconds"), (a, [(h["Period"], h["EvaluationPeriods"]) for h in health]))
    drain = res["PeerDrainAlarm"]["Properties"]
    check("the drain alarm Route 53 follows is standard resolution: period a multiple of 60, a supported statistic",
          drain["Period"] % 60 == 0 and drain["Statistic"] in ("Average", "Minimum", "Maximum", "Sum", "SampleCount")
          and drain["TreatMissingData"] == "ignore", drain)

    # Limits: the environment carries only the parameter's name; the document is in SSM.
    env_sizes = {k: sum(len(n) + len(json.dumps(val)) for n, val in p.get("Environment", {}).get("Variables", {}).items()) for k, p in lambdas.items()}
    check(f"each function's environment is far below Lambda's {LAMBDA_ENV_MAX} bytes", max(env_sizes.values()) < 512, env_sizes)
    check(f"every stack parameter value is below CloudFormation's {CFN_PARAMETER_MAX} bytes",
          all(len(str(v).encode()) < CFN_PARAMETER_MAX for v in by_region["eu-north-1"].values()))

    names = {r: names_in(template, p, r, ACCOUNT) for r, p in by_region.items()}
    with open(os.path.join(HERE, "..", "docs", "example-config.json")) as f:
        example = json.load(f)
    cfg, changes, problems = render_config(example, names)
    check("the example configuration names only what the template creates", not problems, problems)
    check("account, topics and principals come from the deployment, not the example",
          all(ACCOUNT in t for t in cfg["notifications"]["topics"].values()) and cfg["operators"]["principals"] == [f"arn:aws:iam::{ACCOUNT}:role/aworld-oncall"]
          and "123456789012" not in minified(cfg), changes)
    rc, out = cli_check(cfg)
    check("the rendered configuration passes `resilience config check`", rc == 0, out)
    # What the parameter holds: the document signed (its text escaped inside the envelope, a
    # DER ECDSA signature of at most 72 bytes), with both regions' operator keys rendered in.
    def sealed_size(c):
        c = copy.deepcopy(c)
        c["operators"]["signing_keys"] = [{"key_id": f"arn:aws:kms:{r}:{ACCOUNT}:key/" + "0" * 36, "public_key": "A" * 124} for r in by_region]
        return len(json.dumps({"format": CONFIG_FORMAT, "signed_at": "2026-12-07T23:59:00.000Z", "key_id": f"arn:aws:kms:eu-south-1:{ACCOUNT}:key/" + "0" * 36,
                               "signature": "A" * 96, "config": minified(c)}, separators=(",", ":")).encode())
    size = sealed_size(cfg)
    check(f"the signed example ({size} bytes) needs the parameter: above the old 4,096-byte parameter limit, within SSM Advanced's {SSM_ADVANCED_MAX}",
          CFN_PARAMETER_MAX < size <= SSM_ADVANCED_MAX, size)
    rotation = copy.deepcopy(cfg)
    second = dict(rotation["auth"]["jwks"]["keys"][0], kid="aworld-2027-05")
    rotation["auth"]["jwks"]["keys"].append(second)
    rsize = sealed_size(rotation)
    check(f"during a key rotation (two JWKS keys, {rsize} bytes signed) it still fits", rsize <= SSM_ADVANCED_MAX and cli_check(rotation)[0] == 0, rsize)
    print(f"     signed example {size} bytes; with a second JWT signing key {rsize} bytes; SSM Advanced holds {SSM_ADVANCED_MAX}")

    wrong = copy.deepcopy(example)
    wrong["regions"]["eu-south-1"]["health_alarms"] = ["api-5xx-eu-south-1", "aworld-health-api-latency-eu-south-1"]
    wrong["capacity"]["resources"][0]["saturation_alarms"] = ["orders-write-throttles-eu-north-1"]
    wrong["capacity"]["resources"][2]["target"]["function_name"] = "checkout"
    _, _, refused = render_config(wrong, names)
    named = " ".join(refused)
    check("a configuration naming alarms and functions the template lacks is refused, each one listed",
          len(refused) == 3 and "api-5xx-eu-south-1" in named and "orders-write-throttles-eu-north-1" in named and "checkout" in named, refused)

    # With the API named, the stack creates the usage plans: the default key is the template's,
    # and a level whose limit_rps is not its plan's rate, or whose key no plan has, is refused.
    with_api = {r: names_in(template, dict(p, ApiId="a1b2c3d4e5"), r, ACCOUNT) for r, p in by_region.items()}
    planned, _, fine = render_config(example, with_api)
    off = copy.deepcopy(example)
    off["throttle"]["levels"][1]["limit_rps"] = 3
    off["throttle"]["levels"][0]["usage_plan_key"] = "someOtherKey000000000001"
    _, _, mismatched = render_config(off, with_api)
    check("every caller's usage plan comes from the template: the default key rendered, a level's limit_rps equal to its plan's rate",
          not fine and planned["auth"]["default_usage_plan_key"] == "aworldUsagePlanDefault0001"
          and len(mismatched) == 2 and "limit_rps 3" in " ".join(mismatched) and "someOtherKey" in " ".join(mismatched),
          (fine, mismatched))
    plan_keys = [r(v["Properties"]["Value"]) for k, v in res.items() if v["Type"] == "AWS::ApiGateway::ApiKey"]
    check("usage plan key values are alphanumeric, 20 to 128 characters (API Gateway)",
          len(plan_keys) == 3 and all(k.isalnum() and 20 <= len(k) <= 128 for k in plan_keys), plan_keys)

    bad = copy.deepcopy(cfg)
    bad["policy"]["quorum"] = 9
    rc, out = cli_check(bad)
    check("`resilience config check` refuses what a function's init refuses, naming the field", rc != 0 and "quorum" in out, out)

    no_auth = copy.deepcopy(cfg)
    no_auth.pop("auth")
    rc, out = cli_check(no_auth)
    check("`resilience config check` refuses a document a deployed function cannot start with (no `auth`)", rc != 0 and "access-authorizer" in out, out)

    # The deploy script's own path, against the emulator: samconfig.toml read, ACCOUNT replaced by
    # the deploying account, the configuration rendered, validated and written in both regions.
    if os.environ.get("AWS_ENDPOINT_URL"):
        import boto3
        deploy_cmd = [sys.executable, os.path.join(HERE, "deploy.py"), "--config", os.path.join(HERE, "..", "docs", "example-config.json"),
                      "--config-only", "--cli", CLI]
        done = subprocess.run(deploy_cmd, capture_output=True, text=True)
        check("deploy.py --config-only is refused while no deployed stack pins a configuration key (the functions would refuse the document)",
              done.returncode != 0 and "pins a configuration key" in done.stderr, done.stdout + done.stderr)
        # A deployed primary stack pinning a key, as a first `make deploy` leaves it.
        from stack import config_key, config_statement, deployer_principal
        caller = boto3.client("sts", region_name="eu-south-1").get_caller_identity()["Arn"]
        key_arn, public_key, created = config_key(boto3.client("kms", region_name="eu-south-1"), "aworld", deployer_principal(caller))
        boto3.client("cloudformation", region_name="eu-south-1").create_stack(
            StackName="aworld-resilience", Parameters=[{"ParameterKey": "ConfigSignerKeyArn", "ParameterValue": key_arn}],
            TemplateBody=json.dumps({"Parameters": {"ConfigSignerKeyArn": {"Type": "String"}}, "Resources": {"Pin": {"Type": "AWS::SNS::Topic"}}}))
        policy = json.loads(boto3.client("kms", region_name="eu-south-1").get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        check("the configuration key's policy names only the deployer (no account root: IAM cannot grant it)",
              created and [st["Principal"]["AWS"] for st in policy["Statement"]] == [deployer_principal(caller)] and ":root" not in json.dumps(policy), policy)
        done = subprocess.run(deploy_cmd, capture_output=True, text=True)
        check("deploy.py --config-only renders, validates, signs and writes the parameter", done.returncode == 0, done.stdout + done.stderr)
        envelopes = [json.loads(boto3.client("ssm", region_name=r).get_parameter(Name="/aworld/resilience/config")["Parameter"]["Value"])
                     for r in ("eu-south-1", "eu-north-1")] if done.returncode == 0 else [None, None]
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        import base64

        def verifies(e):
            try:
                serialization.load_der_public_key(base64.b64decode(public_key)).verify(
                    base64.b64decode(e["signature"]), config_statement(e["signed_at"], e["config"]).encode(), ec.ECDSA(hashes.SHA256()))
                return e["key_id"] == key_arn
            except Exception:  # noqa: BLE001 - any failure is "does not verify"
                return False
        check("the parameter holds the document signed by the key the stack pins, in both regions",
              all(e is not None and verifies(e) for e in envelopes), envelopes)
        stored = [json.loads(e["config"]) if e else None for e in envelopes]
        account = boto3.client("sts", region_name="eu-north-1").get_caller_identity()["Account"]
        check("both regions hold the same document, with the deploying account's principal",
              stored[0] == stored[1] and stored[0] is not None and stored[0]["operators"]["principals"] == [f"arn:aws:iam::{account}:role/aworld-oncall"], stored[0])

        # A full deploy stops while a region is drained by weight (the template's Weight: 100
        # would come back with a stack update that touches the record).
        sys.path.insert(0, HERE)
        import deploy
        r53 = boto3.client("route53", region_name="us-east-1")
        zone = r53.create_hosted_zone(Name="drift.aworld.example.", CallerReference="deploy-test-drift")["HostedZone"]["Id"].split("/")[-1]
        record = lambda sid, weight, ip: {"Action": "UPSERT", "ResourceRecordSet": {"Name": "api.drift.aworld.example.", "Type": "A", "SetIdentifier": sid,
                                                                                  "Weight": weight, "TTL": 60, "ResourceRecords": [{"Value": ip}]}}
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [record("eu-south-1", 0, "192.0.2.10"), record("eu-north-1", 100, "192.0.2.20")]})
        drift = copy.deepcopy(stored[0])
        drift["dns"].update({"hosted_zone_id": zone, "record_name": "api.drift.aworld.example."})
        drained = deploy.drained_records(drift)
        check("a deploy is refused while a region's record is drained by weight, naming it",
              len(drained) == 1 and drained[0].startswith("eu-south-1") and "weight 0" in drained[0], drained)
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [record("eu-south-1", 100, "192.0.2.10")]})
        check("and goes ahead once it is failed back", deploy.drained_records(drift) == [], deploy.drained_records(drift))

        printed = subprocess.run(deploy_cmd[:4] + ["--print-guardrail"], capture_output=True, text=True,
                                 env={**os.environ, "AWS_DEFAULT_REGION": "eu-north-1"})
        try:
            statements = [st["Sid"] for st in json.loads(printed.stdout)["Statement"]]
        except ValueError:
            statements = []
        check("deploy.py --print-guardrail prints the guardrail rendered for the deploying account",
              printed.returncode == 0 and "OnlyBySuite" in statements and "${" not in printed.stdout, printed.stdout + printed.stderr)

        # Before anything is created, the preflight: on the emulator's fresh account eu-south-1
        # is an opt-in Region nobody enabled (scripts/moto_server.py models it), so the deploy
        # stops there, naming it, and no key, parameter or stack is made.
        keys_before = len(boto3.client("kms", region_name="eu-south-1").list_keys()["Keys"])
        try:
            deploy.preflight(CLI, template, by_region, False)
            refused = None
        except SystemExit as e:
            refused = str(e)
        check("a deploy is refused by the preflight on a disabled Region, before anything is created",
              refused is not None and "preflight failed" in refused
              and len(boto3.client("kms", region_name="eu-south-1").list_keys()["Keys"]) == keys_before, refused)
    else:
        check("deploy.py runs against the emulator (run under scripts/with-moto.sh)", False)

    failed = results.count(False)
    print(f"{results.count(True)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
