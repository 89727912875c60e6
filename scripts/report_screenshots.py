"""Render the report page of synthetic accounts (20 and 5,000 users by default) in headless Chromium and
save a full-page screenshot of each, to look at the layout at both sizes. The images are not committed:

    .venv/bin/python scripts/report_screenshots.py --out /tmp/report-shots [--users 20 5000]

Needs /usr/bin/chromium (Debian: `apt-get install chromium`). Nothing is fetched: the page is one file."""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from credlife.report import write_report
from credlife.report_sample import sample_report

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def screenshot(chromium: str, page: Path, png: Path, *, width: int, height: int) -> None:
    subprocess.run(  # noqa: S603 - fixed arguments, a local file
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={png.parent / 'chromium-profile'}",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            page.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the pages and screenshots")
    parser.add_argument("--users", type=int, nargs="+", default=[20, 5000])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2400, help="the screenshot's height (the page's top)")
    args = parser.parse_args(argv)
    for count in args.users:
        folder = args.out / f"{count}-users"
        written = write_report(sample_report(count, NOW), folder)
        png = folder / "report.png"
        screenshot(args.chromium, written["report.html"], png, width=args.width, height=args.height)
        print(f"{count} users: {written['report.html']} -> {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
