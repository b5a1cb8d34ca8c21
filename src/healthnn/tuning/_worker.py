"""A tuning worker process: ``python -m healthnn.tuning._worker SPEC.json SEED``.

Started by :func:`healthnn.tuning._search._run_processes`; pulls trials from the shared Optuna
journal until the requested number of trials exists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from healthnn.errors import HealthnnError
from healthnn.tuning._search import Objective, run_worker


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        run_worker(Objective.from_json(spec["objective"]), spec["storage"], spec["study"],
                    spec["total"], int(argv[1]))
    except HealthnnError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
