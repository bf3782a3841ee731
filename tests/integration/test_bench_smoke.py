"""``make bench`` still runs: two cheap stages with ``--quick`` write the JSON the README describes.

No timing is asserted (the machine is shared): only that every figure is there and positive.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_quick_bench_writes_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "produce,route", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ratio" in done.stdout
    document = json.loads(out.read_text(encoding="utf-8"))
    assert {"started_at", "machine", "options", "total_seconds", "stages"} <= document.keys()
    assert list(document["stages"]) == ["produce", "route"]
    for name, stage in document["stages"].items():
        assert stage["error"] is None, name
        assert stage["rows"], name
        for row in stage["rows"]:
            assert {"what", "ztc", "baseline", "ratio", "goal", "goal_met"} <= row.keys()
            assert row["ztc"]["median"] > 0 and row["ztc"]["unit"]
    route = document["stages"]["route"]["rows"][0]
    assert route["baseline"]["median"] > 0 and route["ratio"]["median"] > 0
    assert route["goal_met"] in (True, False)
