"""The REST API (FastAPI). Everything lives under ``/api/v1``; the OpenAPI document is at
``/api/v1/openapi.json`` and the interactive docs at ``/api/v1/docs``.

Build with :func:`create_app`; the service adds the link and MQTT around it.
"""

# No `from __future__ import annotations`: FastAPI must resolve the route-local aliases.
import base64
import binascii
import collections
import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from osgp.headend.api import schemas as s
from osgp.headend.api.auth import Principal, create_api_key, lookup_key
from osgp.headend.db import models as m
from osgp.headend.db.models import utc

__all__ = ["ApiContext", "create_app"]

MAX_ID = 2**63 - 1
#: Free-text filters may hold anything but NUL, which PostgreSQL refuses in text parameters.
NO_NUL = r"^[^\x00]*$"
IdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
IntId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=100_000, description="At most this many items")]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
When = Annotated[dt.datetime | None, Query(description="ISO 8601; without zone = UTC")]
DEFAULT_WINDOW = dt.timedelta(days=1)


class ApiContext:
    """What the routes need: the engine, static keys, and hooks into the rest of the service."""

    def __init__(
        self,
        engine: Engine,
        *,
        static_keys: dict[str, str] | None = None,
        notify_commands: Callable[[str], None] | None = None,
        link_connected: Callable[[], list[str]] | None = None,
        mqtt_connected: Callable[[], bool] | None = None,
    ) -> None:
        self.engine = engine
        self.static_keys = dict(static_keys or {})
        self.notify_commands = notify_commands or (lambda _cid: None)
        self.link_connected = link_connected or (lambda: [])
        self.mqtt_connected = mqtt_connected


def _bad(field: str, message: str, status: int = 422) -> HTTPException:
    return HTTPException(status, detail=f"{field}: {message}")


def _utc_param(field: str, value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise _bad(field, "date out of range") from None


def _window(
    since: dt.datetime | None, until: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    u = _utc_param("until", until)
    f = _utc_param("since", since)
    if u is None:
        u = dt.datetime.now(dt.UTC) if f is None else _add(f, DEFAULT_WINDOW, "since")
    if f is None:
        f = _add(u, -DEFAULT_WINDOW, "until")
    if f > u:
        raise _bad("since", "must not be after until")
    return f, u


def _add(value: dt.datetime, delta: dt.timedelta, field: str) -> dt.datetime:
    try:
        return value + delta
    except OverflowError:
        raise _bad(field, "date out of range") from None


def _range(since: dt.datetime | None, until: dt.datetime | None) -> tuple[Any, Any]:
    f = _utc_param("since", since)
    u = _utc_param("until", until)
    if f is not None and u is not None and f > u:
        raise _bad("since", "must not be after until")
    return f, u


def _between(q: Any, column: Any, f: Any, u: Any) -> Any:
    """``q`` limited to rows whose ``column`` lies in [f, u] (either bound may be None)."""
    if f is not None:
        q = q.where(column >= f)
    if u is not None:
        q = q.where(column <= u)
    return q


def create_app(ctx: ApiContext | Engine, *, title: str = "osgp head-end") -> FastAPI:
    """The FastAPI application over ``ctx`` (or just an engine, with no keys but the DB's)."""
    if isinstance(ctx, Engine):
        ctx = ApiContext(ctx)
    context = ctx
    app = FastAPI(
        title=title,
        version="1",
        description="REST API of the osgp head-end: devices, data, topology, commands, campaigns. "
        "Authenticate with the `X-API-Key` header (roles: read, operator).",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.ctx = context

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p != "body" or len(err["loc"]) == 1]
            errors.append({"field": ".".join(loc), "message": err.get("msg", "")})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return JSONResponse(status_code=422, content={"detail": detail, "errors": errors})

    def db() -> Iterator[Session]:
        with Session(context.engine, expire_on_commit=False) as session:
            yield session

    def principal(
        x_api_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Principal:
        if not x_api_key:
            raise HTTPException(401, detail="X-API-Key: header missing")
        who = lookup_key(context.engine, x_api_key, context.static_keys)
        if who is None:
            raise HTTPException(401, detail="X-API-Key: unknown key")
        return who

    def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.can_operate:
            raise HTTPException(
                403, detail=f"X-API-Key: role {who.role!r} may not do this; operator needed"
            )
        return who

    DB = Annotated[Session, Depends(db)]
    Reader = Annotated[Principal, Depends(principal)]
    Operator = Annotated[Principal, Depends(operator)]

    errors: dict[int | str, dict[str, Any]] = {
        400: {"description": "the body is not valid JSON"},
        401: {"description": "missing or unknown API key"},
        422: {"description": "a parameter or field is invalid; `detail` names it"},
    }
    r = APIRouter(prefix="/api/v1", responses=errors)
    op_errors: dict[int | str, dict[str, Any]] = {403: {"description": "operator role needed"}}

    # -- helpers ---------------------------------------------------------------------------------
    def get_concentrator(session: Session, cid: str) -> m.Concentrator:
        c = session.get(m.Concentrator, cid)
        if c is None:
            raise HTTPException(404, detail=f"concentrator {cid!r} not found")
        return c

    def get_device(session: Session, did: str) -> m.Device:
        d = session.get(m.Device, did)
        if d is None:
            raise HTTPException(404, detail=f"device {did!r} not found")
        return d

    def conc_out(session: Session, c: m.Concentrator) -> s.ConcentratorOut:
        n = session.scalar(select(func.count()).where(m.Device.concentrator_id == c.id)) or 0
        return s.ConcentratorOut(
            id=c.id,
            name=c.name,
            transformer=c.transformer,
            status=c.status,
            address=c.address,
            last_seen=utc(c.last_seen),
            latitude=c.latitude,
            longitude=c.longitude,
            devices=n,
        )

    def dev_out(d: m.Device) -> s.DeviceOut:
        return s.DeviceOut(
            id=d.id,
            concentrator_id=d.concentrator_id,
            kind=d.kind,
            serial=d.serial,
            model=d.model,
            firmware=d.firmware,
            bus=d.bus,
            phase=d.phase,
            phases=d.phases,
            feeder=d.feeder,
            distance_m=d.distance_m,
            status=d.status,
            relay=d.relay,
            last_seen=utc(d.last_seen),
            attributes=d.attributes or {},
        )

    def cmd_out(c: m.Command) -> s.CommandOut:
        return s.CommandOut(
            id=c.id,
            concentrator_id=c.concentrator_id,
            device_id=c.device_id,
            group=c.group,
            kind=c.kind,
            params=c.params or {},
            status=c.status,
            created_at=utc(c.created_at) or c.created_at,
            created_by=c.created_by,
            sent_at=utc(c.sent_at),
            delivered_at=utc(c.delivered_at),
            completed_at=utc(c.completed_at),
            result=c.result,
            error=c.error,
        )

    def event_out(e: m.Event) -> s.EventOut:
        return s.EventOut(
            id=e.id,
            concentrator_id=e.concentrator_id,
            source=e.source,
            code=e.code,
            name=e.name,
            severity=e.severity,
            occurred_at=utc(e.occurred_at) or e.occurred_at,
            details=e.details or {},
        )

    def queue(
        session: Session,
        who: Principal,
        concentrator_id: str,
        kind: str,
        *,
        device: str | None = None,
        group: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> s.CommandOut:
        cmd = m.Command(
            concentrator_id=concentrator_id,
            device_id=device,
            group=group,
            kind=kind,
            params=params or {},
            status="queued",
            created_at=m.now_utc(),
            created_by=who.name,
            error="",
        )
        session.add(cmd)
        session.commit()
        context.notify_commands(concentrator_id)
        return cmd_out(cmd)

    def device_command(
        session: Session, who: Principal, did: str, kind: str, params: dict[str, Any]
    ) -> s.CommandOut:
        d = get_device(session, did)
        if d.concentrator_id is None:
            raise HTTPException(409, detail=f"device {did!r} has no concentrator to send through")
        return queue(session, who, d.concentrator_id, kind, device=did, params=params)

    # -- health & keys ---------------------------------------------------------------------------
    @app.get("/api/v1/health", response_model=s.Health, tags=["service"])
    def health() -> s.Health:
        from osgp.headend.db.session import current_revision

        mq = context.mqtt_connected
        return s.Health(
            status="ok",
            database=context.engine.dialect.name,
            revision=current_revision(context.engine),
            link_connected=context.link_connected(),
            mqtt_connected=None if mq is None else mq(),
        )

    @r.post(
        "/api-keys",
        response_model=s.ApiKeyCreated,
        status_code=201,
        tags=["service"],
        responses={**op_errors, 409: {"description": "name taken"}},
    )
    def add_key(body: s.ApiKeyIn, who: Operator) -> s.ApiKeyCreated:
        try:
            key = create_api_key(context.engine, body.name, body.role)
        except IntegrityError:
            raise HTTPException(409, detail=f"name: API key {body.name!r} exists") from None
        return s.ApiKeyCreated(name=body.name, role=body.role, key=key)

    # -- concentrators ---------------------------------------------------------------------------
    @r.get("/concentrators", response_model=list[s.ConcentratorOut], tags=["concentrators"])
    def list_concentrators(session: DB, who: Reader) -> list[s.ConcentratorOut]:
        return [
            conc_out(session, c)
            for c in session.scalars(select(m.Concentrator).order_by(m.Concentrator.id))
        ]

    @r.post(
        "/concentrators",
        response_model=s.ConcentratorCreated,
        status_code=201,
        tags=["concentrators"],
        responses={**op_errors, 409: {"description": "id taken"}},
    )
    def add_concentrator(
        body: s.ConcentratorIn, session: DB, who: Operator
    ) -> s.ConcentratorCreated:
        if session.get(m.Concentrator, body.id) is not None:
            raise HTTPException(409, detail=f"id: concentrator {body.id!r} exists")
        token = body.token or secrets.token_urlsafe(32)
        c = m.Concentrator(
            id=body.id,
            name=body.name or body.id,
            transformer=body.transformer,
            link_token=token,
            status="offline",
            address="",
            latitude=body.latitude,
            longitude=body.longitude,
            created_at=m.now_utc(),
        )
        session.add(c)
        session.commit()
        return s.ConcentratorCreated(concentrator=conc_out(session, c), token=token)

    @r.get(
        "/concentrators/{cid}",
        response_model=s.ConcentratorOut,
        tags=["concentrators"],
        responses={404: {"description": "not found"}},
    )
    def one_concentrator(cid: IdPath, session: DB, who: Reader) -> s.ConcentratorOut:
        return conc_out(session, get_concentrator(session, cid))

    @r.get(
        "/concentrators/{cid}/topology",
        response_model=s.TopologyOut,
        tags=["topology"],
        responses={404: {"description": "no such concentrator or no snapshot yet"}},
    )
    def topology(cid: IdPath, session: DB, who: Reader, at: When = None) -> s.TopologyOut:
        """The segment's topology: the latest snapshot, or the latest at or before ``at``."""
        get_concentrator(session, cid)
        q = select(m.TopologySnapshot).where(m.TopologySnapshot.concentrator_id == cid)
        at_utc = _utc_param("at", at)
        if at_utc is not None:
            q = q.where(m.TopologySnapshot.taken_at <= at_utc)
        snap = session.scalars(q.order_by(m.TopologySnapshot.taken_at.desc()).limit(1)).first()
        if snap is None:
            raise HTTPException(404, detail=f"concentrator {cid!r} has reported no topology yet")
        ids = [n.device_id for n in snap.nodes]
        devs = {d.id: d for d in session.scalars(select(m.Device).where(m.Device.id.in_(ids)))}
        return s.TopologyOut(
            concentrator=cid,
            snapshot_id=snap.id,
            taken_at=utc(snap.taken_at) or snap.taken_at,
            nodes=[
                s.TopologyNodeOut(
                    device=n.device_id,
                    level=n.level,
                    proxy=n.is_proxy,
                    parent=n.parent,
                    kind=devs[n.device_id].kind if n.device_id in devs else None,
                    bus=devs[n.device_id].bus if n.device_id in devs else None,
                    phase=devs[n.device_id].phase if n.device_id in devs else None,
                    status=devs[n.device_id].status if n.device_id in devs else None,
                )
                for n in snap.nodes
            ],
            links=[
                s.TopologyLinkOut(a=lk.a, b=lk.b, signal_db=lk.signal_db, margin_db=lk.margin_db)
                for lk in snap.links
            ],
            paths=[s.TopologyPathOut(device=p.device_id, hops=list(p.hops)) for p in snap.paths],
        )

    @r.get(
        "/concentrators/{cid}/link-quality",
        response_model=list[s.LinkQualityOut],
        tags=["topology"],
        responses={404: {"description": "not found"}},
    )
    def conc_link_quality(
        cid: IdPath,
        session: DB,
        who: Reader,
        since: When = None,
        until: When = None,
        limit: Limit = 10_000,
    ) -> list[s.LinkQualityOut]:
        get_concentrator(session, cid)
        f, u = _range(since, until)
        q = select(m.LinkQualitySample).where(m.LinkQualitySample.concentrator_id == cid)
        return _lq(session, q, f, u, limit)

    def _lq(session: Session, q: Any, f: Any, u: Any, limit: int) -> list[s.LinkQualityOut]:
        q = _between(q, m.LinkQualitySample.sampled_at, f, u)
        rows = session.scalars(q.order_by(m.LinkQualitySample.sampled_at).limit(limit))
        return [
            s.LinkQualityOut(
                device_id=x.device_id,
                sampled_at=utc(x.sampled_at) or x.sampled_at,
                signal_db=x.signal_db,
                margin_db=x.margin_db,
                hops=x.hops,
                success_rate=x.success_rate,
            )
            for x in rows
        ]

    @r.get(
        "/concentrators/{cid}/grid-health",
        response_model=s.GridHealth,
        tags=["grid health"],
        responses={404: {"description": "not found"}},
    )
    def grid_health(
        cid: IdPath,
        session: DB,
        who: Reader,
        since: When = None,
        until: When = None,
        bucket_minutes: Annotated[int, Query(ge=1, le=10080)] = 60,
    ) -> s.GridHealth:
        """Health of the transformer's LV network over a window (default: the last day):
        voltages along the feeders, outages, phase balance, link quality over time."""
        c = get_concentrator(session, cid)
        f, u = _window(since, until)
        return _grid_health(session, c, f, u, bucket_minutes)

    @r.post(
        "/concentrators/{cid}/broadcast",
        response_model=s.CommandOut,
        status_code=202,
        tags=["commands"],
        responses={**op_errors, 404: {"description": "not found"}},
    )
    def broadcast(cid: IdPath, body: s.BroadcastIn, session: DB, who: Operator) -> s.CommandOut:
        """A group broadcast on the segment (e.g. a tariff switch or a demand-response signal)."""
        get_concentrator(session, cid)
        return queue(
            session,
            who,
            cid,
            "broadcast",
            group=body.group,
            params={"operation": body.operation, **body.params},
        )

    @r.post(
        "/concentrators/{cid}/discover",
        response_model=s.CommandOut,
        status_code=202,
        tags=["commands"],
        responses={**op_errors, 404: {"description": "not found"}},
    )
    def discover(cid: IdPath, session: DB, who: Operator) -> s.CommandOut:
        get_concentrator(session, cid)
        return queue(session, who, cid, "discover")

    # -- devices ---------------------------------------------------------------------------------
    @r.get("/devices", response_model=s.DevicePage, tags=["devices"])
    def list_devices(
        session: DB,
        who: Reader,
        concentrator: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
        kind: Annotated[str | None, Query(max_length=32, pattern=NO_NUL)] = None,
        status: Annotated[str | None, Query(max_length=16, pattern=NO_NUL)] = None,
        limit: Limit = 1000,
        offset: Offset = 0,
    ) -> s.DevicePage:
        q = select(m.Device)
        if concentrator is not None:
            q = q.where(m.Device.concentrator_id == concentrator)
        if kind is not None:
            q = q.where(m.Device.kind == kind)
        if status is not None:
            q = q.where(m.Device.status == status)
        total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
        items = session.scalars(q.order_by(m.Device.id).limit(limit).offset(offset))
        return s.DevicePage(items=[dev_out(d) for d in items], total=total)

    @r.get(
        "/devices/{did}",
        response_model=s.DeviceDetail,
        tags=["devices"],
        responses={404: {"description": "not found"}},
    )
    def one_device(did: IdPath, session: DB, who: Reader) -> s.DeviceDetail:
        """A device with its latest register values and its current repeater path."""
        d = get_device(session, did)
        path = None
        if d.concentrator_id is not None:
            snap = session.scalar(
                select(m.TopologySnapshot.id)
                .where(m.TopologySnapshot.concentrator_id == d.concentrator_id)
                .order_by(m.TopologySnapshot.taken_at.desc())
                .limit(1)
            )
            if snap is not None:
                p = session.get(m.TopologyPath, (snap, did))
                path = list(p.hops) if p is not None else None
        return s.DeviceDetail(
            **dev_out(d).model_dump(), registers=_registers(session, did), path=path
        )

    @r.get(
        "/devices/{did}/registers",
        response_model=list[s.RegisterValue],
        tags=["devices"],
        responses={404: {"description": "not found"}},
    )
    def registers(did: IdPath, session: DB, who: Reader) -> list[s.RegisterValue]:
        """The latest value of every register of the device."""
        get_device(session, did)
        return _registers(session, did)

    @r.get(
        "/devices/{did}/reads",
        response_model=list[s.ReadOut],
        tags=["data"],
        responses={404: {"description": "not found"}},
    )
    def reads(
        did: IdPath,
        session: DB,
        who: Reader,
        register: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
        since: When = None,
        until: When = None,
        limit: Limit = 10_000,
    ) -> list[s.ReadOut]:
        get_device(session, did)
        f, u = _range(since, until)
        q = select(m.RegisterRead).where(m.RegisterRead.device_id == did)
        if register is not None:
            q = q.where(m.RegisterRead.register == register)
        q = _between(q, m.RegisterRead.read_at, f, u)
        rows = session.scalars(
            q.order_by(m.RegisterRead.read_at, m.RegisterRead.register).limit(limit)
        )
        return [
            s.ReadOut(
                register=x.register, read_at=utc(x.read_at) or x.read_at, value=x.value, unit=x.unit
            )
            for x in rows
        ]

    @r.get(
        "/devices/{did}/load-profile",
        response_model=s.LoadProfile,
        tags=["data"],
        responses={404: {"description": "not found"}},
    )
    def load_profile(
        did: IdPath,
        session: DB,
        who: Reader,
        channel: Annotated[str, Query(min_length=1, max_length=64, pattern=NO_NUL)] = "import_wh",
        since: When = None,
        until: When = None,
        limit: Limit = 10_000,
    ) -> s.LoadProfile:
        """Load-profile intervals of one channel, oldest first (chart data)."""
        get_device(session, did)
        f, u = _range(since, until)
        channels = sorted(
            session.scalars(
                select(m.LoadProfileInterval.channel)
                .where(m.LoadProfileInterval.device_id == did)
                .distinct()
            )
        )
        q = select(m.LoadProfileInterval).where(
            m.LoadProfileInterval.device_id == did, m.LoadProfileInterval.channel == channel
        )
        q = _between(q, m.LoadProfileInterval.interval_end, f, u)
        rows = session.scalars(q.order_by(m.LoadProfileInterval.interval_end).limit(limit))
        return s.LoadProfile(
            device=did,
            channel=channel,
            channels=channels,
            intervals=[
                s.IntervalOut(
                    end=utc(x.interval_end) or x.interval_end, value=x.value, status=x.status
                )
                for x in rows
            ],
        )

    @r.get(
        "/devices/{did}/events",
        response_model=list[s.EventOut],
        tags=["events"],
        responses={404: {"description": "not found"}},
    )
    def device_events(
        did: IdPath,
        session: DB,
        who: Reader,
        since: When = None,
        until: When = None,
        limit: Limit = 1000,
    ) -> list[s.EventOut]:
        get_device(session, did)
        return _events(session, None, did, None, since, until, limit)

    @r.get(
        "/devices/{did}/power-quality",
        response_model=list[s.PowerQualityOut],
        tags=["data"],
        responses={404: {"description": "not found"}},
    )
    def power_quality(
        did: IdPath,
        session: DB,
        who: Reader,
        kind: Annotated[str | None, Query(max_length=16, pattern=NO_NUL)] = None,
        since: When = None,
        until: When = None,
        limit: Limit = 10_000,
    ) -> list[s.PowerQualityOut]:
        get_device(session, did)
        f, u = _range(since, until)
        q = select(m.PowerQuality).where(m.PowerQuality.device_id == did)
        if kind is not None:
            q = q.where(m.PowerQuality.kind == kind)
        q = _between(q, m.PowerQuality.recorded_at, f, u)
        rows = session.scalars(
            q.order_by(m.PowerQuality.recorded_at, m.PowerQuality.phase).limit(limit)
        )
        return [
            s.PowerQualityOut(
                recorded_at=utc(x.recorded_at) or x.recorded_at,
                kind=x.kind,
                phase=x.phase,
                voltage_v=x.voltage_v,
                current_a=x.current_a,
                frequency_hz=x.frequency_hz,
                thd_pct=x.thd_pct,
                duration_s=x.duration_s,
            )
            for x in rows
        ]

    @r.get(
        "/devices/{did}/link-quality",
        response_model=list[s.LinkQualityOut],
        tags=["topology"],
        responses={404: {"description": "not found"}},
    )
    def device_link_quality(
        did: IdPath,
        session: DB,
        who: Reader,
        since: When = None,
        until: When = None,
        limit: Limit = 10_000,
    ) -> list[s.LinkQualityOut]:
        get_device(session, did)
        f, u = _range(since, until)
        q = select(m.LinkQualitySample).where(m.LinkQualitySample.device_id == did)
        return _lq(session, q, f, u, limit)

    def dev_route(path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        return r.post(
            path,
            response_model=s.CommandOut,
            status_code=202,
            tags=["commands"],
            responses={
                **op_errors,
                404: {"description": "no such device"},
                409: {"description": "device has no concentrator"},
            },
        )

    @dev_route("/devices/{did}/read")
    def on_demand_read(did: IdPath, body: s.ReadIn, session: DB, who: Operator) -> s.CommandOut:
        """Read registers now; the values arrive as reads and in the command's result."""
        return device_command(session, who, did, "read", {"registers": body.registers})

    @dev_route("/devices/{did}/connect")
    def connect(did: IdPath, session: DB, who: Operator) -> s.CommandOut:
        """Close the meter's service switch (reconnect the customer)."""
        return device_command(session, who, did, "connect", {})

    @dev_route("/devices/{did}/disconnect")
    def disconnect(did: IdPath, session: DB, who: Operator) -> s.CommandOut:
        """Open the meter's service switch."""
        return device_command(session, who, did, "disconnect", {})

    @dev_route("/devices/{did}/time-sync")
    def time_sync(did: IdPath, body: s.TimeSyncIn, session: DB, who: Operator) -> s.CommandOut:
        t = _utc_param("time", body.time) or dt.datetime.now(dt.UTC)
        return device_command(session, who, did, "time_sync", {"time": t.timestamp()})

    @dev_route("/devices/{did}/operations")
    def device_operation(
        did: IdPath, body: s.OperationIn, session: DB, who: Operator
    ) -> s.CommandOut:
        """An operation on a non-meter device (streetlight, DER inverter, load switch)."""
        return device_command(
            session, who, did, "device_operation", {"operation": body.operation, **body.params}
        )

    # -- events & alarms -------------------------------------------------------------------------
    def _events(
        session: Session,
        concentrator: str | None,
        source: str | None,
        severity: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        limit: int,
    ) -> list[s.EventOut]:
        f, u = _range(since, until)
        q = select(m.Event)
        if concentrator is not None:
            q = q.where(m.Event.concentrator_id == concentrator)
        if source is not None:
            q = q.where(m.Event.source == source)
        if severity is not None:
            q = q.where(m.Event.severity == severity)
        q = _between(q, m.Event.occurred_at, f, u)
        rows = session.scalars(
            q.order_by(m.Event.occurred_at.desc(), m.Event.id.desc()).limit(limit)
        )
        return [event_out(e) for e in rows]

    @r.get("/events", response_model=list[s.EventOut], tags=["events"])
    def events(
        session: DB,
        who: Reader,
        concentrator: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
        device: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
        severity: Annotated[str | None, Query(max_length=16, pattern=NO_NUL)] = None,
        since: When = None,
        until: When = None,
        limit: Limit = 1000,
    ) -> list[s.EventOut]:
        """Events, newest first."""
        return _events(session, concentrator, device, severity, since, until, limit)

    @r.get("/alarms", response_model=list[s.AlarmOut], tags=["events"])
    def alarms(
        session: DB,
        who: Reader,
        state: Annotated[str, Query(pattern="^(active|acknowledged|all)$")] = "active",
        concentrator: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
        limit: Limit = 1000,
    ) -> list[s.AlarmOut]:
        """Alarms (events of severity ``alarm``), newest first; ``active`` = not acknowledged."""
        q = (
            select(m.Event, m.AlarmAck)
            .outerjoin(m.AlarmAck, m.AlarmAck.event_id == m.Event.id)
            .where(m.Event.severity == "alarm")
        )
        if concentrator is not None:
            q = q.where(m.Event.concentrator_id == concentrator)
        if state == "active":
            q = q.where(m.AlarmAck.event_id.is_(None))
        elif state == "acknowledged":
            q = q.where(m.AlarmAck.event_id.is_not(None))
        rows = session.execute(
            q.order_by(m.Event.occurred_at.desc(), m.Event.id.desc()).limit(limit)
        )
        return [_alarm_out(e, a) for e, a in rows]

    def _alarm_out(e: m.Event, a: m.AlarmAck | None) -> s.AlarmOut:
        return s.AlarmOut(
            **event_out(e).model_dump(),
            state="active" if a is None else "acknowledged",
            acknowledged_by=None if a is None else a.acknowledged_by,
            acknowledged_at=None if a is None else utc(a.acknowledged_at),
            note=None if a is None else a.note,
        )

    @r.post(
        "/alarms/{event_id}/ack",
        response_model=s.AlarmOut,
        tags=["events"],
        responses={**op_errors, 404: {"description": "no such alarm"}},
    )
    def ack_alarm(event_id: IntId, body: s.AlarmAckIn, session: DB, who: Operator) -> s.AlarmOut:
        e = session.get(m.Event, event_id)
        if e is None or e.severity != "alarm":
            raise HTTPException(404, detail=f"alarm {event_id} not found")
        a = session.get(m.AlarmAck, event_id)
        if a is None:
            a = m.AlarmAck(event_id=event_id, acknowledged_by=who.name, note=body.note)
            a.acknowledged_at = m.now_utc()
            session.add(a)
            session.commit()
        return _alarm_out(e, a)

    # -- commands --------------------------------------------------------------------------------
    @r.get("/commands", response_model=list[s.CommandOut], tags=["commands"])
    def commands(
        session: DB,
        who: Reader,
        concentrator: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
        device: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
        status: Annotated[str | None, Query(max_length=16, pattern=NO_NUL)] = None,
        limit: Limit = 1000,
    ) -> list[s.CommandOut]:
        """Commands, newest first."""
        q = select(m.Command)
        if concentrator is not None:
            q = q.where(m.Command.concentrator_id == concentrator)
        if device is not None:
            q = q.where(m.Command.device_id == device)
        if status is not None:
            q = q.where(m.Command.status == status)
        return [cmd_out(c) for c in session.scalars(q.order_by(m.Command.id.desc()).limit(limit))]

    @r.get(
        "/commands/{command_id}",
        response_model=s.CommandOut,
        tags=["commands"],
        responses={404: {"description": "not found"}},
    )
    def one_command(command_id: IntId, session: DB, who: Reader) -> s.CommandOut:
        c = session.get(m.Command, command_id)
        if c is None:
            raise HTTPException(404, detail=f"command {command_id} not found")
        return cmd_out(c)

    @r.post(
        "/commands/{command_id}/cancel",
        response_model=s.CommandOut,
        tags=["commands"],
        responses={
            **op_errors,
            404: {"description": "not found"},
            409: {"description": "already delivered to the concentrator or finished"},
        },
    )
    def cancel_command(command_id: IntId, session: DB, who: Operator) -> s.CommandOut:
        """Cancel a command the concentrator has not acknowledged yet (queued or sent)."""
        c = session.get(m.Command, command_id)
        if c is None:
            raise HTTPException(404, detail=f"command {command_id} not found")
        if c.status not in ("queued", "sent"):
            raise HTTPException(
                409,
                detail=f"command {command_id} is {c.status}; only queued or sent can be cancelled",
            )
        c.status = "cancelled"
        c.completed_at = m.now_utc()
        c.error = f"cancelled by {who.name}"
        session.commit()
        return cmd_out(c)

    @r.post(
        "/commands",
        response_model=s.CommandOut,
        status_code=202,
        tags=["commands"],
        responses={**op_errors, 404: {"description": "no such device or concentrator"}},
    )
    def new_command(body: s.CommandIn, session: DB, who: Operator) -> s.CommandOut:
        """Any command: for a device (its concentrator is found) or for a whole segment."""
        if body.device is not None:
            d = get_device(session, body.device)
            cid = d.concentrator_id
            if body.concentrator is not None and cid != body.concentrator:
                raise _bad("concentrator", f"device {body.device!r} is behind {cid!r}")
            if cid is None:
                raise HTTPException(409, detail=f"device {body.device!r} has no concentrator")
        elif body.concentrator is not None:
            cid = get_concentrator(session, body.concentrator).id
        else:
            raise _bad("device", "give a device or a concentrator")
        if body.kind in ("read", "connect", "disconnect", "time_sync", "device_operation") and (
            body.device is None
        ):
            raise _bad("device", f"a {body.kind} command needs a device")
        return queue(
            session, who, cid, body.kind, device=body.device, group=body.group, params=body.params
        )

    # -- firmware campaigns ----------------------------------------------------------------------
    def campaign_out(session: Session, c: m.FirmwareCampaign, with_devices: bool) -> s.CampaignOut:
        # Progress: a finished device (activated or failed) counts whole, others by blocks.
        counts: dict[str, int] = collections.Counter()
        work = 0.0
        for d in c.devices:
            counts[d.state] += 1
            if d.state in ("activated", "failed"):
                work += 1.0
            elif d.blocks_total > 0:
                work += min(d.blocks_done / d.blocks_total, 1.0)
        n = len(c.devices)
        pct = 100.0 * work / n if n else 100.0
        return s.CampaignOut(
            id=c.id,
            name=c.name,
            version=c.version,
            image_size=c.image_size,
            block_size=c.block_size,
            image_sha256=c.image_sha256,
            status=c.status,
            created_at=utc(c.created_at) or c.created_at,
            created_by=c.created_by,
            counts=dict(counts),
            progress_pct=round(pct, 2),
            devices=[
                s.CampaignDeviceOut(
                    device_id=d.device_id,
                    concentrator_id=d.concentrator_id,
                    state=d.state,
                    blocks_done=d.blocks_done,
                    blocks_total=d.blocks_total,
                    updated_at=utc(d.updated_at),
                    error=d.error,
                )
                for d in c.devices
            ]
            if with_devices
            else None,
        )

    @r.get("/campaigns", response_model=list[s.CampaignOut], tags=["firmware"])
    def campaigns(session: DB, who: Reader) -> list[s.CampaignOut]:
        rows = session.scalars(select(m.FirmwareCampaign).order_by(m.FirmwareCampaign.id.desc()))
        return [campaign_out(session, c, False) for c in rows]

    @r.get(
        "/campaigns/{campaign_id}",
        response_model=s.CampaignOut,
        tags=["firmware"],
        responses={404: {"description": "not found"}},
    )
    def one_campaign(campaign_id: IntId, session: DB, who: Reader) -> s.CampaignOut:
        c = session.get(m.FirmwareCampaign, campaign_id)
        if c is None:
            raise HTTPException(404, detail=f"campaign {campaign_id} not found")
        return campaign_out(session, c, True)

    @r.post(
        "/campaigns",
        response_model=s.CampaignOut,
        status_code=201,
        tags=["firmware"],
        responses={**op_errors, 404: {"description": "a device or concentrator is unknown"}},
    )
    def new_campaign(body: s.CampaignIn, session: DB, who: Operator) -> s.CampaignOut:
        """Start a firmware download: one ``firmware_campaign`` command per concentrator."""
        try:
            image = base64.b64decode(body.image_b64, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("image_b64", "not valid base64") from None
        if not image:
            raise _bad("image_b64", "image is empty")
        targets: dict[str, str] = {}
        for did in body.devices:
            d = get_device(session, did)
            if d.concentrator_id is None:
                raise HTTPException(409, detail=f"devices: {did!r} has no concentrator")
            targets[did] = d.concentrator_id
        for cid in body.concentrators:
            get_concentrator(session, cid)
            q = select(m.Device.id).where(m.Device.concentrator_id == cid)
            if body.kind is not None:
                q = q.where(m.Device.kind == body.kind)
            for did in session.scalars(q):
                targets[did] = cid
        if not targets:
            raise _bad("devices", "the campaign targets no device")
        blocks = -(-len(image) // body.block_size)
        digest = hashlib.sha256(image).hexdigest()
        camp = m.FirmwareCampaign(
            name=body.name,
            version=body.version,
            image_size=len(image),
            block_size=body.block_size,
            image_sha256=digest,
            status="running",
            created_at=m.now_utc(),
            created_by=who.name,
        )
        session.add(camp)
        session.flush()
        by_conc: dict[str, list[str]] = collections.defaultdict(list)
        for did, cid in sorted(targets.items()):
            by_conc[cid].append(did)
            camp.devices.append(
                m.CampaignDevice(
                    device_id=did,
                    concentrator_id=cid,
                    state="pending",
                    blocks_done=0,
                    blocks_total=blocks,
                    error="",
                )
            )
        for cid, dids in by_conc.items():
            session.add(
                m.Command(
                    concentrator_id=cid,
                    kind="firmware_campaign",
                    params={
                        "campaign": camp.id,
                        "version": body.version,
                        "block_size": body.block_size,
                        "image_sha256": digest,
                        "image_b64": base64.b64encode(image).decode(),
                        "devices": dids,
                    },
                    status="queued",
                    created_at=m.now_utc(),
                    created_by=who.name,
                    error="",
                )
            )
        session.commit()
        for cid in by_conc:
            context.notify_commands(cid)
        return campaign_out(session, camp, True)

    app.include_router(r)
    return app


def _registers(session: Session, did: str) -> list[s.RegisterValue]:
    latest = (
        select(m.RegisterRead.register, func.max(m.RegisterRead.read_at).label("t"))
        .where(m.RegisterRead.device_id == did)
        .group_by(m.RegisterRead.register)
        .subquery()
    )
    rows = session.scalars(
        select(m.RegisterRead)
        .join(
            latest,
            (m.RegisterRead.register == latest.c.register) & (m.RegisterRead.read_at == latest.c.t),
        )
        .where(m.RegisterRead.device_id == did)
        .order_by(m.RegisterRead.register)
    )
    return [
        s.RegisterValue(
            register=x.register, value=x.value, unit=x.unit, read_at=utc(x.read_at) or x.read_at
        )
        for x in rows
    ]


def _grid_health(
    session: Session, c: m.Concentrator, f: dt.datetime, u: dt.datetime, bucket_minutes: int
) -> s.GridHealth:
    devices = {
        d.id: d for d in session.scalars(select(m.Device).where(m.Device.concentrator_id == c.id))
    }
    ids = list(devices)
    voltages: list[s.FeederVoltage] = []
    rows = session.execute(
        select(
            m.PowerQuality.device_id,
            m.PowerQuality.phase,
            func.min(m.PowerQuality.voltage_v),
            func.avg(m.PowerQuality.voltage_v),
            func.max(m.PowerQuality.voltage_v),
            func.count(m.PowerQuality.voltage_v),
        )
        .where(
            m.PowerQuality.device_id.in_(ids),
            m.PowerQuality.kind == "sample",
            m.PowerQuality.voltage_v.is_not(None),
            m.PowerQuality.recorded_at >= f,
            m.PowerQuality.recorded_at <= u,
        )
        .group_by(m.PowerQuality.device_id, m.PowerQuality.phase)
    ).all()
    for did, phase, vmin, vmean, vmax, n in rows:
        d = devices[did]
        voltages.append(
            s.FeederVoltage(
                device=did,
                bus=d.bus,
                feeder=d.feeder,
                distance_m=d.distance_m,
                phase=phase or (d.phase or 0),
                voltage_min=float(vmin),
                voltage_mean=float(vmean),
                voltage_max=float(vmax),
                samples=int(n),
            )
        )
    voltages.sort(
        key=lambda v: (
            v.feeder,
            v.distance_m if v.distance_m is not None else -1.0,
            v.device,
            v.phase,
        )
    )

    outages: list[s.Outage] = []
    for p in session.scalars(
        select(m.PowerQuality)
        .where(
            m.PowerQuality.device_id.in_(ids),
            m.PowerQuality.kind.in_(("outage", "interruption")),
            m.PowerQuality.recorded_at >= f,
            m.PowerQuality.recorded_at <= u,
        )
        .order_by(m.PowerQuality.recorded_at)
    ):
        start = utc(p.recorded_at) or p.recorded_at
        end = start + dt.timedelta(seconds=p.duration_s) if p.duration_s is not None else None
        outages.append(
            s.Outage(
                device=p.device_id,
                start=start,
                end=end,
                duration_s=p.duration_s,
                source="power_quality",
            )
        )
    open_fail: dict[str, dt.datetime] = {}
    for e in session.scalars(
        select(m.Event)
        .where(
            m.Event.concentrator_id == c.id,
            m.Event.name.in_(("power_fail", "power_restore")),
            m.Event.occurred_at >= f,
            m.Event.occurred_at <= u,
        )
        .order_by(m.Event.occurred_at)
    ):
        t = utc(e.occurred_at) or e.occurred_at
        if e.name == "power_fail":
            open_fail.setdefault(e.source, t)
        elif e.source in open_fail:
            start = open_fail.pop(e.source)
            outages.append(
                s.Outage(
                    device=e.source,
                    start=start,
                    end=t,
                    duration_s=(t - start).total_seconds(),
                    source="events",
                )
            )
    for dev, start in open_fail.items():
        outages.append(
            s.Outage(device=dev, start=start, end=None, duration_s=None, source="events")
        )

    energy = {1: 0.0, 2: 0.0, 3: 0.0}
    members: dict[int, set[str]] = {1: set(), 2: set(), 3: set()}
    for did, total in session.execute(
        select(m.LoadProfileInterval.device_id, func.sum(m.LoadProfileInterval.value))
        .where(
            m.LoadProfileInterval.device_id.in_(ids),
            m.LoadProfileInterval.channel == "import_wh",
            m.LoadProfileInterval.interval_end > f,
            m.LoadProfileInterval.interval_end <= u,
        )
        .group_by(m.LoadProfileInterval.device_id)
    ).all():
        d = devices[did]
        if d.phases == 3 or d.phase is None:
            for ph in (1, 2, 3):  # a three-phase load is taken as balanced
                energy[ph] += float(total) / 3
                members[ph].add(did)
        else:
            energy[d.phase] += float(total)
            members[d.phase].add(did)
    balance = [
        s.PhaseLoad(phase=ph, energy_wh=round(energy[ph], 3), devices=len(members[ph]))
        for ph in (1, 2, 3)
    ]
    mean = sum(energy.values()) / 3
    imbalance = (
        None if mean <= 0 else round(100 * (max(energy.values()) - min(energy.values())) / mean, 2)
    )

    buckets: dict[int, list[m.LinkQualitySample]] = collections.defaultdict(list)
    width = bucket_minutes * 60
    for q in session.scalars(
        select(m.LinkQualitySample).where(
            m.LinkQualitySample.concentrator_id == c.id,
            m.LinkQualitySample.sampled_at >= f,
            m.LinkQualitySample.sampled_at <= u,
        )
    ):
        t = utc(q.sampled_at) or q.sampled_at
        buckets[int(t.timestamp() // width)].append(q)

    def mean_of(values: Sequence[float | None]) -> float | None:
        vals = [v for v in values if v is not None]
        return round(sum(vals) / len(vals), 3) if vals else None

    lq = [
        s.LinkQualityBucket(
            start=dt.datetime.fromtimestamp(k * width, dt.UTC),
            samples=len(v),
            signal_db=mean_of([x.signal_db for x in v]),
            margin_db=mean_of([x.margin_db for x in v]),
            success_rate=mean_of([x.success_rate for x in v]),
        )
        for k, v in sorted(buckets.items())
    ]
    return s.GridHealth(
        concentrator=c.id,
        transformer=c.transformer,
        since=f,
        until=u,
        voltages=voltages,
        outages=outages,
        phase_balance=balance,
        imbalance_pct=imbalance,
        link_quality=lq,
    )
