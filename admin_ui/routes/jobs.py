"""`/api/import`, `/api/harvest`, `/api/jobs`: long ingestion work as background jobs with status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, UploadFile, status
from pydantic import BaseModel

from admin_ui.deps import JobsDep, ServicesDep
from admin_ui.errors import error_responses
from admin_ui.routes.params import JobIdPath
from application.ingest import UPLOAD_CHUNK, save_upload, start_harvest, start_import
from application.jobs import Job, JobKind, JobStatus

router = APIRouter(tags=["jobs"])


class JobOut(BaseModel):
    id: int
    kind: JobKind
    status: JobStatus
    progress: float | None
    message: str
    result: dict[str, Any] | None
    error: str | None
    started_at: float
    finished_at: float | None

    @classmethod
    def of(cls, job: Job) -> "JobOut":
        return cls(**vars(job))


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(UPLOAD_CHUNK):
        yield chunk


@router.post("/import", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Upload a Telegram Desktop export (result.json); imported in the background",
             responses=error_responses(409, 413))
async def post_import(file: UploadFile, services: ServicesDep, jobs: JobsDep) -> JobOut:
    path = await save_upload(services, file.filename or "", _chunks(file))
    return JobOut.of(start_import(services, jobs, path))


@router.post("/harvest", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED,
             summary="Backfill history through the live Telegram client (409 when not connected)",
             responses=error_responses(409))
async def post_harvest(services: ServicesDep, jobs: JobsDep) -> JobOut:
    return JobOut.of(start_harvest(services, jobs))


@router.get("/jobs", response_model=list[JobOut], summary="Background jobs of this process, newest first")
async def list_jobs(jobs: JobsDep) -> list[JobOut]:
    return [JobOut.of(j) for j in jobs.list()]


@router.get("/jobs/{job_id}", response_model=JobOut, summary="One job's status and progress",
            responses=error_responses(404))
async def get_job(job_id: JobIdPath, jobs: JobsDep) -> JobOut:
    return JobOut.of(jobs.get(job_id))
