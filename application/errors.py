"""Named errors of the application's actions, reported to the owner as they are.

The panel shows the text, the REST API answers it with a status (`admin_ui.errors` picks it, so
no HTTP lives here) and the CLI prints it as its one `error:` line.
"""

from __future__ import annotations


class ActionError(Exception):
    """Base for what an action refused or failed to do; the message says why, for the owner."""


class TelegramUnavailable(ActionError):
    """The action needs the live Telegram client, which this process does not have."""

    def __init__(self, action: str) -> None:
        super().__init__(
            f"Telegram is not connected, so cannot {action}: run `python main.py run` after "
            "`python main.py login` (the `serve` command runs without Telegram)"
        )


class TelegramFailed(ActionError):
    """Telegram refused or failed a request (flood wait, peer invalid…)."""


class HarvestUnsupported(ActionError):
    """The connected Telegram gateway offers no harvest (the CLI's `harvest` does)."""


class TrainingUnavailable(ActionError):
    """This process has no training controller."""


class TrainingBusy(ActionError):
    """A training run is already going; runs never overlap."""


class InvalidPreset(ActionError):
    """No training preset by that name."""


class JobBusy(ActionError):
    """A background job of the same kind is still running."""


class JobNotFound(ActionError):
    """No background job with that id (jobs live in memory until restart)."""


class DraftClosed(ActionError):
    """The draft was already sent or discarded."""


class NothingToRollBack(ActionError):
    """No promotion happened yet, so there is nothing to go back to."""


class InvalidDialogue(ActionError):
    """A composed dialogue the model cannot answer (empty, or not ending with the partner)."""


class InvalidUpload(ActionError):
    """The uploaded file is empty or not a Telegram export."""


class UploadNotFromPanel(InvalidUpload):
    """The panel was asked to import a file it did not receive (a path elsewhere on the server, or
    an upload already deleted)."""


class UploadTooLarge(ActionError):
    """The upload is over `TGTWIN_MAX_UPLOAD_MB`."""

    def __init__(self, cap_mb: int) -> None:
        super().__init__(
            f"the upload is over the {cap_mb} MB cap (TGTWIN_MAX_UPLOAD_MB); raise it, or import the file "
            "on the server with `python main.py import-export <path>`"
        )


class ModelFailed(ActionError):
    """The model did not produce a reply or could not load an adapter (timeout, not loaded, backend
    down, a missing or incompatible adapter)."""


class StartupError(Exception):
    """The product cannot start with this configuration (message says why)."""
