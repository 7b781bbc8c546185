"""Viewer page load: 1,000 streams vs 10, side by side in headless Chromium.

The streams are ITAP's real students (../shared/data/itap; copies under new ids make up
1,000). Each page is opened ``--repeats`` times in one browser; the time is measured in
the page, from navigation start to the stream list on screen (``SIMVIEW_READY_MS``).
Per-stream data files are not read at load time, so the large page should cost little
more than the small one.

    python3 benchmarks/view.py [--data ../shared/data/itap] [--repeats 5]

Last line: ``ratio: X`` (median ready time of the 1,000-stream page / the 10-stream page).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the DevTools-pipe driver the browser tests use

from chromium_cdp import Browser  # noqa: E402
from simstudent.view import load_sources, write_view  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "itap")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    real = load_sources([args.data])
    big = [s.model_copy(update={"student_id": f"{s.student_id}~{i // len(real)}"}) for i, s in
           enumerate(real[i % len(real)] for i in range(1000))]
    with tempfile.TemporaryDirectory() as tmp:
        pages = {}
        for name, streams in (("10", real[:10]), ("1000", big)):
            write_view(streams, Path(tmp) / name)
            pages[name] = (Path(tmp) / name / "index.html").as_uri()
        times: dict[str, list[float]] = {k: [] for k in pages}
        with Browser(Path(tmp) / "profile") as browser:
            for _ in range(args.repeats):
                for name, url in pages.items():  # interleaved, so load on the machine hits both alike
                    browser.goto("about:blank")
                    browser.goto(url)
                    times[name].append(browser.wait_for("window.SIMVIEW_READY_MS"))
            assert not browser.console_errors, browser.console_errors
    for name, t in times.items():
        print(f"{name:>5} streams: ready in {statistics.median(t):.0f} ms (median of {len(t)}; "
              f"min {min(t):.0f}, max {max(t):.0f})")
    print(f"ratio: {statistics.median(times['1000']) / statistics.median(times['10']):.2f}")


if __name__ == "__main__":
    main()
