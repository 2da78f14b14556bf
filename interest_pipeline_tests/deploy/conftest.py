"""One PostgreSQL server and one MLflow tracking server for the whole session, started on first use."""

import pytest

from interest_pipeline_tests.deploy.mlflow_server import MlflowServer, running_mlflow_server
from interest_pipeline_tests.deploy.postgres_server import PostgresServer, running_postgres, why_not_available


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    reason = why_not_available()
    if reason:
        pytest.skip(reason)
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> MlflowServer:
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow_server")) as server:
        yield server
