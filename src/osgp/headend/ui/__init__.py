"""The head-end's web UI: static HTML, CSS and JavaScript (no build step, nothing from the
network) that talk to the REST API under ``/api/v1``. Maps and charts are inline SVG drawn by
``static/app.js``.

:func:`mount_ui` serves it at ``/ui/`` on the FastAPI app and redirects ``/`` there. The API key
comes from the address (``/ui/#key=KEY``, kept in the browser's session storage, never sent to
the server except as the ``X-API-Key`` header) or from the form the UI shows when it has none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["STATIC_DIR", "UI_PATH", "mount_ui"]

STATIC_DIR = Path(__file__).with_name("static")
UI_PATH = "/ui"


def mount_ui(app: Any, path: str = UI_PATH) -> None:
    """Serve the UI at ``path`` on ``app`` (a FastAPI/Starlette app); idempotent."""
    from starlette.responses import RedirectResponse
    from starlette.staticfiles import StaticFiles

    if any(getattr(r, "path", None) == path for r in app.routes):
        return
    app.mount(path, StaticFiles(directory=STATIC_DIR, html=True), name="ui")

    async def root() -> RedirectResponse:
        return RedirectResponse(f"{path}/")

    app.add_api_route("/", root, include_in_schema=False)
