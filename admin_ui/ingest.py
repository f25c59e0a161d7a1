"""Getting history in from the panel: a Telegram export upload, or a harvest through the live client.

Both run as background jobs (admin_ui.jobs); the request returns the job at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from admin_ui.errors import HarvestUnsupported, InvalidUpload, TelegramUnavailable
from admin_ui.jobs import Job, JobRegistry, ProgressReporter
from admin_ui.overview import telegram_connected
from services import Services

log = logging.getLogger(__name__)

UPLOAD_CHUNK = 1 << 20
ALLOWED_SUFFIXES = (".json",)


@runtime_checkable
class HarvestingGateway(Protocol):
    """A Telegram gateway that can also backfill history (the bot's gateway, when it offers it)."""

    async def harvest(self, progress: Callable[[float | None, str | None], None] | None = None) -> Any: ...


def uploads_dir(services: Services) -> Path:
    return services.settings.data_dir / "uploads"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _as_dict(result: Any) -> dict[str, Any]:
    """A job's outcome as JSON: an ImportResult, a list of per-chat HarvestResults, or a dict."""
    plain = _plain(result)
    return plain if isinstance(plain, dict) else {"results": plain}


async def save_upload(services: Services, filename: str, chunks: AsyncIterator[bytes]) -> Path:
    """Stream an uploaded export to a private temp file in the data dir (exports can be large)."""
    suffix = Path(filename or "").suffix.lower() or ".json"
    if suffix not in ALLOWED_SUFFIXES:
        raise InvalidUpload(f"upload a Telegram Desktop export (result.json, machine-readable JSON), not {suffix}")
    directory = uploads_dir(services)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"export-{secrets.token_hex(8)}{suffix}"
    size = 0
    try:
        with open(path, "xb") as handle:
            path.chmod(0o600)
            async for chunk in chunks:
                size += len(chunk)
                handle.write(chunk)
    except BaseException:  # a broken upload (client gone, disk full) leaves no half-written export behind
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink()
        raise InvalidUpload("the uploaded file is empty")
    return path


def start_import(services: Services, jobs: JobRegistry, path: Path) -> Job:
    """Import a saved export in the background; the temp file is removed when the job ends, or at
    once when the job is refused (another import running)."""

    async def work(reporter: ProgressReporter) -> dict[str, Any]:
        from telegram_export import import_export

        reporter.report(0.0, "importing")
        try:
            result = await import_export(
                services.db, path, progress=_import_progress(reporter),
                allowed_service_chats=services.settings.allowed_service_chats,
            )
        finally:
            path.unlink(missing_ok=True)
        return _as_dict(result)

    try:
        return jobs.start("import", work)
    except Exception:
        path.unlink(missing_ok=True)
        raise


def _import_progress(reporter: ProgressReporter) -> Callable[[int], None]:
    """import_export reports messages read so far (the total is unknown while streaming)."""

    def progress(done: int) -> None:
        reporter.report(None, f"{done} messages read")

    return progress


def start_harvest(services: Services, jobs: JobRegistry) -> Job:
    """Backfill history through the live client in the background; needs Telegram connected."""
    if not telegram_connected(services):
        raise TelegramUnavailable("harvest history")
    gateway = services.telegram
    if not isinstance(gateway, HarvestingGateway):
        raise HarvestUnsupported("this Telegram client cannot harvest from the panel; run `python main.py harvest`")

    async def work(reporter: ProgressReporter) -> dict[str, Any]:
        reporter.report(0.0, "harvesting")
        return _as_dict(await gateway.harvest(progress=reporter.report))

    return jobs.start("harvest", work)


async def save_local_file(services: Services, source: Path) -> Path:
    """A file the panel received (Gradio's upload cache) → a private copy for the import job."""

    async def chunks() -> AsyncIterator[bytes]:
        with open(source, "rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, UPLOAD_CHUNK):
                yield chunk

    return await save_upload(services, source.name, chunks())
