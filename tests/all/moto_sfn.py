"""moto_server for the `wflow deploy` tests: moto 5.2.5 with its Step Functions interpreter able to
call AWS Batch and S3 (tests/all/deploy.rs starts it with the moto venv's python).

In moto 5.2.5 the interpreter's service integrations hand their ASL parameters (PascalCase:
`JobName`, `ContainerOverrides`, `Environment`…) to boto3 unconverted, and its responses back
unconverted, because `StateTaskService._normalise_parameters` and `_normalise_response` are
stubs. They are filled in here with the conversions the same module already has
(`_to_boto_request`, `_from_boto_response`), driven by botocore's shapes of the operation.
Nothing else is changed. Usage: python moto_sfn.py -H 127.0.0.1 -p PORT (MOTO_PORT=PORT set).
"""

import sys

from botocore.session import get_session

from moto.server import main
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
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

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
