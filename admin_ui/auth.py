"""The admin token: where it comes from, where the panel may listen, and how a request proves it.

One secret guards the REST API (`Authorization: Bearer`) and the Gradio panel (a server-side
session, admin_ui.sessions, whose random id the login page sets as a cookie). Without
`TGTWIN_ADMIN_TOKEN` a token is generated once, stored 0600 in the data
dir and reused, so the printed panel URL keeps working across restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from settings import Settings, is_loopback

log = logging.getLogger(__name__)

TOKEN_FILE_NAME = "admin_token"
# The panel cookie holds a random session id (admin_ui.sessions), never the token nor a value derived from it.
SESSION_COOKIE = "tgtwin_panel"


class BindRefused(ValueError):
    """Listening beyond loopback needs an explicitly configured admin token."""


def token_file(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_FILE_NAME


def resolve_admin_token(settings: Settings) -> tuple[str, bool]:
    """The admin token and whether it was generated (True) rather than configured.

    Configured `TGTWIN_ADMIN_TOKEN` wins; otherwise the stored token file is reused, or a new
    random token is written there with mode 0600 (created that way, never widened afterwards).
    """
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value(), False
    path = token_file(settings)
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
                log.warning("admin token file was readable by others; narrowed to 0600")
            return token, True
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    log.info("generated a new admin token in %s", path)
    return token, True


def check_bind_allowed(host: str, token_configured: bool) -> None:
    """Refuse a non-loopback bind address unless `TGTWIN_ADMIN_TOKEN` is set: a generated token
    printed on one machine's terminal is not a credential to expose to a network."""
    if not is_loopback(host) and not token_configured:
        raise BindRefused(
            f"refusing to listen on {host}: set TGTWIN_ADMIN_TOKEN (16+ characters) to serve the "
            "panel beyond loopback, or use --host 127.0.0.1"
        )


def token_matches(candidate: str | None, token: str) -> bool:
    """Constant-time comparison; a missing candidate never matches."""
    if not candidate:
        return False
    return secrets.compare_digest(candidate.encode("utf-8"), token.encode("utf-8"))


def bearer_token(authorization: str | None) -> str | None:
    """`Bearer <token>` → token; anything else → None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
