"""moto_server with DynamoDB's atomic conditional writes.

DynamoDB evaluates a condition expression against the item as it is before the write, and the
check and the write are one atomic step (DynamoDB developer guide, "Condition expressions";
TransactWriteItems is all-or-nothing). moto's threaded server checks and writes without a lock,
so under load two concurrent conditional PutItems can both pass. The exactly-once tests (leases,
idempotency claims) would then fail on the emulator, not on the real service. Here every
DynamoDB request is served one at a time; every other service stays concurrent.

It also answers what moto lacks, from models written from AWS's pages (see each class):
Account Management's Region opt-in status, Parameter Store's throughput service setting, and
Lambda's GetAccountSettings, from moto's own functions:
the account limit minus their reservations. With --strict-iam (a private server per test) the
limit is Lambda's default 1,000 (MOTO_LAMBDA_CONCURRENCY_QUOTA, so moto also enforces "at least
100 unreserved" on PutFunctionConcurrency); the shared server, where every test's functions
live in one region, enforces no quota and reports a limit of 1,000,000.

Same arguments as `moto_server` (-H host, -p port). Used by scripts/with-moto.sh.

With `--strict-iam LOG --no-auth-actions N`, IAM is enforced after the first N requests, as
AWS evaluates it for the suite's APIs (scripts/strict_iam.py), every decision logged to LOG.
"""

import argparse
import os
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

import strict_iam


class SerialDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (JSON protocol, X-Amz-Target DynamoDB_*)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            # The body is produced inside the lock too: moto builds it while handling the call.
            return list(self.app(environ, start_response))


class LambdaAccountSettings:
    """WSGI middleware: GET /2016-08-19/account-settings (Lambda GetAccountSettings)."""

    def __init__(self, app, strict):
        self.app = app
        self.strict = strict

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET" or not environ.get("PATH_INFO", "").rstrip("/").endswith("/account-settings"):
            return self.app(environ, start_response)
        import json
        import os

        from moto.awslambda.models import lambda_backends
        from moto.core import DEFAULT_ACCOUNT_ID

        auth = environ.get("HTTP_AUTHORIZATION", "")
        region = auth.split("Credential=", 1)[1].split("/")[2] if "Credential=" in auth else "us-east-1"
        if self.strict:
            denied = strict_iam.authorize_raw(environ, DEFAULT_ACCOUNT_ID, "GetAccountSettings")
            if denied is not None:
                start_response("403 Forbidden", [("Content-Type", "application/json")])
                return [json.dumps({"Message": denied}).encode()]
        limit = int(os.environ.get("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000000"))
        functions = list(lambda_backends[DEFAULT_ACCOUNT_ID][region].list_functions())
        reserved = sum(int(f.reserved_concurrency or 0) for f in functions)
        body = {
            "AccountLimit": {"TotalCodeSize": 80530636800, "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                             "ConcurrentExecutions": limit, "UnreservedConcurrentExecutions": limit - reserved},
            "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": len(functions)},
        }
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


# "Default Regions - Regions launched before March 20, 2019 are enabled by default ... Default
# Regions cannot be enabled or disabled. Opt-in Regions - Regions launched after March 20, 2019
# are disabled by default" (Account Management, "Enable or disable AWS Regions in your account").
DEFAULT_REGIONS = {
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "sa-east-1",
    "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1",
    "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
}


class AccountRegions:
    """WSGI middleware: Account Management's GetRegionOptStatus and EnableRegion (REST-JSON,
    POST /getRegionOptStatus, /enableRegion). A default Region is ENABLED_BY_DEFAULT; an opt-in
    Region is DISABLED until enabled, then ENABLING ("AWS performs actions to prepare your
    account in that Region ... You cannot use the Region until this process is complete") for
    one read, then ENABLED. Set MOTO_ENABLED_REGIONS (comma-separated) for Regions the account
    has enabled already."""

    def __init__(self, app, strict):
        self.app = app
        self.strict = strict
        self.lock = threading.Lock()
        self.status = {r: "ENABLED" for r in os.environ.get("MOTO_ENABLED_REGIONS", "").split(",") if r}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or path not in ("/getRegionOptStatus", "/enableRegion"):
            return self.app(environ, start_response)
        import json

        from moto.core import DEFAULT_ACCOUNT_ID

        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b"{}"
        operation = "GetRegionOptStatus" if path == "/getRegionOptStatus" else "EnableRegion"
        if self.strict:
            denied = strict_iam.authorize_raw(environ, DEFAULT_ACCOUNT_ID, operation, raw)
            if denied is not None:
                start_response("403 Forbidden", [("Content-Type", "application/json")])
                return [json.dumps({"message": denied}).encode()]
        region = json.loads(raw or b"{}").get("RegionName", "")
        with self.lock:
            if region in DEFAULT_REGIONS:
                if operation == "EnableRegion":
                    start_response("400 Bad Request", [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ValidationException")])
                    return [json.dumps({"message": f"{region} is enabled by default and cannot be enabled or disabled"}).encode()]
                body = {"RegionName": region, "RegionOptStatus": "ENABLED_BY_DEFAULT"}
            elif operation == "EnableRegion":
                self.status[region] = "ENABLING"
                start_response("200 OK", [("Content-Type", "application/json")])
                return [b"{}"]
            else:
                status = self.status.get(region, "DISABLED")
                if status == "ENABLING":
                    self.status[region] = "ENABLED"
                body = {"RegionName": region, "RegionOptStatus": status}
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(body).encode()]


class ServiceSettings:
    """WSGI middleware: Systems Manager's GetServiceSetting / UpdateServiceSetting for Parameter
    Store's throughput (`/ssm/parameter-store/high-throughput-enabled`, "true" or "false",
    default "false": "By default, Parameter Store ... standard throughput", Parameter Store
    throughput), per Region. The setting id is its path or its ARN."""

    SETTING = "/ssm/parameter-store/high-throughput-enabled"

    def __init__(self, app, strict):
        self.app = app
        self.strict = strict
        self.lock = threading.Lock()
        self.values = {}

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target not in ("AmazonSSM.GetServiceSetting", "AmazonSSM.UpdateServiceSetting"):
            return self.app(environ, start_response)
        import json

        from moto.core import DEFAULT_ACCOUNT_ID

        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        body = json.loads(raw or b"{}")
        operation = target.split(".", 1)[1]
        if self.strict:
            denied = strict_iam.authorize_raw(environ, DEFAULT_ACCOUNT_ID, operation, raw)
            if denied is not None:
                start_response("403 Forbidden", [("Content-Type", "application/x-amz-json-1.1")])
                return [json.dumps({"__type": "AccessDeniedException", "message": denied}).encode()]
        auth = environ.get("HTTP_AUTHORIZATION", "")
        region = auth.split("Credential=", 1)[1].split("/")[2] if "Credential=" in auth else "us-east-1"
        setting = body.get("SettingId", "")
        if not setting.endswith(self.SETTING):
            start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1")])
            return [json.dumps({"__type": "ServiceSettingNotFound", "message": f"{setting} is not modelled"}).encode()]
        arn = f"arn:aws:ssm:{region}:{DEFAULT_ACCOUNT_ID}:servicesetting{self.SETTING}"
        with self.lock:
            if operation == "UpdateServiceSetting":
                self.values[region] = body.get("SettingValue", "false")
                out = {}
            else:
                value = self.values.get(region, "false")
                out = {"ServiceSetting": {"SettingId": self.SETTING, "SettingValue": value, "ARN": arn,
                                          "Status": "Customized" if region in self.values else "Default"}}
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
        return [json.dumps(out).encode()]


def complete_health_checks():
    """moto keeps neither a CLOUDWATCH_METRIC health check's AlarmIdentifier and
    InsufficientDataHealthStatus nor a RECOVERY_CONTROL one's RoutingControlArn; Route 53 keeps
    and returns them (GetHealthCheck, `HealthCheckConfig`). Kept here, so the readers and the
    test bed's Route 53 model see which alarm or routing control each health check follows."""
    from moto.route53 import models, responses

    kept = ("AlarmIdentifier", "InsufficientDataHealthStatus", "RoutingControlArn")
    original_create = responses.Route53.create_health_check

    def create_health_check(self):
        result = original_create(self)
        config = self._get_param("HealthCheckConfig") or {}
        check = result.result["HealthCheck"]
        check.kept_config = {k: config[k] for k in kept if config.get(k)}
        return result

    original_config = models.HealthCheck.health_check_config.fget

    def health_check_config(self):
        config = original_config(self)
        config.update(getattr(self, "kept_config", {}))
        if self.type_ in ("CLOUDWATCH_METRIC", "RECOVERY_CONTROL"):
            # Not endpoint checks: no address, port or interval (GetHealthCheck on AWS).
            for k in ("IPAddress", "Port", "RequestInterval", "FailureThreshold", "MeasureLatency"):
                config.pop(k, None)
        return config

    responses.Route53.create_health_check = create_health_check
    models.HealthCheck.health_check_config = property(health_check_config)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--strict-iam", metavar="LOG")
    parser.add_argument("--no-auth-actions", type=int, default=0)
    args = parser.parse_args()
    complete_health_checks()
    if args.strict_iam:
        from moto import settings

        settings.INITIAL_NO_AUTH_ACTION_COUNT = args.no_auth_actions
        strict_iam.install(args.strict_iam)
    if args.strict_iam:
        os.environ.setdefault("MOTO_LAMBDA_CONCURRENCY_QUOTA", "1000")
    strict = bool(args.strict_iam)
    app = LambdaAccountSettings(SerialDynamoDB(DomainDispatcherApplication(create_backend_app)), strict)
    app = ServiceSettings(AccountRegions(app, strict), strict)
    if args.strict_iam:
        app = strict_iam.KeepRawBody(app)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
