"""The one validated settings object (environment, `.env`, prefix `TGTWIN_`).

Built once (by the CLI's root callback, `cli.app`) and passed down; nothing imports a global instance.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "token", "password", "xxx", "your-token"}

CommaList = Annotated[list[str], NoDecode]


class SettingsError(ValueError):
    """Settings are present but invalid."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything tgtwin can be configured with. Each field is documented in `.env.example`."""

    model_config = SettingsConfigDict(
        env_prefix="TGTWIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- storage and logs
    data_dir: Path = Field(Path("./data"), description="SQLite database, sessions, adapters, logs.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Console and file log level. Message texts appear only at DEBUG."
    )

    # --- Telegram
    api_id: int | None = Field(None, description="Telegram API id from my.telegram.org.")
    api_hash: SecretStr | None = Field(None, description="Telegram API hash from my.telegram.org.")
    session_name: str = Field("tgtwin", description="Name of the session file in the data dir.")

    # --- admin panel
    host: str = Field("127.0.0.1", description="Panel/API bind address. Non-loopback needs admin_token.")
    port: int = Field(8000, ge=1, le=65535, description="Panel/API port.")
    admin_token: SecretStr | None = Field(
        None, description="Bearer token for the API and panel. Generated and stored 0600 if unset."
    )
    max_upload_mb: int = Field(
        2048, ge=1,
        description="Largest export the panel or `POST /api/import` accepts, in MB (bigger: `import-export` on "
                    "the server).",
    )

    # --- model
    base_model: str = Field(
        "bundled:smollm2-135m",
        description="Hub id, local directory, `bundled:smollm2-135m` or `tiny`.",
    )
    quantization: Literal["auto", "4bit", "8bit", "none"] = Field(
        "auto", description="Weight quantisation for training: auto = 4-bit NF4 on CUDA, none on CPU."
    )
    model_backend: Literal["local", "openai"] = Field(
        "local", description="`local` runs the model in-process; `openai` calls an OpenAI-compatible server."
    )
    serving_engine: Literal["auto", "torch", "ct2"] = Field(
        "auto", description="Local backend's engine: `ct2` (CTranslate2 int8, CPU), `torch`, or auto = ct2 on a "
        "CPU-only machine where ctranslate2 is installed, torch otherwise.",
    )
    openai_base_url: str = Field("http://127.0.0.1:8001/v1", description="Base URL for the openai backend.")
    openai_api_key: SecretStr | None = Field(None, description="API key for the openai backend, if any.")
    openai_model: str = Field("tgtwin", description="Model (or LoRA) name served by the openai backend.")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature (0 = greedy).")
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="Nucleus sampling cut-off.")
    top_k: int = Field(
        50, ge=0, le=1000, description="Sample only among the k likeliest tokens (0 = no limit), then top-p.",
    )
    max_new_tokens: int = Field(64, ge=1, le=1024, description="Longest reply, in tokens.")
    max_prompt_tokens: int = Field(
        1024, ge=64, le=131072,
        description="Longest prompt given to the model, newest turns kept (also capped by the model's window).",
    )
    banned_phrases: CommaList = Field(
        default_factory=list, description="Comma-separated words/phrases the model may not emit."
    )
    reply_candidates: int = Field(
        4, ge=1, le=16, description="Replies sampled per answer; filtered and ranked by likelihood."
    )
    generation_timeout_s: float = Field(60.0, gt=0, description="Give up on one generation after this.")

    # --- dialogue shape (shared by training and live replies)
    context_turns: int = Field(10, ge=1, le=64, description="K: earlier turns given to the model.")
    session_gap_minutes: int = Field(180, ge=1, description="A silence this long starts a new session.")

    # --- memory (issue 20): earlier exchanges of the same chat, recalled into the prompt
    memory_enabled: bool = Field(
        True, description="Recall earlier exchanges of the same chat (never another chat's) into the prompt.",
    )
    memory_max_tokens: int = Field(
        256, ge=16, le=8192, description="Most tokens of recalled exchanges in one prompt.",
    )
    memory_max_recollections: int = Field(
        3, ge=1, le=16, description="Most earlier exchanges recalled into one prompt.",
    )

    # --- reply policy
    debounce_seconds: float = Field(8.0, ge=0, description="Wait this long after the partner's last message.")
    takeover_minutes: int = Field(15, ge=0, description="Stay silent if the owner wrote/typed this recently.")
    quiet_hours: str = Field("", description="Local time range with no auto replies, e.g. `23:00-08:00`.")
    timezone: str = Field("UTC", description="Time zone for quiet hours.")
    rate_per_chat_per_hour: int = Field(6, ge=0, description="Most auto replies per chat per hour.")
    rate_global_per_hour: int = Field(30, ge=0, description="Most auto replies in all chats per hour.")
    loop_guard_replies: int = Field(3, ge=1, description="After this many bot replies with no owner message, draft.")
    escalation_keywords: CommaList = Field(
        default_factory=lambda: [
            "money", "pay", "card", "password", "code", "meet", "address",
            "деньги", "перевод", "карта", "пароль", "код", "встреч", "адрес",
        ],
        description="Incoming text with any of these goes to draft instead of auto.",
    )

    # --- catch-up, privacy, pace, relationships (bot engineer, issues 11 and 12)
    backlog_answer_minutes: int = Field(
        10, ge=0,
        description="After downtime, answer missed messages younger than this; older ones follow backlog_mode.",
    )
    backlog_mode: Literal["draft", "skip"] = Field(
        "draft", description="Missed messages older than backlog_answer_minutes: draft a reply, or skip them."
    )
    allowed_service_chats: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated ids of service chats/bots to store anyway (777000 and bots are never stored "
                    "otherwise).",
    )
    pace_min_seconds: float = Field(1.0, ge=0.2, description="Shortest pause before each sent message (never instant).")
    pace_max_seconds: float = Field(
        20.0, ge=1.0, description="Longest pause before each sent message, however slow the owner is."
    )
    relationship_auto_use: bool = Field(
        False, description="Use unconfirmed relationship suggestions for training and replies."
    )

    # --- training
    training_preset: str = Field("smollm2-cpu", description="Preset name from training/presets.")
    train_processes: int = Field(
        1, ge=1, le=64, description="Training processes per run (torchrun; one per GPU, or CPU processes with gloo)."
    )
    retrain_cron: str = Field("", description="Crontab for scheduled retraining, e.g. `0 4 * * *`.")
    retrain_interval_hours: float = Field(0.0, ge=0, description="Retrain every N hours (0 = off).")
    retrain_min_new_messages: int = Field(
        50, ge=0,
        description="Skip a scheduled run below this many new owner messages (and as many owner turns not yet "
                    "learned).",
    )
    train_fresh: bool = Field(
        False,
        description="Every run starts from the base model instead of continuing the last adapter (`train --fresh` "
                    "for one run).",
    )
    promotion_margin: float = Field(
        0.0, ge=0, description="New adapter must beat the promoted perplexity by this fraction."
    )
    judge_margin: float = Field(
        0.05, ge=0, le=1, description="Gate: blind-judge accuracy may be worse than the served model's by this much."
    )
    style_margin: float = Field(
        0.05, ge=0, le=1, description="Gate: style distance may be worse than the served model's by this much."
    )
    train_groups: bool = Field(False, description="Use group chats for training (private chats always).")
    redact_pii: bool = Field(True, description="Replace phones, e-mails, cards and links with placeholders.")
    blocked_words: CommaList = Field(default_factory=list, description="Examples containing these are dropped.")
    train_keep_media: bool = Field(
        True,
        description="Keep media as placeholders like `[photo]` in training examples (false: skip media-only "
                    "messages).",
    )
    preference_min_pairs: int | None = Field(
        None, ge=2,
        description="Run the preference (DPO) stage after fine-tuning only with at least this many preference pairs "
                    "from edited or replaced drafts (unset: the preset's `preference_min_pairs`).",
    )

    # --- offline demo
    demo: bool = Field(True, description="With an empty database, import the bundled sample and train a demo adapter.")

    @field_validator("banned_phrases", "escalation_keywords", "blocked_words", mode="before")
    @classmethod
    def _comma_lists(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("allowed_service_chats", mode="before")
    @classmethod
    def _chat_id_list(cls, value: object) -> object:
        return _split_commas(value)

    @model_validator(mode="after")
    def _pace_order(self) -> "Settings":
        if self.pace_min_seconds > self.pace_max_seconds:
            raise ValueError("pace_min_seconds must not exceed pace_max_seconds")
        return self

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_given(cls, value: object) -> object:
        # Path("") is Path("."): an empty TGTWIN_DATA_DIR or `--data-dir ""` would quietly put the
        # database, the session and the tokens in whatever directory tgtwin was started from.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty; name a directory (the default is ./data)")
        return value

    @field_validator("session_name")
    @classmethod
    def _session_name_is_plain(cls, value: str) -> str:
        # The session file is `<data_dir>/<name>.session`: a separator or `..` would put the
        # account's login outside the private data dir.
        if not value.strip() or any(c in value for c in "/\\\0") or ".." in value or value.startswith("."):
            raise ValueError("must be a plain file name: not empty, no path separators, no leading dot or `..`")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (like UTC or Europe/Berlin)") from None
        return value

    @field_validator("retrain_cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        value = value.strip()
        if value:
            # The scheduler's own parser (training.runs.schedule.build_trigger uses it too), so a value
            # accepted here is one the scheduler will take; only the fields matter here, not the zone.
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(value, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"{value!r} is not a crontab line like `0 4 * * *` ({exc})") from None
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours_format(cls, value: str) -> str:
        if value and not re.fullmatch(r"\d{1,2}:\d{2}-\d{1,2}:\d{2}", value):
            raise ValueError("quiet_hours must look like 23:00-08:00")
        if value:
            parse_quiet_hours(value)
        return value

    @field_validator("admin_token", "api_hash")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set a real secret or leave it unset")
        return value

    @field_validator("admin_token")
    @classmethod
    def _token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @model_validator(mode="after")
    def _telegram_pair(self) -> "Settings":
        if (self.api_id is None) != (self.api_hash is None):
            raise ValueError("TGTWIN_API_ID and TGTWIN_API_HASH must be set together")
        return self

    @property
    def telegram_configured(self) -> bool:
        return self.api_id is not None and self.api_hash is not None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tgtwin.sqlite3"

    @property
    def adapters_dir(self) -> Path:
        return self.data_dir / "adapters"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def session_path(self) -> Path:
        return self.data_dir / f"{self.session_name}.session"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback IP (v4 or v6, brackets allowed): the one rule for "only this machine",
    used by these settings and by the panel's bind check."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """`"23:00-08:00"` → (23:00, 08:00); empty → None. The range may wrap midnight."""
    if not value:
        return None
    start, end = value.split("-")
    h1, m1 = (int(x) for x in start.split(":"))
    h2, m2 = (int(x) for x in end.split(":"))
    return time(h1, m1), time(h2, m2)


def load_settings(**overrides: object) -> Settings:
    """Read settings; turn pydantic's report into one readable `SettingsError`."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            name = f"TGTWIN_{field.upper()}" if err["loc"] else field
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(lines)) from None
