"""IAM enforcement for moto_server that checks what AWS checks, for the APIs the suite calls.

moto's own enforcement (INITIAL_NO_AUTH_ACTION_COUNT) authenticates every request but, for
most services, authorises against the resource "*" and ignores conditions, so a policy scoped
to a table or a topic denies what AWS allows, and a condition (cloudwatch:namespace) allows
what AWS denies. It also signs requests without a body with the wrong payload (every GET is
refused) and names CloudWatch actions "monitoring:*". Here, for each request:

- the action is the IAM action AWS checks (cloudwatch:PutMetricData; TransactWriteItems is
  checked as PutItem / UpdateItem / DeleteItem / ConditionCheckItem per item and table, as the
  DynamoDB developer guide documents for transactions; BatchWriteItem per table);
- the resource is the ARN AWS authorises (table, topic, parameter, hosted zone, change,
  function, event bus), or "*" for actions without a resource type, which only a "*" grant
  matches (Service Authorization Reference);
- the condition keys the suite's policies use are given their values (cloudwatch:namespace;
  dynamodb:LeadingKeys, the partition key of a PutItem / UpdateItem / DeleteItem / GetItem,
  tested with the ForAllValues / ForAnyValue set operators);
- identity policies are evaluated: an explicit Deny wins, otherwise some Allow must match
  action, resource and conditions.

Every decision is appended to the JSON-lines file named by --strict-iam (principal, action,
resource, allowed): the tests read it to prove each granted action is exercised or justified.
Used only by the tests (scripts/moto_server.py --strict-iam FILE).
"""

import fnmatch
import hashlib
import json
import re
import threading
from urllib.parse import parse_qs, unquote

from moto.iam import access_control
from moto.iam.access_control import IAMPolicy, IAMRequest

_log_lock = threading.Lock()
# The request body as sent, for the signature check (werkzeug consumes form bodies; moto then
# re-encodes the parsed form, which differs from an SDK's own encoding of the same form).
_current = threading.local()


class KeepRawBody:
    """WSGI middleware: keeps each request's body for the thread that serves it."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        import io

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        _current.body = body
        return self.app(environ, start_response)


def _wild(pattern, value, case=True):
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return re.fullmatch(fnmatch.translate(pattern), value) is not None


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _matches(op, actual, expected):
    """One value against one condition operator; None for an operator we do not model."""
    if op == "StringEquals" or op == "ArnEquals":
        return actual in expected
    if op == "StringEqualsIgnoreCase":
        return actual.lower() in [e.lower() for e in expected]
    if op in ("StringLike", "ArnLike"):
        return any(_wild(e, actual) for e in expected)
    if op in ("StringNotEquals", "ArnNotEquals"):
        return actual not in expected
    if op in ("StringNotLike", "ArnNotLike"):
        return not any(_wild(e, actual) for e in expected)
    if op == "Bool":
        return actual.lower() in [e.lower() for e in expected]
    return None


def _condition_holds(conditions, ctx):
    for operator, pairs in (conditions or {}).items():
        # Set operators on multivalued keys ("Multivalued context keys", IAM User Guide):
        # ForAllValues holds when every value matches, and when the request has no value at all.
        qualifier, _, operator = operator.rpartition(":")
        if_exists = operator.endswith("IfExists")
        op = operator[: -len("IfExists")] if if_exists else operator
        for key, expected in pairs.items():
            actual = ctx.get(key)
            expected = [str(e) for e in _as_list(expected)]
            if qualifier in ("ForAllValues", "ForAnyValue"):
                values = _as_list(actual) if actual is not None else []
                results = [_matches(op, str(v), expected) for v in values]
                if None in results:
                    return False  # an operator we do not model never allows
                ok = all(results) if qualifier == "ForAllValues" else any(results)
                if not ok:
                    return False
                continue
            if actual is None:
                if if_exists or op.startswith(("StringNot", "ArnNot")):
                    continue
                return False
            ok = _matches(op, actual, expected)
            if not ok:  # None: an operator we do not model never allows
                return False
    return True


def _hash_key(account, region, name):
    """The partition key attribute of a table the emulator holds (None if it holds none)."""
    try:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[account][region].get_table(name).hash_key_attr
    except Exception:  # no such table: the request fails on its own
        return None


def evaluate(documents, action, resource, ctx):
    """AWS's evaluation of identity policies: explicit Deny wins, else an Allow must match."""
    allowed = False
    for doc in documents:
        for s in _as_list(doc.get("Statement", [])):
            if "Action" in s:
                concerned = any(_wild(a, action, case=False) for a in _as_list(s["Action"]))
            else:
                concerned = not any(_wild(a, action, case=False) for a in _as_list(s.get("NotAction", [])))
            if not concerned:
                continue
            if "Resource" in s:
                patterns = _as_list(s["Resource"])
                # An action without a resource type is authorised against "*": only "*" grants it.
                hit = "*" in patterns if resource == "*" else any(_wild(p, resource) for p in patterns)
            else:
                hit = not any(_wild(p, resource) for p in _as_list(s.get("NotResource", [])))
            if not hit or not _condition_holds(s.get("Condition"), ctx):
                continue
            if s.get("Effect") == "Deny":
                return False
            allowed = True
    return allowed


class Request:
    """What one request asks of IAM: a list of (action, resource, condition context)."""

    def __init__(self, iam_request):
        r = iam_request
        self.region = r._region
        self.account = r.account_id
        self.service = r._service
        self.operation = r._action.split(":", 1)[1]
        self.path = r._path
        self.params = self._params(r)

    def _params(self, r):
        body = r._body or b""
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if body.startswith("{"):
            try:
                return json.loads(body)
            except ValueError:
                return {}
        if body:
            return {k: v[0] for k, v in parse_qs(body).items()}
        return {k: (v[0] if isinstance(v, list) else v) for k, v in (r._data or {}).items()}

    def arn(self, service, rest, region=None, account=None):
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:aws:{service}:{region}:{account}:{rest}"

    def checks(self, moto_resource):
        s, op, p = self.service, self.operation, self.params
        if s == "monitoring":
            if op in ("SetAlarmState", "PutMetricAlarm") and "AlarmName" in p:
                # Actions on one alarm are authorised against its ARN (resource type alarm).
                return [(f"cloudwatch:{op}", self.arn("cloudwatch", f"alarm:{p['AlarmName']}"), {})]
            ctx = {"cloudwatch:namespace": p["Namespace"]} if op == "PutMetricData" and "Namespace" in p else {}
            return [(f"cloudwatch:{op}", "*", ctx)]
        if s == "dynamodb":
            table = lambda name: self.arn("dynamodb", f"table/{name}")  # noqa: E731
            if op in ("BatchGetItem", "BatchWriteItem"):
                return [(f"dynamodb:{op}", table(t), {}) for t in sorted(p.get("RequestItems", {}))]
            if op in ("TransactWriteItems", "TransactGetItems"):
                kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
                out = sorted({(f"dynamodb:{kinds[kind]}", table(body["TableName"])) for item in p.get("TransactItems", []) for kind, body in item.items()})
                return [(a, r, {}) for a, r in out] or [(f"dynamodb:{op}", "*", {})]
            if op == "RestoreTableToPointInTime":
                target = table(p.get("TargetTableName", ""))
                return [("dynamodb:RestoreTableToPointInTime", table(p.get("SourceTableName", "")), {})] + [
                    (f"dynamodb:{a}", target, {}) for a in ("PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem")]
            if "TableName" in p:
                ctx = {}
                if op in ("PutItem", "UpdateItem", "DeleteItem", "GetItem"):
                    # dynamodb:LeadingKeys: the partition key value of the item asked for.
                    hash_key = _hash_key(self.account, self.region, p["TableName"])
                    value = (p.get("Item") or p.get("Key") or {}).get(hash_key) if hash_key else None
                    if isinstance(value, dict) and value:
                        ctx = {"dynamodb:LeadingKeys": [str(next(iter(value.values())))]}
                return [(f"dynamodb:{op}", table(p["TableName"]), ctx)]
            if "TableArn" in p or "ResourceArn" in p:
                return [(f"dynamodb:{op}", p.get("TableArn") or p["ResourceArn"], {})]
            return [(f"dynamodb:{op}", "*", {})]
        if s == "sns":
            arn = p.get("TopicArn") or p.get("TargetArn")
            return [(f"sns:{op}", arn or "*", {})]
        if s == "ssm" and "Name" in p:
            name = p["Name"] if p["Name"].startswith("/") else "/" + p["Name"]
            return [(f"ssm:{op}", self.arn("ssm", f"parameter{name}"), {})]
        if s == "route53":
            m = re.search(r"/hostedzone/([^/?]+)", self.path)
            if m:
                return [(f"route53:{op}", f"arn:aws:route53:::hostedzone/{m.group(1)}", {})]
            m = re.search(r"/change/([^/?]+)", self.path)
            if m:
                return [(f"route53:{op}", f"arn:aws:route53:::change/{m.group(1)}", {})]
            m = re.search(r"/healthcheck/([^/?]+)", self.path)
            if m:
                return [(f"route53:{op}", f"arn:aws:route53:::healthcheck/{m.group(1)}", {})]
            return [(f"route53:{op}", "*", {})]
        if s == "lambda":
            m = re.search(r"/functions/([^/?]+)", self.path)
            if m:
                name = unquote(m.group(1))
                arn = name if name.startswith("arn:") else self.arn("lambda", f"function:{name}")
                return [(f"lambda:{op}", ":".join(arn.split(":")[:7]), {})]  # without a qualifier
            return [(f"lambda:{op}", "*", {})]
        if s == "application-autoscaling" and op == "RegisterScalableTarget":
            ident = hashlib.sha1(f"{p.get('ServiceNamespace')}|{p.get('ResourceId')}|{p.get('ScalableDimension')}".encode()).hexdigest()[:32]
            return [(f"application-autoscaling:{op}", self.arn("application-autoscaling", f"scalable-target/{ident}"), {})]
        if s == "iam" and "PolicySourceArn" in p:
            # SimulatePrincipalPolicy is authorised against the simulated user or role.
            return [(f"iam:{op}", p["PolicySourceArn"], {})]
        if s == "events" and op == "PutEvents":
            buses = {e.get("EventBusName") or "default" for e in p.get("Entries", [])} or {"default"}
            return [("events:PutEvents", b if b.startswith("arn:") else self.arn("events", f"event-bus/{b}"), {}) for b in sorted(buses)]
        return [(f"{s}:{op}", moto_resource or "*", {})]


def authorize_raw(environ, account_id, operation, body=b""):
    """For a request moto does not implement (answered by a middleware): the same signature and
    policy check as every other request (`body`: the request's, as sent). None when allowed,
    else the reason."""
    headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if "CONTENT_TYPE" in environ:
        headers["Content-Type"] = environ["CONTENT_TYPE"]
    path = environ.get("PATH_INFO", "") + (("?" + environ["QUERY_STRING"]) if environ.get("QUERY_STRING") else "")
    _current.body = body
    try:
        request = IAMRequest(account_id=account_id, method=environ["REQUEST_METHOD"], path=path, data=body, body=body,
                             headers=headers, action=operation)
        request.check_signature()
        request.check_action_permitted("*")
    except Exception as e:  # moto's own auth errors: the caller is refused
        return f"{type(e).__name__}: {e}"
    return None


def _documents(access_key):
    docs = []
    for policy in access_key.collect_policies():
        docs.append(IAMPolicy(policy)._policy_json)
    return docs


def install(log_path):
    """Patches moto's IAMRequest (server process only)."""

    original_create = IAMRequest._create_aws_request

    def _create_aws_request(self):
        # Sign the body as sent: empty for GET/DELETE (moto substitutes the query dict), the
        # original bytes of a form POST (moto re-encodes the parsed form).
        sent = getattr(_current, "body", None)
        if not self._body and sent is not None:
            saved_data, saved_body = self._data, self._body
            self._data, self._body = sent, sent
            try:
                return original_create(self)
            finally:
                self._data, self._body = saved_data, saved_body
        return original_create(self)

    def check_action_permitted(self, resource):
        if self._action == "sts:GetCallerIdentity":
            return
        request = Request(self)
        principal = getattr(self._access_key, "arn", "?")
        documents = _documents(self._access_key)
        denied = None
        for action, arn, ctx in request.checks(None if resource == "*" else resource):
            allowed = evaluate(documents, action, arn, ctx)
            with _log_lock, open(log_path, "a") as log:
                log.write(json.dumps({"principal": principal, "action": action, "resource": arn, "context": ctx, "allowed": allowed}) + "\n")
            if not allowed and denied is None:
                denied = action
        if denied is not None:
            self._action = denied
            self._raise_access_denied()

    IAMRequest._create_aws_request = _create_aws_request
    IAMRequest.check_action_permitted = check_action_permitted
    access_control.IAMRequest = IAMRequest
