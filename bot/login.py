"""`python main.py login`: create the Telegram session file in the data dir (mode 0600).

Either interactively (kurigram asks for the phone number, the login code and the 2FA password on
the terminal; the password is not echoed) or from an existing session string. Neither the string,
nor the code, nor the password is ever logged or printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.client import build_client, private_session_storage, protect_session_file, require_credentials
from settings import Settings
from storage.rows import full_name


class InvalidSessionString(ValueError):
    """The session string cannot be decoded."""


class SessionExists(RuntimeError):
    """A session file is already there (log out or pass --force to replace it)."""


@dataclass(slots=True)
class LoggedIn:
    user_id: int
    name: str


async def _whoami(settings: Settings) -> LoggedIn:
    """Connect with the stored session and report the account (proves the session works)."""
    client = build_client(settings)
    async with client:
        me = client.me
        assert me is not None
        name = full_name(me.first_name, me.last_name) or (me.username or "")
        return LoggedIn(me.id, name)


async def login_interactive(settings: Settings) -> LoggedIn:
    """Log in on the terminal; an existing valid session is simply reused."""
    require_credentials(settings)
    client = build_client(settings, require_session=False)
    async with client:
        pass  # start() runs kurigram's own prompt for phone, code and 2FA when needed
    protect_session_file(settings.session_path)
    return await _whoami(settings)


async def login_with_session_string(settings: Settings, session_string: str, *, force: bool = False) -> LoggedIn:
    """Write a session string into the session file (decoded by kurigram itself), then verify it."""
    from pyrogram.storage import SQLiteStorage

    api_id, _ = require_credentials(settings)
    path = settings.session_path
    if path.exists() and not force:
        raise SessionExists(f"{path} already exists; pass --force to replace it")
    source = SQLiteStorage("import", workdir=settings.data_dir, session_string=session_string.strip(), in_memory=True)
    try:
        await source.open()
    except Exception as exc:  # struct/base64 errors: never echo the string itself
        raise InvalidSessionString("the session string is not valid (wrong length or encoding)") from exc
    if path.exists():
        path.unlink()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    target = private_session_storage(settings.session_name, settings.data_dir)
    await target.open()
    try:
        await target.dc_id(await source.dc_id())
        await target.server_address(await source.server_address())
        await target.port(await source.port())
        await target.api_id(await source.api_id() or api_id)
        await target.test_mode(await source.test_mode())
        await target.auth_key(await source.auth_key())
        await target.user_id(await source.user_id())
        await target.is_bot(await source.is_bot())
        await target.save()
    finally:
        await target.close()
        await source.close()
    protect_session_file(path)
    return await _whoami(settings)
