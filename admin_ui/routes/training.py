"""`/api/training/runs` and `/api/adapters`: start runs, watch them, promote or roll back adapters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from admin_ui.deps import ServicesDep
from admin_ui.errors import error_responses
from admin_ui.routes.params import RunIdPath
from application import records
from application.training_actions import promote, rollback, start_training
from storage.training import Adapter, RunSummary, TrainingRun

router = APIRouter(tags=["training"])


class StartRunIn(BaseModel):
    preset: str | None = Field(None, max_length=64, description="Preset name (default TGTWIN_TRAINING_PRESET).")


class StartRunOut(BaseModel):
    run_id: int


@dataclass(slots=True)
class AdapterOut(Adapter):
    """An adapter as the API shows it: its stored row (`storage.training.Adapter`) and whether it is served."""

    promoted: bool = field(metadata={"description": "Served now."})

    @classmethod
    def of(cls, adapter: Adapter, promoted_id: str | None) -> AdapterOut:
        return cls(**asdict(adapter), promoted=adapter.id == promoted_id)


class PromoteIn(BaseModel):
    reason: str = Field("promoted from the panel", max_length=200)


class ServingOut(BaseModel):
    adapter: AdapterOut | None = Field(description="What is served now; null = the base model.")


@router.post("/training/runs", response_model=StartRunOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Start a training run in the background", responses=error_responses(409))
async def post_run(services: ServicesDep, body: StartRunIn | None = None) -> StartRunOut:
    return StartRunOut(run_id=await start_training(services, "api", body.preset if body else None))


@router.get("/training/runs", response_model=list[RunSummary], summary="Training runs, newest first")
async def list_runs(services: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[TrainingRun]:
    return await records.runs(services, limit)  # answered as summaries: no loss curves, no reports


@router.get("/training/runs/{run_id}", response_model=TrainingRun,
            summary="A run: status, loss curve, evaluation report", responses=error_responses(404))
async def get_run(run_id: RunIdPath, services: ServicesDep) -> TrainingRun:
    return await records.run(services, run_id)


@router.get("/adapters", response_model=list[AdapterOut], summary="Trained adapters, newest first")
async def list_adapters(services: ServicesDep) -> list[AdapterOut]:
    promoted = await records.promoted_adapter(services)
    promoted_id = promoted.id if promoted else None
    return [AdapterOut.of(a, promoted_id) for a in await records.adapters(services)]


@router.post("/adapters/rollback", response_model=ServingOut, summary="Serve the previously promoted adapter",
             responses=error_responses(409, 503))
async def post_rollback(services: ServicesDep) -> ServingOut:
    current = await rollback(services.db, services.model)
    return ServingOut(adapter=AdapterOut.of(current, current.id) if current else None)


@router.post("/adapters/{adapter_id}/promote", response_model=ServingOut, summary="Serve this adapter from now on",
             responses=error_responses(404, 503))
async def post_promote(adapter_id: str, services: ServicesDep, body: PromoteIn | None = None) -> ServingOut:
    adapter = await promote(services.db, services.model, adapter_id, body.reason if body else PromoteIn().reason)
    return ServingOut(adapter=AdapterOut.of(adapter, adapter.id))
