"""`/api/training/runs` and `/api/adapters`: start runs, watch them, promote or roll back adapters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from admin_ui import records
from admin_ui.deps import ServicesDep
from admin_ui.errors import error_responses
from admin_ui.routes.params import RunIdPath
from admin_ui.training_actions import promote, rollback, start_training
from storage.training import Adapter, RunStatus, TrainingRun
from training.reconcile import reconcile_runs

router = APIRouter(tags=["training"])


class RunOut(BaseModel):
    id: int
    status: RunStatus
    trigger: str
    preset: str
    adapter_id: str | None
    owner_messages: int | None
    started_at: int
    finished_at: int | None
    error: str | None
    progress: float
    loss_curve: list[list[float]] = Field(description="[[step, loss], ...]")
    report: dict[str, Any] | None = Field(description="The evaluation report (perplexities, style metrics, samples).")

    @classmethod
    def of(cls, run: TrainingRun) -> "RunOut":
        return cls(**{name: getattr(run, name) for name in cls.model_fields})


class RunSummaryOut(BaseModel):
    id: int
    status: RunStatus
    trigger: str
    preset: str
    adapter_id: str | None
    started_at: int
    finished_at: int | None
    progress: float
    error: str | None


class StartRunIn(BaseModel):
    preset: str | None = Field(None, max_length=64, description="Preset name (default TGTWIN_TRAINING_PRESET).")


class StartRunOut(BaseModel):
    run_id: int


class AdapterOut(BaseModel):
    id: str
    path: str
    run_id: int | None
    base_model: str
    metrics: dict[str, Any]
    created_at: int
    promoted: bool

    @classmethod
    def of(cls, adapter: Adapter, promoted_id: str | None) -> "AdapterOut":
        return cls(
            id=adapter.id, path=adapter.path, run_id=adapter.run_id, base_model=adapter.base_model,
            metrics=adapter.metrics, created_at=adapter.created_at, promoted=adapter.id == promoted_id,
        )


class PromoteIn(BaseModel):
    reason: str = Field("promoted from the panel", max_length=200)


class ServingOut(BaseModel):
    adapter: AdapterOut | None = Field(description="What is served now; null = the base model.")


@router.post("/training/runs", response_model=StartRunOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Start a training run in the background", responses=error_responses(409))
async def post_run(services: ServicesDep, body: StartRunIn | None = None) -> StartRunOut:
    return StartRunOut(run_id=await start_training(services, "api", body.preset if body else None))


@router.get("/training/runs", response_model=list[RunSummaryOut], summary="Training runs, newest first")
async def list_runs(services: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[RunSummaryOut]:
    await reconcile_runs(services.db, services.settings)  # a run killed elsewhere shows as failed
    runs = await records.runs(services, limit)
    return [RunSummaryOut(**{n: getattr(r, n) for n in RunSummaryOut.model_fields}) for r in runs]


@router.get("/training/runs/{run_id}", response_model=RunOut, summary="A run: status, loss curve, evaluation report",
            responses=error_responses(404))
async def get_run(run_id: RunIdPath, services: ServicesDep) -> RunOut:
    return RunOut.of(await records.run(services, run_id))


@router.get("/adapters", response_model=list[AdapterOut], summary="Trained adapters, newest first")
async def list_adapters(services: ServicesDep) -> list[AdapterOut]:
    promoted = await records.promoted_adapter(services)
    promoted_id = promoted.id if promoted else None
    return [AdapterOut.of(a, promoted_id) for a in await records.adapters(services)]


@router.post("/adapters/rollback", response_model=ServingOut, summary="Serve the previously promoted adapter",
             responses=error_responses(409, 503))
async def post_rollback(services: ServicesDep) -> ServingOut:
    current = await rollback(services)
    return ServingOut(adapter=AdapterOut.of(current, current.id) if current else None)


@router.post("/adapters/{adapter_id}/promote", response_model=ServingOut, summary="Serve this adapter from now on",
             responses=error_responses(404, 503))
async def post_promote(adapter_id: str, services: ServicesDep, body: PromoteIn | None = None) -> ServingOut:
    adapter = await promote(services, adapter_id, body.reason if body else PromoteIn().reason)
    return ServingOut(adapter=AdapterOut.of(adapter, adapter.id))
