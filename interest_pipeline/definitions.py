"""The one Definitions object of the code location: every stage's definitions (defs/<stage>/),
the jobs and the sensor that span stages, the column checks of every table, and the resources
and executor of the deployment (defs/settings.py, defs/executors.py)."""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions, EnvVar

from interest_pipeline.defs.automation import interest_automation_sensor
from interest_pipeline.defs.clustering import definitions as clustering
from interest_pipeline.defs.dead_runs import dead_run_slot_sensor
from interest_pipeline.defs.evaluation import definitions as evaluation
from interest_pipeline.defs.executors import build_executor
from interest_pipeline.defs.expansion import definitions as expansion
from interest_pipeline.defs.features import definitions as features
from interest_pipeline.defs.ingest import definitions as ingest
from interest_pipeline.defs.jobs import daily_update_job, interest_model_job
from interest_pipeline.defs.profiles import definitions as profiles
from interest_pipeline.defs.recommendation import definitions as recommendation
from interest_pipeline.defs.resources import Warehouse
from interest_pipeline.defs.settings import DEFAULTS, build_resources, setting, setting_value
from interest_pipeline.defs.table_schemas import COLUMNS_CHECKS, with_table_schemas
from interest_pipeline.defs.text import definitions as text

# Each stage module holds its own Definitions (only one may sit at this module's scope: Dagster's rule).
STAGES = (ingest, text, features, clustering, profiles, expansion, evaluation, recommendation)

__all__ = ["DEFAULTS", "build_definitions", "build_executor", "build_resources", "defs", "setting", "setting_value"]


def build_definitions(resources: dict | None = None, executor=None) -> Definitions:
    """The code location; tests pass resources that point at a temporary folder."""
    resources = resources or build_resources()
    defs = Definitions.merge(
        *(stage.defs for stage in STAGES),
        Definitions(
            asset_checks=list(COLUMNS_CHECKS.values()),
            jobs=[interest_model_job, daily_update_job],
            sensors=[interest_automation_sensor, dead_run_slot_sensor],
            resources=resources,
            executor=executor or build_executor(),
        ),
    )
    return with_table_schemas(defs, warehouse_database(resources["warehouse"]))


def warehouse_database(warehouse: Warehouse) -> str:
    """DuckDB's name for the warehouse database: the file's stem (as in warehouse.main.<table>)."""
    database = warehouse.database
    path = database.get_value() if isinstance(database, EnvVar) else database
    return Path(path).stem


defs = build_definitions()
