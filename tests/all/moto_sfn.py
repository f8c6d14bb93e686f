"""moto_server for the `wflow deploy` tests: moto 5.2.5 with its Step Functions interpreter able to
call AWS Batch and S3 (tests/all/deploy.rs starts it with the moto venv's python).

In moto 5.2.5 the interpreter's service integrations hand their ASL parameters (PascalCase:
`JobName`, `ContainerOverrides`, `Environment`…) to boto3 unconverted, and its responses back
unconverted, because `StateTaskService._normalise_parameters` and `_normalise_response` are
stubs. They are filled in here with the conversions the same module already has
(`_to_boto_request`, `_from_boto_response`), driven by botocore's shapes of the operation.

Two more gaps, which a wide foreach (one array job of 1,000 children, followed for an hour on a
loaded machine) runs into:

- the interpreter's AWS clients make exactly one attempt per call (`total_max_attempts: 1`), so
  one dropped connection to the busy server while a `.sync` Batch task polls `DescribeJobs`
  (twice a second for as long as the job runs) fails the task, although the job goes on; AWS's
  integration does not fail a task for one failed poll. Here a poll that could not reach the
  server counts as "not ended yet";
- moto's Batch `Job._get_container_property("environment")` appends the job's own
  `AWS_BATCH_JOB_ID` to the *submitted* override list, which an array job's parent shares with
  all of its children: every child and every `DescribeJobs` of the parent adds one entry, so the
  list grows with the width and the polls (each poll returns all of it), and a child building
  its container's environment from it while another appends can take that one's job id (and so
  its array index). Here each call works on a copy.

For the measurements (`deploy::measure`), the server also counts the API calls it answers, by
service and operation (S3 by method and the store's key kind), and who made them (`boto3`: the
interpreter itself; `sdk`: wflow's jobs and commands): `GET /wflow-test/calls` returns the counts
so far as JSON.

Nothing else is changed. Usage: python moto_sfn.py -H 127.0.0.1 -p PORT (MOTO_PORT=PORT set).
"""

import collections
import json
import sys
import threading

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from botocore.session import get_session

from moto.batch import models as batch_models
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_batch,
)
from moto.stepfunctions.parser.utils import camel_to_snake_case

_SESSION = get_session()
_OPERATIONS = {}


def _operation(task, boto_service_name, service_action_name):
    service = task._get_boto_service_name(boto_service_name)
    action = task._get_boto_service_action(service_action_name)
    key = (service, action)
    if key not in _OPERATIONS:
        model = _SESSION.get_service_model(service)
        found = None
        for name in model.operation_names:
            if camel_to_snake_case(name) == action:
                found = model.operation_model(name)
                break
        _OPERATIONS[key] = found
    return _OPERATIONS[key]


def _normalise_parameters(
    self, parameters, boto_service_name=None, service_action_name=None
):
    op = _operation(self, boto_service_name, service_action_name)
    if op is not None and op.input_shape is not None:
        self._to_boto_request(parameters, op.input_shape)


def _normalise_response(
    self, response, boto_service_name=None, service_action_name=None
):
    op = _operation(self, boto_service_name, service_action_name)
    if op is not None and op.output_shape is not None:
        self._from_boto_response(response, op.output_shape)


state_task_service.StateTaskService._normalise_parameters = _normalise_parameters
state_task_service.StateTaskService._normalise_response = _normalise_response

_build_sync_resolver = state_task_service_batch.StateTaskServiceBatch._build_sync_resolver


def _build_patient_sync_resolver(self, *args, **kwargs):
    resolve = _build_sync_resolver(self, *args, **kwargs)

    def patient():
        try:
            return resolve()
        except (HTTPClientError, BotoConnectionError):
            return None  # not known yet: polled again in half a second

    return patient


state_task_service_batch.StateTaskServiceBatch._build_sync_resolver = (
    _build_patient_sync_resolver
)


def _container_property(self, p, default):
    if p != "environment":
        return _get_container_property(self, p, default)
    env = list(self.container_overrides.get(p, default))
    given = {e["name"] for e in env}
    for e in self.job_definition.container_properties.get(p, []):
        if e["name"] not in given:
            env.append(e)
    env.append({"name": "AWS_BATCH_JOB_ID", "value": self.job_id})
    return env


_get_container_property = batch_models.Job._get_container_property
batch_models.Job._get_container_property = _container_property

_CALLS = collections.Counter()
_CALLS_LOCK = threading.Lock()


def _call_of(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = auth.split("Credential=", 1)[1].split(",")[0].split("/") if "Credential=" in auth else []
    service = scope[3] if len(scope) > 3 else "?"
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        operation = target.rsplit(".", 1)[-1]
    elif service == "s3":
        # /BUCKET/PREFIX/KIND/…; deploy-v1/runs/RUN/KIND/…
        parts = path.strip("/").split("/")[2:]
        kind = parts[0] if parts else ""
        if kind == "deploy-v1" and len(parts) > 3 and parts[1] == "runs":
            kind = f"deploy-v1/runs/*/{parts[3]}"
        elif kind == "deploy-v1" and len(parts) > 1:
            kind = f"deploy-v1/{parts[1]}"
        if "list-type" in environ.get("QUERY_STRING", ""):
            method = "LIST"
        operation = f"{method} {kind}"
    else:
        operation = path.rstrip("/").rsplit("/", 1)[-1] or method
    who = "boto3" if "Boto3" in environ.get("HTTP_USER_AGENT", "") else "sdk"
    return f"{who} {service} {operation}"


_dispatch = DomainDispatcherApplication.__call__


def _counting_dispatch(self, environ, start_response):
    if environ.get("PATH_INFO") == "/wflow-test/calls":
        with _CALLS_LOCK:
            body = json.dumps(dict(_CALLS)).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
        )
        return [body]
    if not environ.get("PATH_INFO", "").startswith("/moto-api"):
        key = _call_of(environ)
        with _CALLS_LOCK:
            _CALLS[key] += 1
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _counting_dispatch

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
