"""The running app's preference pair count: recounted when what pairs are built from changes, not on
every dashboard refresh."""

from __future__ import annotations

import pytest

from admin_ui import overview
from storage import preference as preference_queries
from storage import replies as reply_queries
from storage import training as training_queries
from tests.admin_ui.conftest import ALICE, PanelEnv


def test_pairs_are_recounted_only_when_their_inputs_change(env: PanelEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    recounts: list[int] = []
    real = overview.count_pairs_now

    async def counting(db, settings):  # type: ignore[no-untyped-def]
        recounts.append(1)
        return await real(db, settings)

    monkeypatch.setattr(overview, "count_pairs_now", counting)
    first = env.call(overview.snapshot, env.services).preference_pairs
    env.call(overview.snapshot, env.services)
    assert first.total == 0 and len(recounts) == 1  # nothing changed: the cached count

    draft = env.call(reply_queries.create_draft, env.services.db, ALICE, "Sure, dinner at eight works for me.", 3)
    env.call(reply_queries.close_draft, env.services.db, draft.id, "sent", "ага, в 8)")
    after_send = env.call(overview.snapshot, env.services).preference_pairs
    assert (after_send.total, after_send.unused, len(recounts)) == (1, 1, 2)

    run = env.call(training_queries.create_run, env.services.db, "cli", "tiny")
    env.call(preference_queries.mark_pairs_used, env.services.db, [draft.id], run.id)
    used = env.call(overview.snapshot, env.services).preference_pairs
    assert (used.total, used.unused, len(recounts)) == (1, 0, 3)

    monkeypatch.setattr(overview, "PAIR_COUNT_MAX_AGE_SECONDS", 0.0)  # too old: recounted although unchanged
    env.call(overview.snapshot, env.services)
    assert len(recounts) == 4
