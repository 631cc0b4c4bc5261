"""The stage machine: order, where a job resumes, whole-job progress, retry and delete rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.media_jobs import logic
from services.media_jobs.models import JobError, JobStatus, Stage, StageRun, Trigger
from services.media_jobs.options import JobOptions
from shared.errors import ConflictError

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
STUCK = timedelta(minutes=5)


def job_done_until(stage: Stage | None, **updates):
    """A job whose stages before ``stage`` are done (all of them when None)."""
    job = logic.new_job("0f8fad5b-d9cb-469f-a165-70867728950e", trigger=Trigger.VIDEO,
                        options=JobOptions(), now=NOW)
    stages = {}
    for s in logic.STAGES:
        if s == stage:
            stages[s] = StageRun(started_at=NOW, runs=1)
            break
        stages[s] = StageRun(started_at=NOW, completed_at=NOW, seconds=0.1, runs=1)
    return job.model_copy(update={"stages": stages, "status": stage or JobStatus.COMPLETE,
                                  "heartbeat_at": NOW, **updates})


def test_stages_run_in_the_reference_order():
    """validate input, probe, profile, encode, validate output, archive, publish."""
    assert [str(s) for s in logic.STAGES] == [
        "ingest", "probe", "profile", "encode", "validate", "archive", "publish"]
    assert logic.next_stage(Stage.ENCODE) is Stage.VALIDATE
    assert logic.next_stage(Stage.PUBLISH) is None


@pytest.mark.parametrize("stage", list(Stage))
def test_a_job_resumes_at_its_first_unfinished_stage(stage):
    """Started but not recorded as done means it runs again; done stages never do."""
    assert logic.resume_stage(job_done_until(stage)) is stage


def test_a_finished_job_has_nothing_to_resume():
    """Every stage done: nothing runs again."""
    assert logic.resume_stage(job_done_until(None)) is None


def test_a_new_job_starts_at_ingest():
    """No stage recorded yet: ingest."""
    job = logic.new_job("g", trigger=Trigger.METADATA, options=JobOptions(), now=NOW)
    assert (job.status, logic.resume_stage(job), job.started_at) == (JobStatus.INGEST,
                                                                    Stage.INGEST, NOW)


def test_progress_covers_the_whole_job_and_never_goes_back():
    """Each stage owns a slice; encode most of it; the end of one is the start of the next."""
    points = [logic.overall_progress(s, p) for s in logic.STAGES for p in (0, 50, 100)]
    assert points == sorted(points)
    assert logic.overall_progress(Stage.INGEST) == 0
    assert logic.overall_progress(Stage.PUBLISH, 100) < 100  # 100 means complete
    assert logic.overall_progress(Stage.ENCODE, 100) - logic.overall_progress(Stage.ENCODE) >= 80
    assert logic.overall_progress(Stage.ENCODE, 250) == logic.overall_progress(Stage.ENCODE, 100)


def test_a_failed_job_retries_from_its_failed_stage():
    """Retry goes back to the stage in the error, not to the start."""
    job = job_done_until(Stage.ENCODE, status=JobStatus.ERROR,
                         error=JobError(stage=Stage.ENCODE, message="boom", at=NOW))
    assert logic.retry_stage(job, now=NOW, stuck_after=STUCK) is Stage.ENCODE


def test_a_stuck_job_can_be_retried_and_deleted_a_live_one_cannot():
    """No heartbeat for longer than the setting makes a running job stuck."""
    live = job_done_until(Stage.VALIDATE)
    stuck = job_done_until(Stage.VALIDATE, heartbeat_at=NOW - STUCK - timedelta(seconds=1))
    with pytest.raises(ConflictError):
        logic.retry_stage(live, now=NOW, stuck_after=STUCK)
    with pytest.raises(ConflictError):
        logic.ensure_deletable(live, now=NOW, stuck_after=STUCK)
    assert logic.retry_stage(stuck, now=NOW, stuck_after=STUCK) is Stage.VALIDATE
    logic.ensure_deletable(stuck, now=NOW, stuck_after=STUCK)


@pytest.mark.parametrize("status", [JobStatus.COMPLETE, JobStatus.PENDING])
def test_complete_and_pending_jobs_are_not_retried_but_may_be_deleted(status):
    """Nothing to retry; deleting is fine (no worker is on them)."""
    job = job_done_until(None, status=status)
    with pytest.raises(ConflictError):
        logic.retry_stage(job, now=NOW, stuck_after=STUCK)
    logic.ensure_deletable(job, now=NOW, stuck_after=STUCK)
