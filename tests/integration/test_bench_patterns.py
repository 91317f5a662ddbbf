"""scripts/bench_patterns.py runs as documented (it builds its own app: a change to the start-up
rules must not leave it behind) and every adversarial number is refused, not matched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_patterns.py"


def test_the_pattern_benchmark_runs_and_refuses_every_adversarial_number():
    result = subprocess.run([sys.executable, str(SCRIPT), "--repeat", "1"], capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) >= 5 and all(row[-1] == "422" for row in rows), result.stdout
