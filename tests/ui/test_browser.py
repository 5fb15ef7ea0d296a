"""The web UI in a real browser: Playwright driving Debian's headless chromium.

Opens the demo's UI, finds a concentrator's map, opens a meter from it and sees its load-profile
chart with the day's 96 quarter-hour intervals; then visits every other view. Screenshots of each
view go to the test's temporary directory (and to ``$OSGP_UI_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.ui.conftest import TRANSFORMER, ServedDemo

CHROMIUM = os.environ.get("OSGP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
CID = "dc-" + TRANSFORMER.removeprefix("T_idx_").lower()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install -y chromium) or set OSGP_CHROMIUM to a Chromium binary"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install -e '.[dev]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, served_demo: ServedDemo) -> Iterator[Any]:
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(20_000)
    pg.errors = errors
    yield pg
    pg.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def shot(page: Any, name: str, tmp_path: Path) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get("OSGP_UI_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    assert path.stat().st_size > 5_000, f"screenshot {name} is (nearly) empty"
    return path


def test_map_to_meter_load_profile(page: Any, served_demo: ServedDemo, tmp_path: Path) -> None:
    page.goto(f"{served_demo.url}/ui/#key=demo-read")
    page.get_by_test_id("concentrators").wait_for()
    shot(page, "overview", tmp_path)

    # The concentrator's map: every device of the segment is a node, the topology has links.
    page.get_by_test_id(f"conc-link-{CID}").click()
    seg = page.get_by_test_id("segment-map")
    seg.wait_for()
    meters = page.locator("[data-testid=segment-map] a.map-node")
    assert meters.count() >= 20, f"only {meters.count()} meters on the map of {CID}"
    links = page.locator("[data-testid=segment-map] line.map-link")
    assert links.count() >= meters.count() * 0.9, "most meters should have a link in the map"
    assert page.locator("[data-testid=segment-map] a.map-node[data-level='2']").count() > 0, (
        "the map should show meters reached through a repeater (level 2)"
    )
    shot(page, "segment-map", tmp_path)

    # Hovering a level-2 meter highlights its whole path: two hops, concentrator to meter.
    page.locator("[data-testid=segment-map] a.map-node[data-level='2']").first.hover()
    assert page.locator("[data-testid=segment-map] line.map-link.hl").count() == 2
    # The same topology in rows by repeater level, and with every heard link drawn faintly.
    page.get_by_test_id("layout-layers").click()
    page.locator("[data-testid=segment-map][data-layout=layers]").wait_for()
    assert page.locator("[data-testid=segment-map] a.map-node").count() == meters.count()
    page.get_by_test_id("toggle-heard").click()
    page.locator("[data-testid=segment-map] line.heard").first.wait_for(state="attached")
    assert page.locator("[data-testid=segment-map] line.heard").count() > links.count()
    shot(page, "segment-map-layers", tmp_path)
    page.get_by_test_id("toggle-heard").click()
    page.get_by_test_id("layout-geo").click()
    page.locator("[data-testid=segment-map][data-layout=geo]").wait_for()

    # Open a meter reached through a repeater, by clicking its node on the map.
    node = page.locator("[data-testid=segment-map] a.map-node[data-level='2']").first
    meter_id = node.get_attribute("data-testid").removeprefix("node-")
    node.click()
    page.get_by_test_id("device-page").wait_for()
    assert meter_id in page.get_by_test_id("device-title").inner_text()
    bars = page.locator("[data-testid=load-profile-chart] rect.lp-bar")
    bars.nth(95).wait_for()
    assert bars.count() == 96, f"the day's chart has {bars.count()} intervals, expected 96"
    values = [float(bars.nth(i).get_attribute("data-value")) for i in range(96)]
    assert sum(values) > 0, "a household uses energy over a day"
    assert "96 intervals" in page.get_by_test_id("lp-summary").inner_text()
    assert page.get_by_test_id("lp-day").inner_text().startswith("2026-01-15 00:00")
    assert page.locator("[data-testid=registers] tbody tr").count() >= 3
    assert page.locator("[data-testid=pq-chart] circle.pt").count() >= 24
    shot(page, "device", tmp_path)

    # The previous day has no data: the chart says so rather than showing stale bars.
    page.get_by_test_id("day-prev").click()
    page.get_by_text("0 intervals").wait_for()
    assert page.locator("[data-testid=load-profile-chart] rect.lp-bar").count() == 0
    page.go_back()

    # The path shown on the device page goes through a repeater.
    assert "→" in page.locator("dl.kv").inner_text()


def test_other_views(page: Any, served_demo: ServedDemo, tmp_path: Path) -> None:
    page.goto(f"{served_demo.url}/ui/#key=demo-read")
    page.get_by_test_id("concentrators").wait_for()

    page.goto(f"{served_demo.url}/ui/#/health/{CID}")
    page.get_by_test_id("grid-health").wait_for()
    assert page.locator("[data-testid=feeder-voltage-chart] g.vpt").count() >= 20
    assert page.locator("[data-testid=lq-chart] circle.pt").count() >= 24
    assert page.locator("[data-testid=phase-balance-chart] rect").count() == 3
    outages = page.get_by_test_id("outages").inner_text()
    assert "40" in outages, f"the demo's 40-minute outage should be listed: {outages!r}"
    shot(page, "grid-health", tmp_path)

    page.goto(f"{served_demo.url}/ui/#/alarms?state=all")
    page.get_by_test_id("alarms").wait_for()
    assert "power_fail" in page.get_by_test_id("alarms").inner_text()
    shot(page, "alarms", tmp_path)

    page.goto(f"{served_demo.url}/ui/#/campaigns")
    page.locator("[data-testid^=campaign-]").first.wait_for()
    assert page.get_by_test_id("campaign-progress").first.inner_text().startswith("100")
    shot(page, "campaigns", tmp_path)

    # A read-only key cannot act: the UI says so instead of failing silently.
    page.goto(f"{served_demo.url}/ui/#/alarms")
    page.get_by_test_id("alarms").wait_for()
    page.locator("[data-testid=alarms] button").first.click()
    page.get_by_text("an operator key is needed").wait_for()


def test_unknown_key_asks_again(page: Any, served_demo: ServedDemo) -> None:
    page.goto(f"{served_demo.url}/ui/#key=not-a-key")
    page.get_by_test_id("key-form").wait_for()
    assert "refused" in page.locator("#key-error").inner_text()
    page.locator("#key-input").fill("demo-read")
    page.locator("#key-form button").click()
    page.get_by_test_id("concentrators").wait_for()


def test_operator_read_reaches_the_concentrator_and_returns(served_demo: ServedDemo) -> None:
    import time

    import httpx

    op = {"X-API-Key": "demo-operator"}
    with httpx.Client(base_url=f"{served_demo.url}/api/v1", headers=op, timeout=10) as c:
        did = c.get("/devices", params={"concentrator": CID, "limit": 1}).json()["items"][0]["id"]
        cmd = c.post(f"/devices/{did}/read", json={"registers": []})
        assert cmd.status_code == 202, cmd.text
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = c.get(f"/commands/{cmd.json()['id']}").json()
            if got["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.2)
        assert got["status"] == "succeeded", got
        assert got["result"]["energy_import_wh"] > 0
