"""The flows the tests run, from Python, on the store the environment names (a local
directory, S3 on moto, or a metadata service): tests/all/python_client.rs sets WFLOW_BIN,
WFLOW_TEST_GUESTS (JSON: package name -> component) and WFLOW_TEST_BACKEND."""

import json
import os

import pytest

import wflow


def guest(name: str) -> str:
    return json.loads(os.environ["WFLOW_TEST_GUESTS"])[name]


BACKEND = os.environ.get("WFLOW_TEST_BACKEND", "local")


@pytest.fixture(scope="session")
def foreach():
    # `--no-cache`: the tests read this run's attempts, which a task taken from the cache of
    # an earlier run of the session would not have.
    return wflow.run(
        guest("example-foreach"), n=10, tags=["from-python"], options=["--no-cache"]
    )


@pytest.fixture(scope="session")
def failed():
    with pytest.raises(wflow.RunFailed) as e:
        wflow.run(guest("test-program-faulty"), mode="error")
    return e.value
