"""Append records to a ledger from a separate process (concurrency and kill -9 tests).

    python tests/support/ledger_worker.py URL WORKER COUNT [PAUSE]   # COUNT = 0: append until killed

Prints ``ready`` once the ledger is open, then waits for a line on stdin, so that all
workers start appending at the same moment. PAUSE (seconds) between appends stands for a
pipeline's own work between statements, so that the writers really interleave.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lineage.identity.run_identity import RunIdentity  # noqa: E402
from lineage.record import open_ledger  # noqa: E402


def main() -> None:
    url, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pause = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    identity = RunIdentity(principal=f"svc:worker-{worker}", job_name=f"worker-{worker}")
    ledger = open_ledger(url)
    print("ready", flush=True)
    sys.stdin.readline()
    number = 0
    while count == 0 or number < count:
        ledger.record_event("test_append", identity, {"worker": worker, "n": number, "padding": "x" * 200})
        number += 1
        if pause:
            time.sleep(pause)
    ledger.close()


if __name__ == "__main__":
    main()
