"""The training subprocess: `python -m training.worker --run-id N --preset NAME --settings-file FILE`.

Started by `training.controller`; runs the one entry point (`training.run.run_training`) for a run
row the controller already created. Exit code 0 = the run succeeded, 1 = it failed (recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.worker")
    parser.add_argument("--run-id", type=int, required=True)
    parser.add_argument("--preset", required=True)
    parser.add_argument("--settings-file", type=Path, required=True)
    args = parser.parse_args(argv)

    from settings import Settings
    from training.run import run_training

    settings = Settings(**json.loads(args.settings_file.read_text(encoding="utf-8")))
    logging.basicConfig(
        level=getattr(logging, settings.log_level), stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(run_training(settings, preset=args.preset, run_id=args.run_id))
    except Exception:
        logging.getLogger("training.worker").exception("training run %s failed", args.run_id)
        return 1
    finally:
        args.settings_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
