"""Test-wide environment: every AWS call goes to moto (fake credentials, a fixed region), tracing off."""

from __future__ import annotations

import os

# Set before any boto3 client exists. Nothing here can reach real AWS: moto intercepts every call made
# inside `mock_aws()`, and the credentials are fake.
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_SESSION_TOKEN"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_REGION"] = "us-east-1"
os.environ.pop("AWS_PROFILE", None)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "CredentialLifecycleTest"
os.environ["POWERTOOLS_SERVICE_NAME"] = "credlife"
os.environ["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"] = "20"
