"""credential-lifecycle: keeps every IAM credential of an AWS account healthy for its whole life."""

__version__ = "0.1.0"
