#!/usr/bin/env python3
"""The CDK app: `python app.py` (what `make synth` runs) or `cdk synth`; no AWS calls, no credentials.

Settings come from the `credlife` context key of `cdk.json` (read here, since plain `python app.py` has
no CDK CLI to read it); context given to the CLI (`-c credlife='{...}'`) takes precedence."""

from __future__ import annotations

import os

# jsii prints a Node end-of-life banner on Node 20 when it starts: silence it before aws_cdk loads.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import json
from pathlib import Path

import aws_cdk as cdk

from infra.build import build_forwarder_stacks, build_member_stack, build_stack

HERE = Path(__file__).resolve().parent


def main() -> None:
    context = json.loads((HERE / "cdk.json").read_text(encoding="utf-8")).get("context", {})
    app = cdk.App(context=context, outdir=os.environ.get("CDK_OUTDIR", str(HERE / "cdk.out")))
    build_stack(app)
    build_member_stack(app)  # organization mode: the member-account role (StackSets)
    build_forwarder_stacks(app)  # one per sign-in region: console sign-ins to the home region's bus
    app.synth()


if __name__ == "__main__":
    main()
