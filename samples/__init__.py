"""The bundled sample export (`sample_export.json`, synthetic chats) the offline demo imports."""

from pathlib import Path

SAMPLE_EXPORT = Path(__file__).resolve().with_name("sample_export.json")
