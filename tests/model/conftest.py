"""Model fixtures shared by the whole test session: the tiny model and the bundled SmolLM2
checkpoint are built once (the GGUF conversion alone takes ~30-60 s) into one session directory.
Set TGTWIN_TEST_MODELS_DIR to keep that directory between runs (it is a cache: delete freely)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from settings import Settings


@pytest.fixture(scope="session")
def session_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kept = os.environ.get("TGTWIN_TEST_MODELS_DIR")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_dir(session_models_dir: Path) -> Path:
    from model.sources import resolve_base_dir

    return resolve_base_dir("tiny", session_models_dir)


@pytest.fixture(scope="session")
def smollm_dir(session_models_dir: Path) -> Path:
    from model.sources import resolve_base_dir

    return resolve_base_dir("bundled:smollm2-135m", session_models_dir)


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_dir))


@pytest.fixture(scope="session")
def smollm_tokenizer(smollm_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(smollm_dir))


@pytest.fixture(scope="session")
def tiny_model(session_models_dir: Path) -> tuple[Any, Any]:
    from model.sources import load_base

    return load_base("tiny", session_models_dir)


@pytest.fixture
def model_settings(settings: Settings, session_models_dir: Path) -> Settings:
    """Test settings whose models dir is the session's (so nothing is built twice)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.models_dir.symlink_to(session_models_dir, target_is_directory=True)
    return settings
