"""Getting history in: a Telegram export (the CLI's `import-export`, an upload to the panel or the
API, the demo's bundled sample), or a harvest through the live client.

`import_history` is the one import path. The panel's imports and harvests run as background jobs
(`application.jobs`); the request returns the job at once. Where uploads live, their cap and their
clean-up are `application.uploads`.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from application.errors import HarvestUnsupported, InvalidUpload, TelegramUnavailable, UploadTooLarge
from application.jobs import Job, JobRegistry, ProgressReporter
from application.overview import telegram_connected
from application.uploads import discard_upload, max_upload_bytes, panel_upload, uploads_dir
from services import Services
from settings import Settings
from storage import Database

if TYPE_CHECKING:
    from telegram_export import ImportResult

log = logging.getLogger(__name__)

UPLOAD_CHUNK = 1 << 20
ALLOWED_SUFFIXES = (".json",)


@runtime_checkable
class HarvestingGateway(Protocol):
    """A Telegram gateway that can also backfill history (the bot's gateway, when it offers it)."""

    async def harvest(self, progress: Callable[[float | None, str | None], None] | None = None) -> Any: ...


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


async def import_history(
    db: Database, settings: Settings, path: Path, owner_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import a Telegram Desktop export in one transaction (`telegram_export.import_export`) with the
    configured service chats kept; `progress` gets the messages read so far. ExportFormatError on
    anything that is not a readable export, and then nothing is written."""
    from telegram_export import import_export

    return await import_export(db, path, owner_id, progress=progress,
                               allowed_service_chats=settings.allowed_service_chats)


def _export_suffix(filename: str) -> str:
    suffix = Path(filename or "").suffix.lower() or ".json"
    if suffix not in ALLOWED_SUFFIXES:
        raise InvalidUpload(f"upload a Telegram Desktop export (result.json, machine-readable JSON), not {suffix}")
    return suffix


async def save_upload(services: Services, filename: str, chunks: AsyncIterator[bytes]) -> Path:
    """Stream an uploaded export to a private file in the uploads dir (exports can be large), up to the cap."""
    suffix = _export_suffix(filename)
    directory = uploads_dir(services.settings)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / f"export-{secrets.token_hex(8)}{suffix}"
    cap, size = max_upload_bytes(services.settings), 0
    try:
        with open(path, "xb") as handle:
            path.chmod(0o600)
            async for chunk in chunks:
                size += len(chunk)
                if size > cap:
                    raise UploadTooLarge(services.settings.max_upload_mb)
                handle.write(chunk)
        if size == 0:
            raise InvalidUpload("the uploaded file is empty")
    except BaseException:  # refused or broken (client gone, disk full): no half-written export stays behind
        path.unlink(missing_ok=True)
        raise
    return path


def import_panel_upload(services: Services, jobs: JobRegistry, path: str) -> Job:
    """A file the panel's upload route received → the import job, which deletes it when it ends.

    A path outside the panel's upload dir is refused and left alone (`application.uploads.panel_upload`);
    a panel upload that is refused here (not JSON, empty, over the cap, another import running) is
    deleted at once."""
    settings = services.settings
    upload = panel_upload(settings, path)
    try:
        _export_suffix(upload.name)
        size = upload.stat().st_size
        if size == 0:
            raise InvalidUpload("the uploaded file is empty")
        if size > max_upload_bytes(settings):
            raise UploadTooLarge(settings.max_upload_mb)
    except BaseException:
        discard_upload(settings, upload)
        raise
    return start_import(services, jobs, upload)


def start_import(services: Services, jobs: JobRegistry, path: Path) -> Job:
    """Import an uploaded export in the background; the upload is deleted when the job ends, or at
    once when the job is refused (another import running)."""

    async def work(reporter: ProgressReporter) -> dict[str, Any]:
        reporter.report(0.0, "importing")
        try:
            result = await import_history(services.db, services.settings, path, progress=_import_progress(reporter))
        finally:
            discard_upload(services.settings, path)
        return _as_dict(result)

    try:
        return jobs.start("import", work)
    except BaseException:
        discard_upload(services.settings, path)
        raise


def _import_progress(reporter: ProgressReporter) -> Callable[[int], None]:
    """import_history reports messages read so far (the total is unknown while streaming)."""

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
