"""A stand-in for `training.runs.worker` in controller tests: same arguments, same settings loading and
pid record, no model. It holds the run lock the way the real worker does: by inheriting it.

FAKE_WORKER_MODE selects what it does (not a `TGTWIN_*` variable: the controller passes none):
`crash` (dies mid-run, leaving the row `running`), `hang` (runs until killed), `finish` (finishes
like a real run whose gate promoted its adapter: the server promotes it), `env` (writes what it was
given to `<data>/runs/worker-env.json`, then crashes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import stat
import sys
import time
from pathlib import Path


async def finish(settings, run_id: int) -> None:
    from storage import Database
    from storage import training as training_queries

    adapter_dir = settings.adapters_dir / f"fake-r{run_id}"
    adapter_dir.mkdir(parents=True)
    (adapter_dir / "adapter_config.json").write_text("{}")
    (adapter_dir / "meta.json").write_text(json.dumps({"base_model": settings.base_model}))
    report = {"promotion": {"promote": True, "reason": "fake gate", "reference": "base model"}}
    async with Database.open(settings.db_path) as db:
        await training_queries.add_adapter(db, f"fake-r{run_id}", str(adapter_dir), settings.base_model, run_id)
        await training_queries.update_run(db, run_id, adapter_id=f"fake-r{run_id}", report=report, status="succeeded")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-id", type=int)
    parser.add_argument("--preset")
    parser.add_argument("--settings-file", type=Path)
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args()
    from training.runs.reconcile import record_run_process
    from training.runs.worker import load_worker_settings

    settings = load_worker_settings(args.settings_file)
    record_run_process(settings, args.run_id)
    mode = os.environ.get("FAKE_WORKER_MODE", "crash")
    if mode == "env":
        given = {"environment": sorted(os.environ), "settings_file": json.loads(args.settings_file.read_text()),
                 "settings_mode": stat.S_IMODE(args.settings_file.stat().st_mode),
                 "secrets": [settings.admin_token is not None, settings.api_hash is not None]}
        (settings.data_dir / "runs" / "worker-env.json").write_text(json.dumps(given))
    if mode == "hang":
        time.sleep(120)
    if mode == "finish":
        asyncio.run(finish(settings, args.run_id))
        return 0
    return 3


if __name__ == "__main__":
    sys.exit(main())
