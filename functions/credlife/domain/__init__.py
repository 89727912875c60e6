"""Pure domain: models, policy, planner. No boto3, no environment, no clock: everything is passed in."""
