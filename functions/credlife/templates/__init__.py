"""Message templates, kept as files (`string.Template` syntax: `$name`), read once per process."""

from __future__ import annotations

import functools
from importlib import resources

from credlife.domain.messages import Templates


@functools.cache
def load_templates() -> Templates:
    folder = resources.files("credlife.templates")
    return Templates(
        digest_text=(folder / "digest.txt").read_text(encoding="utf-8"),
        digest_html=(folder / "digest.html").read_text(encoding="utf-8"),
        item_text=(folder / "item.txt").read_text(encoding="utf-8"),
        item_html=(folder / "item.html").read_text(encoding="utf-8"),
    )
