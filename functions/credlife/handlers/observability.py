"""The Powertools singletons every handler shares (service name and namespace come from the environment:
POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="credlife")
tracer = Tracer(service="credlife")
metrics = Metrics(service="credlife")
