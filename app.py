#!/usr/bin/env python3
"""The CDK app: `python app.py` (what `make synth` runs) or `cdk synth`; no AWS calls, no credentials.

Settings come from the `credlife` context key of `cdk.json` (read here, since plain `python app.py` has
no CDK CLI to read it). Context given to the CLI (`-c credlife='{...}'`, which the CLI passes in
`CDK_CONTEXT_JSON`) is merged over it key by key: `-c credlife='{"dry_run": false}'` changes that one
setting and keeps the rest of `cdk.json`'s. A setting that cannot be deployed exits 2, naming it."""

from __future__ import annotations

import os

# jsii prints a Node end-of-life banner on Node 20 when it starts: silence it before aws_cdk loads.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk

from infra.build import build_forwarder_stacks, build_member_stack, build_stack, validate_runtime_settings
from infra.config import ConfigError, config_from_context, merge_context
from infra.constants import CONTEXT_KEY

HERE = Path(__file__).resolve().parent
#: Where the CDK CLI passes the context (cdk.json's, cdk.context.json's and `-c` values) to the app.
CLI_CONTEXT_VARIABLE = "CDK_CONTEXT_JSON"


def app_context(cdk_json: Path, environ: Mapping[str, str]) -> tuple[dict[str, Any], Any]:
    """(cdk.json's context, the merged `credlife` value)."""
    file_context: dict[str, Any] = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    cli_context: dict[str, Any] = json.loads(environ.get(CLI_CONTEXT_VARIABLE) or "{}")
    return file_context, merge_context(file_context.get(CONTEXT_KEY), cli_context.get(CONTEXT_KEY))


def main(cdk_json: Path = HERE / "cdk.json", environ: Mapping[str, str] = os.environ) -> int:
    try:
        file_context, settings = app_context(cdk_json, environ)
        validate_runtime_settings(config_from_context(settings))  # before anything is written
        app = cdk.App(
            context=file_context,
            # over the CLI's context: the merged value, not the CLI's string replacing cdk.json's object
            post_cli_context={CONTEXT_KEY: settings},
            outdir=environ.get("CDK_OUTDIR", str(HERE / "cdk.out")),
        )
        build_stack(app)
        build_member_stack(app)  # organization mode: the member-account role (StackSets)
        build_forwarder_stacks(app)  # one per sign-in region: console sign-ins to the home region's bus
    except ConfigError as error:
        print(f"credlife: cannot synthesize: {error}", file=sys.stderr)
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
