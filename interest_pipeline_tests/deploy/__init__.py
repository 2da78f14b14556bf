"""The deployment settings of ``interest_pipeline/deploy`` run for real: Dagster's instance in a
local PostgreSQL server, MLflow as a tracking server."""
