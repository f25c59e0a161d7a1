"""docs/data-model.md names every table and every column of a fresh database (one place a reader
learns the schema; a migration that adds a column without a line there fails here)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from storage import Database

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"


async def test_every_table_and_column_is_documented(tmp_path: Path) -> None:
    async with Database.open(tmp_path / "db.sqlite3"):
        pass
    schema = sqlite3.connect(tmp_path / "db.sqlite3")
    # Shadow tables are SQLite's own storage of a virtual table (the FTS5 index): documented with it.
    tables = [name for (name,) in schema.execute(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual') "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    sections = dict(re.findall(r"^### `(\w+)`\n(.*?)(?=^### |\Z)", DOC.read_text(encoding="utf-8"), re.S | re.M))
    missing = [table for table in tables if table not in sections]
    for table in tables:
        for (column,) in schema.execute(f"SELECT name FROM pragma_table_info('{table}')"):
            if f"`{column}`" not in sections.get(table, ""):
                missing.append(f"{table}.{column}")
    schema.close()
    assert missing == [], "document these in docs/data-model.md"
