"""The workbench in a real browser: Chromium (Debian's /usr/bin/chromium) driven by Playwright,
against the server running in this process on 127.0.0.1.

Each journey is what a person does: find a disputed contract and read its points and rule; open a
partner and see its tier and status chain; compare two versions and see the tier matrix; edit a
point value, see a diagnostic for a typo, fix it, save a new version and find it listed; be
refused without the token when sign-in is on. With POINTS_SCREENSHOTS=FOLDER (`make screenshots`)
the journeys also save a screenshot of each page they reach.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not Path(CHROMIUM).exists():
    pytest.skip(f"browser journeys need Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)",
                allow_module_level=True)
playwright_api = pytest.importorskip("playwright.sync_api", reason="browser journeys need playwright (the dev extra)")
pytest.importorskip("uvicorn", reason="the workbench needs the web extra")

from engine.web.app import create_app  # noqa: E402
from engine.web.config import Credentials, WebConfig  # noqa: E402

SHOTS = os.environ.get("POINTS_SCREENSHOTS")


class Server:
    """uvicorn serving `app` in a thread on a free port of 127.0.0.1."""

    def __init__(self, app):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the workbench did not start within 10 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def program_copy(tmp: Path) -> Path:
    folder = tmp / "o2-business"
    shutil.copytree(ROOT / "rulesets" / "o2-business", folder)
    return folder


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def workbench(tmp_path_factory):
    if SHOTS:  # pages name the files as a person would see them: below the working directory
        base = Path("out") / "workbench-screenshots"
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        folder = program_copy(base)
    else:
        folder = program_copy(tmp_path_factory.mktemp("web"))
    ledger = None
    if importlib.util.find_spec("engine.ledger") is not None:  # a ledger with one run of the example export
        from engine.cli import main

        ledger = str(folder.parent / "demo.ledger")
        assert main(["evaluate", str(folder), str(ROOT / "examples" / "contracts.csv"), "--out",
                     str(folder.parent / "run"), "--ledger", ledger]) == 0
    config = WebConfig(program=folder, data=(ROOT / "examples" / "contracts.csv",),
                       legacy=ROOT / "examples" / "legacy.csv", ledger=ledger)
    with Server(create_app(config)) as server:
        server.folder = folder
        server.ledger = ledger
        yield server


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    yield p
    context.close()


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)


def test_find_a_disputed_contract_and_read_its_points_and_rule(workbench, page):
    page.goto(workbench.url + "/")
    page.fill("#q", "C-000100")
    page.click("form.search button")
    page.wait_for_url(re.compile(r"/contract\?id=C-000100$"))
    headline = page.text_content("#headline")
    assert "120 points" in headline and "version 2016.03" in headline
    rule = page.locator("section.rule.paid").first
    assert "+120" in rule.locator("h3").text_content() and "Mobile tariffs" in rule.locator("h3").text_content()
    assert 'rule "Mobile tariffs" {' in rule.locator("pre.highlight").text_content()
    assert rule.locator("pre.highlight .kd").first.text_content() == "rule"  # highlighted by the lexer
    assert "mobile_tariffs[product, customer] * quantity = 120" in rule.locator("ol.steps").text_content()
    shot(page, "contract")
    page.select_option("#why_not", "Unite pool volume")
    page.click("form.why-not button")
    verdict = page.text_content("#why-not-result .verdict")
    assert verdict.startswith("its condition is false")


def test_open_a_partner_and_see_its_tier_and_status_chain(workbench, page):
    page.goto(workbench.url + "/disputes")
    page.fill("#q", "P-008")
    page.click("form.search button")
    page.wait_for_url(re.compile(r"/partner\?id=P-008$"))
    period = page.locator("#period-2018")
    assert period.locator("h2").text_content() == ("partner P-008, period 2018: 6,110 points, earned Basic; "
                                                   "status Advanced (downgraded from Expert at the 2017 review)")
    assert period.locator(".tier").text_content() == "Basic"
    assert period.locator(".status").text_content() == "Advanced"
    chain = page.locator("#status-chain li").all_text_contents()
    assert len(chain) == 3 and chain[1].startswith("2017 points 10,061 < Expert target 15,000")
    shot(page, "partner")


def test_compare_two_versions_and_see_the_tier_matrix(workbench, page):
    page.goto(workbench.url + "/versions")
    names = page.locator("#versions td.name").all_text_contents()
    assert names[:3] == ["2016.03", "2017.01", "2018.01"]
    page.select_option("form.compare select[name=old]", "2016.03")
    page.select_option("form.compare select[name=new]", "2017.01")
    page.click("form.compare button")
    page.wait_for_url(re.compile(r"/diff\?old=2016.03&new=2017.01$"))
    assert "tier Advanced: from 7_500 -> from 8_000" in page.text_content("#edits")
    shot(page, "diff")
    page.click("#impact")
    page.wait_for_selector("table.matrix", timeout=30_000)
    matrix = page.locator("table.matrix[data-period='2017']")
    header = matrix.locator("tr").first.locator("th").all_text_contents()
    assert header[1:] == ["Basic", "Advanced", "Expert", "ExpertPlus", "total"]
    assert page.locator("svg.chart rect.new > title").count() == 4
    assert page.text_content("#totals").startswith("points: ")
    shot(page, "impact")


def test_edit_a_point_value_see_a_typo_fix_it_and_save_a_new_version(workbench, page):
    page.goto(workbench.url + "/edit?version=2018.01")
    text = page.input_value("#text")
    edited = (text.replace('version "2018.01"', 'version "2018.07"').replace("effective 2018-01-01", "effective 2018-07-01")
              .replace('"O2 Business M":  new 140, existing 60', '"O2 Business M":  new 150, existing 60'))
    assert edited != text
    typo = edited.replace("points mobile_tariffs[product, customer] * quantity",
                          "points mobile_tariffs[product, customer] * quantty")
    page.fill("#text", typo)
    page.wait_for_selector("#findings li.error:has-text('quantty')")
    finding = page.text_content("#findings li.error:has-text('quantty')")
    assert "2018-01-draft.rules:51:46 error N210: `quantty` is not a field" in finding and "did you mean quantity?" in finding
    assert page.is_disabled("#save")
    page.click("#findings li.error:has-text('quantty')")  # jumps to the line, marked in the editor
    assert page.locator("#backdrop .flag-error").text_content().strip() == \
        "points mobile_tariffs[product, customer] * quantty"
    shot(page, "edit")
    page.fill("#text", edited)
    page.wait_for_selector("#check-summary:text-matches('^ok')")
    assert page.locator("#findings li.error").count() == 0
    page.click("#run-examples")
    page.wait_for_selector("#examples h2")
    assert re.match(r"Examples: \d+ passed, 0 failed", page.text_content("#examples h2"))
    page.fill("#file", "2018-07.rules")
    page.fill("#author", "Petra Programm")
    page.wait_for_selector("#save:enabled")
    page.click("#save")
    page.wait_for_url(re.compile(r"/versions\?saved=2018-07.rules$"))
    row = page.locator("#versions tr", has_text="2018.07")
    assert "Petra Programm" in row.text_content()
    assert (workbench.folder / "2018-07.rules").read_text(encoding="utf-8") == edited
    shot(page, "versions")


def test_read_a_run_of_the_ledger_and_download_its_files(workbench, page):
    if workbench.ledger is None:
        pytest.skip("this engine has no ledger")
    page.goto(workbench.url + "/runs")
    page.click("#runs a >> text='1'")
    page.wait_for_url(re.compile(r"/runs/1$"))
    assert page.locator("#counts td").all_text_contents() == ["4,000", "3,815", "150", "35", "1,328,315", "36"]
    row_2018 = page.locator("#tiers tr", has_text="2018").locator("td").all_text_contents()
    assert row_2018 == ["27", "4", "5", "·"]
    shot(page, "run")
    with page.expect_download() as download:
        page.click("#files a >> text='partners.csv'")
    saved = download.value.path()
    assert Path(saved).read_bytes() == (workbench.folder.parent / "run" / "partners.csv").read_bytes()
    page.fill("#q", "P-008")
    page.click("form.search button")
    page.wait_for_url(re.compile(r"/partner\?id=P-008&run=1$"))
    assert page.locator("#period-2018 h2").text_content().startswith("partner P-008, period 2018: 6,110 points")


def test_a_request_without_the_token_is_refused_when_auth_is_on(tmp_path, browser):
    folder = program_copy(tmp_path)
    config = WebConfig(program=folder, data=(ROOT / "examples" / "contracts.csv",),
                       credentials=Credentials(token="viewer-secret", editor_token="editor-secret"))
    with Server(create_app(config)) as server:
        context = browser.new_context()
        page = context.new_page()
        response = page.goto(server.url + "/disputes")
        assert response.status == 401
        assert page.locator("form.login").count() == 1
        response = page.goto(server.url + "/edit")
        assert response.status == 401
        page.fill("input[name=token]", "not-the-token")
        page.click("form.login button")
        assert "not valid" in page.text_content("#message")
        page.fill("input[name=token]", "viewer-secret")
        page.click("form.login button")
        page.wait_for_url(server.url + "/edit")
        assert "may read but not edit" in page.text_content("#message")
        assert page.locator("nav a", has_text="Edit").count() == 0
        context.close()
