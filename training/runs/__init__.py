"""One run end to end: the entry point (`run.run_training`), the subprocess that runs it and its lock,
the promotion gate, the schedule, dead-run reconciliation and the typed run report."""
