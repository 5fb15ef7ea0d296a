"""``osgp headend``: run the head-end and manage its database, API keys and concentrators."""

from __future__ import annotations

import argparse
import sys

DEFAULT_DB = "sqlite:///osgp-headend.db"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "headend",
        help="the head-end: REST API, concentrator link, MQTT, database",
        description="The utility data center side of OSGP.",
    )
    hs = p.add_subparsers(dest="headend_command", metavar="ACTION")

    serve = hs.add_parser("serve", help="run the head-end (REST API + concentrator link + MQTT)")
    serve.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    serve.add_argument(
        "--mqtt", default="", help="MQTT broker URL, e.g. mqtt://127.0.0.1:1883 (default: none)"
    )
    serve.add_argument("--mqtt-prefix", default="osgp", help="MQTT topic prefix (default osgp)")
    serve.add_argument(
        "--listen", default="127.0.0.1:8080", help="REST API HOST:PORT (default 127.0.0.1:8080)"
    )
    serve.add_argument(
        "--link", default="0.0.0.0:4059", help="concentrator link HOST:PORT (default 0.0.0.0:4059)"
    )
    serve.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY:ROLE",
        help="an extra static API key (role read or operator); repeatable",
    )

    db = hs.add_parser("db", help="database migrations")
    dbs = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = dbs.add_parser("upgrade", help="migrate the database to the newest schema")
    up.add_argument("--db", default=DEFAULT_DB)
    up.add_argument("--revision", default="head")
    cur = dbs.add_parser("current", help="print the database's schema revision")
    cur.add_argument("--db", default=DEFAULT_DB)
    rev = dbs.add_parser(
        "revision",
        help="(maintainers) write a new migration from the difference between the models and "
        "a database at the newest revision",
    )
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--db", default="sqlite://", help="reference database (default: in memory)")

    key = hs.add_parser("apikey", help="create a REST API key (printed once)")
    key.add_argument("name")
    key.add_argument("--role", choices=("read", "operator"), default="read")
    key.add_argument("--db", default=DEFAULT_DB)

    conc = hs.add_parser("concentrator", help="register a concentrator; prints its link token")
    conc.add_argument("id")
    conc.add_argument("--name", default="")
    conc.add_argument("--transformer", default="")
    conc.add_argument("--token", default=None, help="use this token instead of a random one")
    conc.add_argument("--db", default=DEFAULT_DB)

    p.set_defaults(func=run, _headend_parser=p)


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "headend_command", None)
    if action == "serve":
        return _serve(args)
    if action == "db":
        return _db(args)
    if action == "apikey":
        return _apikey(args)
    if action == "concentrator":
        return _concentrator(args)
    args._headend_parser.print_help(sys.stderr)
    return 2


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from osgp.headend.link.server import DEFAULT_LINK_PORT
    from osgp.headend.service import DEFAULT_API_PORT, HeadendService, parse_listen

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    keys: dict[str, str] = {}
    for item in args.api_key:
        k, _, role = item.rpartition(":")
        if not k or role not in ("read", "operator"):
            print(
                f"--api-key {item!r}: expected KEY:ROLE with role read or operator", file=sys.stderr
            )
            return 2
        keys[k] = role
    try:
        api_host, api_port = parse_listen(args.listen, DEFAULT_API_PORT)
        link_host, link_port = parse_listen(args.link, DEFAULT_LINK_PORT)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    svc = HeadendService(
        args.db,
        mqtt_url=args.mqtt or None,
        mqtt_prefix=args.mqtt_prefix,
        api_host=api_host,
        api_port=api_port,
        link_host=link_host,
        link_port=link_port,
        static_keys=keys,
    )

    async def main() -> None:
        await svc.start()
        print(f"osgp head-end: REST API {svc.api_url}/api/v1 (docs {svc.api_url}/api/v1/docs)")
        print(f"osgp head-end: concentrator link on {link_host}:{svc.link_port}", flush=True)
        assert svc._api_task is not None
        try:
            await svc._api_task
        finally:
            await svc.stop()

    asyncio.run(main())
    return 0


def _db(args: argparse.Namespace) -> int:
    from osgp.headend.db.session import current_revision, make_engine, upgrade

    if getattr(args, "db_command", None) not in ("upgrade", "current", "revision"):
        print("usage: osgp headend db {upgrade,current,revision} --db URL", file=sys.stderr)
        return 2
    engine = make_engine(args.db)
    if args.db_command == "revision":
        from osgp.headend.db.session import autogenerate_revision

        upgrade(engine)
        print(autogenerate_revision(engine, args.message))
        return 0
    if args.db_command == "upgrade":
        before = current_revision(engine)
        upgrade(engine, args.revision)
        print(f"{engine.url.render_as_string()}: {before or 'empty'} -> {current_revision(engine)}")
    else:
        print(current_revision(engine) or "empty (never migrated)")
    return 0


def _apikey(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from osgp.headend.api.auth import create_api_key
    from osgp.headend.db.session import make_engine, upgrade

    engine = make_engine(args.db)
    upgrade(engine)
    try:
        key = create_api_key(engine, args.name, args.role)
    except IntegrityError:
        print(f"an API key named {args.name!r} exists", file=sys.stderr)
        return 1
    print(key)
    return 0


def _concentrator(args: argparse.Namespace) -> int:
    import secrets

    from sqlalchemy.orm import Session

    from osgp.headend.db import models as m
    from osgp.headend.db.session import make_engine, upgrade

    engine = make_engine(args.db)
    upgrade(engine)
    token = args.token or secrets.token_urlsafe(32)
    with Session(engine) as session, session.begin():
        c = session.get(m.Concentrator, args.id)
        if c is None:
            session.add(
                m.Concentrator(
                    id=args.id,
                    name=args.name or args.id,
                    transformer=args.transformer,
                    link_token=token,
                    status="offline",
                    address="",
                )
            )
        else:
            c.link_token = token  # re-keying an existing concentrator
    print(token)
    return 0
