"""Adapters: the only place boto3 is imported. Each declares the IAM actions it calls (REQUIRED_ACTIONS)."""
