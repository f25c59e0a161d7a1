"""Training: dialogue dataset from storage → LoRA/QLoRA fine-tuning → held-out evaluation → promotion gate.

- `dataset` / `redaction` — pure example building (sessions, K-turn context, groups, PII, split);
- `config` + `presets/` — typed hyperparameters, one file per preset;
- `run` — the one entry point (`run_training`) for the CLI, the REST API and the schedule;
- `evaluate` / `style` — held-out perplexity (base, promoted, new), style metrics, samples;
- `promotion` — the gate, promote/rollback (swap, then record) and the server's `PromotionWatcher`;
- `controller` / `worker` — runs in a subprocess; `run_lock` — never two at once, across processes;
  `run_files` — a run's private files; `reconcile` — rows of dead runs; `schedule` — apscheduler job.
"""
