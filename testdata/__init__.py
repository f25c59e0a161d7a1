"""Data and fakes that the tests and the benchmarks share; the product never imports this package.

- `exports` — the synthetic Telegram Desktop export (one builder, sized by its `ExportSpec`);
  `sample` — the bundled sample (`samples/sample_export.json`) built from the same parts:
  `conversations` (who talks and how) and `export_writer` (the export's field layout);
  `facts` plants the synthetic export's recurring facts (what memory must recall), with the words
  and lines of `fact_lines`.
- `seed_chat` — a small private chat written straight into storage.
- `telegram_fake` — a fake Telegram server under kurigram's transport.
- `doubles` — the reply pipeline's virtual clock and a fixed-reply model.

Tests and benchmarks import from here; a benchmark never imports `tests` (`tests/test_architecture.py`).
"""
