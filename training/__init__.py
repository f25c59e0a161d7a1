"""Training: dialogue dataset from storage → LoRA/QLoRA fine-tuning → held-out evaluation → promotion gate.

- `config` + `presets/` — typed hyperparameters, one file per preset; `errors` — what a run raises;
- `data/` — what a run learns from: examples, sequences, preference pairs, coverage and curriculum;
- `fitting/` — turning sequences into an adapter: SFT, the DPO stage, the time budget, multi-process;
- `evaluation/` — the held-out figures the gate decides by: perplexity, hits@1, replies, style, judge;
- `runs/` — one run end to end (`runs.run.run_training`, the one entry point), the subprocess and
  its lock, the gate and promotion, the schedule, and the run report.
"""
