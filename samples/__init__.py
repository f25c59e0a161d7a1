"""The bundled sample export (`sample_export.json`, synthetic chats) the offline demo imports.

It is generated: `python -m testdata.sample` rewrites it (deterministic)."""

from pathlib import Path

SAMPLE_EXPORT = Path(__file__).resolve().with_name("sample_export.json")
