"""moto_server with DynamoDB's atomic conditional writes.

DynamoDB evaluates a condition expression against the item as it is before the write, and the
check and the write are one atomic step (DynamoDB developer guide, "Condition expressions";
TransactWriteItems is all-or-nothing). moto's threaded server checks and writes without a lock,
so under load two concurrent conditional PutItems can both pass. The exactly-once tests (leases,
idempotency claims) would then fail on the emulator, not on the real service. Here every
DynamoDB request is served one at a time; every other service stays concurrent.

Same arguments as `moto_server` (-H host, -p port). Used by scripts/with-moto.sh.

With `--strict-iam LOG --no-auth-actions N`, IAM is enforced after the first N requests, as
AWS evaluates it for the suite's APIs (scripts/strict_iam.py), every decision logged to LOG.
"""

import argparse
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--strict-iam", metavar="LOG")
    parser.add_argument("--no-auth-actions", type=int, default=0)
    args = parser.parse_args()
    if args.strict_iam:
        from moto import settings

        settings.INITIAL_NO_AUTH_ACTION_COUNT = args.no_auth_actions
        strict_iam.install(args.strict_iam)
    app = SerialDynamoDB(DomainDispatcherApplication(create_backend_app))
    if args.strict_iam:
        app = strict_iam.KeepRawBody(app)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
