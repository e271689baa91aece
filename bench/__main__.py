"""`make bench`: run every bench/bench_*.py in its own process (each sets up its own database)."""
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main() -> int:
    failures = 0
    for script in sorted(BENCH_DIR.glob("bench_*.py")):
        print(f"\n##### {script.stem}", flush=True)
        failures += subprocess.call([sys.executable, "-m", f"bench.{script.stem}"], cwd=BENCH_DIR.parent) != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
