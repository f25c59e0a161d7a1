"""A stand-in for `training.worker` in controller tests: same arguments, no model.

TGTWIN_FAKE_WORKER selects what it does: `crash` (dies mid-run, leaving the row `running`),
`hang` (runs until killed) or `promote` (finishes and promotes a new adapter like a real run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path


async def finish_and_promote(settings, run_id: int) -> None:
    from storage import Database
    from storage import training as training_queries

    adapter_dir = settings.adapters_dir / f"fake-r{run_id}"
    adapter_dir.mkdir(parents=True)
    async with Database.open(settings.db_path) as db:
        await training_queries.add_adapter(db, f"fake-r{run_id}", str(adapter_dir), settings.base_model, run_id)
        await training_queries.promote(db, f"fake-r{run_id}", "fake")
        await training_queries.update_run(
            db, run_id, adapter_id=f"fake-r{run_id}", report={"promotion": {"promote": True}}, status="succeeded"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-id", type=int)
    parser.add_argument("--preset")
    parser.add_argument("--settings-file", type=Path)
    args = parser.parse_args()
    from settings import Settings

    settings = Settings(**json.loads(args.settings_file.read_text()))
    mode = os.environ.get("TGTWIN_FAKE_WORKER", "crash")
    if mode == "hang":
        time.sleep(120)
    if mode == "promote":
        asyncio.run(finish_and_promote(settings, args.run_id))
        return 0
    return 3


if __name__ == "__main__":
    sys.exit(main())
