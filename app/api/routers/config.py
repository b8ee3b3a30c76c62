"""The LiteLLM config: preview, validate, diff, apply (with what became of it), history, rollback,
import; and the proxy: which revision it serves, reload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from app.api.common import (
    ActorDep,
    PageDep,
    RingDep,
    SettingsDep,
    as_json,
    environ,
    page_of,
    transaction,
)
from app.errors import LlmAdminError
from app.models import ConfigRevision
from app.runtime import proxy_state
from app.services import config, config_import, golive
from app.services.access import Actor
from app.settings import Settings
from generator import bounded_yaml

router = APIRouter(prefix="/api", tags=["config"])


class ApplyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    force: bool = False  # write a new revision even when the file already matches
    # wait for the supervisor's verdict (live, or failed and rolled back); without, `go_live` is
    # null and GET /api/proxy shows when the revision is live
    wait: bool = True


def _plan(settings: Settings, ring: Any, actor: Actor, *, deep: bool) -> config.Plan:
    with transaction() as session:
        return config.plan(
            session, settings=settings, ring=ring, environ=environ(), author=actor.name, deep=deep
        )


def _planned(result: config.Plan) -> dict[str, Any]:
    return {
        "revision": result.number,
        "summary": result.summary,
        "problems": result.problems,
        "warnings": result.warnings,
        "deployments": len(result.config.get("model_list") or []),
    }


def _revision(row: ConfigRevision, *, text: bool = False) -> dict[str, Any]:
    shown = as_json(row)
    shown.pop("inputs", None)
    if not text:
        shown.pop("yaml_text", None)
    return shown


def _go_live(settings: Settings, number: int, wait: bool) -> dict[str, Any] | None:
    return as_json(golive.go_live(settings, number)) if wait else None


@router.get("/config/preview")
def preview(settings: SettingsDep, ring: RingDep, actor: ActorDep) -> dict[str, Any]:
    """The YAML the next revision would be (secrets as os.environ/ references), with our checks."""
    result = _plan(settings, ring, actor, deep=False)
    return {**_planned(result), "yaml": result.text}


@router.get("/config/diff")
def diff(settings: SettingsDep, ring: RingDep, actor: ActorDep) -> dict[str, Any]:
    """What applying now would change in the live file (a unified diff)."""
    result = _plan(settings, ring, actor, deep=False)
    return {**_planned(result), "diff": result.diff, "unchanged": config.unchanged(result, settings)}


@router.post("/config/validate")
def validate(settings: SettingsDep, ring: RingDep, actor: ActorDep) -> dict[str, Any]:
    """Our checks and LiteLLM's own, on the next revision; nothing is written."""
    result = _plan(settings, ring, actor, deep=True)
    return {**_planned(result), "valid": not result.problems}


@router.post("/config/apply")
def apply(
    settings: SettingsDep, ring: RingDep, actor: ActorDep, body: ApplyOptions | None = None
) -> dict[str, Any]:
    """Validate, record, back up and write the next revision, then (with `wait`) report whether the
    proxy serves it: `go_live.outcome` is live, failed (the last good one is restored), or what
    loads it. Invalid → 422 listing every problem, nothing written. The body is optional."""
    body = body or ApplyOptions()
    applied = config.apply(
        actor=actor, settings=settings, ring=ring, environ=environ(), if_changed=not body.force
    )
    if applied is None:
        return {"applied": None, "summary": "no changes", "go_live": None}
    return {
        "applied": as_json(applied),
        "summary": applied.summary,
        "go_live": _go_live(settings, applied.number, body.wait),
    }


@router.get("/config/revisions")
def history(actor: ActorDep, page: PageDep) -> dict[str, Any]:
    with transaction() as session:
        rows = config.history(session, limit=page.limit, offset=page.offset)
        return page_of([_revision(r) for r in rows], config.count_revisions(session), page)


@router.get("/config/revisions/{number}")
def get_revision(number: int, actor: ActorDep) -> dict[str, Any]:
    with transaction() as session:
        return _revision(config.get_revision(session, number=number), text=True)


@router.post("/config/revisions/{number}/rollback")
def rollback(
    number: int,
    settings: SettingsDep,
    actor: ActorDep,
    wait: Annotated[bool, Query(description="wait for the proxy's verdict")] = True,
) -> dict[str, Any]:
    """Write revision `number`'s config again as a new revision (the rows are not changed)."""
    applied = config.rollback(actor=actor, settings=settings, number=number)
    return {
        "applied": as_json(applied),
        "summary": applied.summary,
        "go_live": _go_live(settings, applied.number, wait),
    }


@router.post(
    "/config/import",
    openapi_extra={"requestBody": {"content": {"application/yaml": {"schema": {"type": "string"}}}}},
)
async def import_config(
    request: Request,
    settings: SettingsDep,
    ring: RingDep,
    actor: ActorDep,
    keep_behaviour: bool = False,
) -> dict[str, Any]:
    """Import a LiteLLM config (the request body, as YAML): its providers, models and settings become
    rows; plain-text keys are encrypted. A hostile file is refused with one line, nothing stored."""
    limits = settings.import_limits
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        try:  # refused as soon as it is over the limit, before the rest is read
            bounded_yaml.check_size(size, limits)
        except bounded_yaml.LimitExceeded as exc:
            raise LlmAdminError(f"import refused: {exc}") from None
        chunks.append(chunk)
    try:
        text = b"".join(chunks).decode()
    except UnicodeDecodeError:
        raise LlmAdminError("import refused: the body must be UTF-8 YAML") from None

    def run() -> config_import.ImportReport:
        with transaction() as session:
            return config_import.import_config(
                session, actor=actor, ring=ring, text=text, keep_behaviour=keep_behaviour, limits=limits
            )

    return as_json(await run_in_threadpool(run))


@router.get("/proxy", tags=["proxy"])
def proxy_status(settings: SettingsDep, actor: ActorDep) -> dict[str, Any]:
    """Which revision the proxy serves and how we know; each supervisor's state when ours run here."""
    status = golive.proxy_status(settings)
    replicas = [
        {
            "name": s.label,
            "supervisor_pid": s.supervisor_pid,
            "host": s.host,
            "port": s.port,
            "live_revision": s.live_revision,
            "workers": s.workers,
            "last_reload": as_json(s.last_reload) if s.last_reload else None,
        }
        for s in proxy_state.replica_states(settings)
    ]
    return {**as_json(status), "replicas": replicas, "needs_restart": golive.restart_loads(settings, status)}


@router.post("/proxy/reload", tags=["proxy"])
def reload(settings: SettingsDep, actor: ActorDep) -> dict[str, Any]:
    """Reload the proxy on the current file without dropping requests; the supervisor's report."""
    return as_json(golive.request_reload(settings, actor=actor))
