"""The Dagster web UI in a real browser: every asset listed, a materialization launched from the UI.

Starts `dagster dev` on 127.0.0.1 against a copy of the test warehouse, drives headless
Chromium with Playwright, and saves a screenshot of each page it checks where the test run writes
(pytest's temporary folder, ``.../screenshots``; INTEREST_PIPELINE_SCREENSHOTS chooses another).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from interest_pipeline.cli import DAGSTER_YAML
from interest_pipeline_tests.defs.test_definitions import EXPECTED_GROUPS

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

pytestmark = pytest.mark.skipif(
    sync_playwright is None or not CHROMIUM.exists(),
    reason="needs the playwright package and Debian's chromium at /usr/bin/chromium (.ci/run installs both)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


@pytest.fixture
def dagster_ui(pipeline_run, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML.read_text())
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(pipeline_run.warehouse, warehouse)
    port, mlflow_port = free_port(), free_port()
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {
        **os.environ,
        "INTEREST_PIPELINE_MLFLOW_UI_URL": f"http://127.0.0.1:{mlflow_port}",
        "DAGSTER_HOME": str(home),
        "INTEREST_PIPELINE_WAREHOUSE": str(warehouse),
        "INTEREST_PIPELINE_EVENTS_DIR": str(pipeline_run.sample_dir / "events"),
        "INTEREST_PIPELINE_ITEMS_PATH": str(pipeline_run.sample_dir / "items.csv"),
        "INTEREST_PIPELINE_LANDING_DIR": str(tmp_path / "landing"),
        "MLFLOW_TRACKING_URI": tracking_uri,
        "INTEREST_PIPELINE_MLFLOW_ARTIFACTS": str(tmp_path / "mlflow-artifacts"),
    }
    log = (tmp_path / "dagster_dev.log").open("w")
    # the MLflow UI the run links in the Dagster metadata point at
    mlflow_ui = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1"]
        + ["--port", str(mlflow_port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # its own process group: dagster dev ignores SIGTERM otherwise, and has children
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 180
        while True:
            try:
                locations = graphql(
                    port,
                    "{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } } }",
                )
                entries = locations["workspaceOrError"]["locationEntries"]
                if (
                    entries
                    and entries[0]["locationOrLoadError"]
                    and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation"
                ):
                    break
            except Exception:
                pass
            if time.time() > deadline or server.poll() is not None:
                pytest.fail("dagster dev did not come up:\n" + (tmp_path / "dagster_dev.log").read_text()[-3000:])
            time.sleep(2)
        yield port
    finally:
        for process in (server, mlflow_ui):
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        log.close()


def wait_for_run(port: int, asset: str, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    query = "{ runsOrError(limit: 10) { ... on Runs { results { runId status assetSelection { path } } } } }"
    while time.time() < deadline:
        runs = graphql(port, query)["runsOrError"]["results"]
        finished = [
            r
            for r in runs
            if r["status"] in ("SUCCESS", "FAILURE", "CANCELED") and [asset] in [a["path"] for a in r["assetSelection"]]
        ]
        if finished:
            return finished[0]
        time.sleep(2)
    pytest.fail(f"the run of {asset} launched from the UI did not finish in time")


@pytest.fixture
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("INTEREST_PIPELINE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def materialize_from_asset_page(page, port: int, asset: str, screenshot: Path | None = None) -> None:
    page.goto(f"http://127.0.0.1:{port}/assets/{asset}", wait_until="networkidle")
    dismiss_welcome_dialog(page)
    materialize = page.locator("button", has_text="Materialize").first
    materialize.wait_for(timeout=60_000)
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    materialize.click()
    # This instance has not recorded the upstream assets (the warehouse was copied in),
    # so the UI asks before launching.
    confirm = page.get_by_role("button", name="Confirm", exact=True)
    try:
        confirm.wait_for(timeout=10_000)
        confirm.click()
    except Exception:
        pass


def dismiss_welcome_dialog(page) -> None:
    """A fresh instance greets the first visitor with a newsletter dialog that covers the page."""
    skip = page.get_by_role("button", name="Skip", exact=True)
    try:
        skip.wait_for(timeout=5_000)
        skip.click()
    except Exception:
        pass


def test_ui_lists_every_asset_and_materializes_one(dagster_ui, screenshots):
    port = dagster_ui
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 2200})
        page.goto(f"http://127.0.0.1:{port}/assets", wait_until="networkidle")
        page.get_by_text("raw_behavior_logs", exact=True).first.wait_for(timeout=60_000)
        dismiss_welcome_dialog(page)
        for asset in EXPECTED_GROUPS:
            assert page.get_by_text(asset, exact=True).count() >= 1, f"{asset} is not listed in the asset catalog"
        page.screenshot(path=str(screenshots / "asset_catalog.png"), full_page=True)

        page.goto(f"http://127.0.0.1:{port}/asset-groups", wait_until="networkidle")
        page.wait_for_timeout(3000)
        page.screenshot(path=str(screenshots / "asset_graph.png"), full_page=True)

        # a clustering asset, launched from its page: its run succeeds, and its pictures (cluster
        # map, silhouette bars) render in the UI
        materialize_from_asset_page(page, port, "user_segments", screenshot=screenshots / "asset_page.png")
        run = wait_for_run(port, "user_segments")
        assert run["status"] == "SUCCESS", run

        page.goto(f"http://127.0.0.1:{port}/runs/{run['runId']}", wait_until="networkidle")
        page.get_by_text("Success").first.wait_for(timeout=60_000)
        page.screenshot(path=str(screenshots / "run_launched_from_ui.png"), full_page=True)

        page.goto(f"http://127.0.0.1:{port}/assets/user_segments", wait_until="networkidle")
        page.get_by_text("mlflow_run_id").first.wait_for(timeout=60_000)
        for label in ("Show Markdown", "Show markdown"):
            if page.get_by_text(label).count():
                page.get_by_text(label).first.click()
                break
        picture = page.locator('img[src^="data:image/png"]').first
        picture.wait_for(timeout=30_000)
        assert picture.evaluate("img => img.naturalWidth") > 100  # decoded, not a broken image
        page.screenshot(path=str(screenshots / "cluster_picture_in_ui.png"), full_page=True)
        # the MLflow run is a link to the MLflow UI, not plain text
        link = page.locator('a[href*="#/experiments/"][href*="/runs/"]').first
        link.wait_for(timeout=30_000)
        mlflow_page = link.get_attribute("href")
        # followed, it opens the run in MLflow's model-training view (runs, models, model registry),
        # not the GenAI view (traces, sessions, judges) MLflow 3 opens by default
        page.goto(mlflow_page, wait_until="load")
        page.get_by_text("Model registry").first.wait_for(timeout=60_000)
        page.get_by_text("Metrics (").first.wait_for(timeout=60_000)
        assert page.get_by_text("Observability").count() == 0 and page.get_by_text("Sessions").count() == 0
        page.screenshot(path=str(screenshots / "mlflow_run_from_dagster_link.png"))

        # the Columns section lists the declared schema with its descriptions
        page.goto(f"http://127.0.0.1:{port}/assets/interest_topics", wait_until="networkidle")
        try:
            page.get_by_text("subtopic_id", exact=True).first.wait_for(timeout=60_000)
            page.get_by_text("warehouse.main.interest_topics").first.wait_for(timeout=30_000)
        finally:
            page.screenshot(path=str(screenshots / "columns_of_interest_topics.png"), full_page=True)

        # the checks beside the asset they guard
        page.goto(f"http://127.0.0.1:{port}/assets/rejected_events?view=checks", wait_until="networkidle")
        page.get_by_text("rejection_rate_within_bounds").first.wait_for(timeout=60_000)
        page.screenshot(path=str(screenshots / "checks_of_rejected_events.png"), full_page=True)

        # the runs launched above, on the Overview timeline of the named code location
        page.goto(f"http://127.0.0.1:{port}/overview/timeline", wait_until="networkidle")
        page.get_by_text("interest_pipeline").first.wait_for(timeout=60_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(screenshots / "overview_timeline.png"), full_page=True)
        browser.close()
