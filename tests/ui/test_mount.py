"""The UI is served by the head-end's app without touching the REST API's contract."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from osgp.headend.api import create_app
from osgp.headend.db.session import upgrade
from osgp.headend.ui import mount_ui


def test_ui_is_served_and_not_in_the_openapi_document() -> None:
    engine = create_engine("sqlite://")
    upgrade(engine)
    app = create_app(engine)
    mount_ui(app)
    mount_ui(app)  # idempotent
    client = TestClient(app)
    index = client.get("/ui/")
    assert index.status_code == 200
    assert 'id="view"' in index.text
    assert (
        client.get("/ui/app.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    root = client.get("/", follow_redirects=False)
    assert root.status_code in (302, 307) and root.headers["location"] == "/ui/"
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/v1")]


def test_ui_loads_nothing_from_the_network() -> None:
    from osgp.headend.ui import STATIC_DIR

    for f in STATIC_DIR.iterdir():
        text = f.read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), f.name
        assert "https://" not in text, f"{f.name} refers to the network"
