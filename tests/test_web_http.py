"""The workbench through an HTTP client (Starlette's TestClient): escaping of values from files,
CSRF on every change, no path outside the program folder, the roles, sign-in, saving versions."""
from __future__ import annotations

import base64
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the workbench needs the web extra")
pytest.importorskip("httpx", reason="the workbench tests need httpx (the dev extra)")

import warnings  # noqa: E402

with warnings.catch_warnings():  # Starlette's client announces a move to another httpx; the tests use httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from engine.cli import main  # noqa: E402
from engine.web.app import create_app  # noqa: E402
from engine.web.config import ConfigError, Credentials, WebConfig, parse_users  # noqa: E402
from engine.web.pages import SAVES_LOG  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = [
    ("<script>alert(1)</script>", "P-X"),
    ("=HYPERLINK(\"http://evil.example\",\"x\")", "<b>P</b>"),
    ("C-\x1b[31mRED", "P-\x1b]8;;x\x07"),
]


@pytest.fixture
def program(tmp_path) -> Path:
    folder = tmp_path / "o2-business"
    shutil.copytree(ROOT / "rulesets" / "o2-business", folder)
    return folder


@pytest.fixture
def hostile_data(tmp_path) -> Path:
    path = tmp_path / "hostile.csv"
    lines = ["contract_id,partner_id,signed,product,customer,quantity,pool_gb"]
    for cid, pid in HOSTILE:
        lines.append(",".join('"' + v.replace('"', '""') + '"' for v in (cid, pid, "2017-03-01", "O2 Business M",
                                                                          "new", "2", "")))
    lines.append('"C-BAD","P-X","not a date","O2 Business M","new","2",""')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def client(program: Path, data=(ROOT / "examples" / "contracts.csv",), **config) -> TestClient:
    app = create_app(WebConfig(program=program, data=tuple(data), **config))
    return TestClient(app, base_url="http://127.0.0.1")


def csrf_of(c: TestClient, url: str = "/edit") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(url).text).group(1)


# --------------------------------------------------------------------------- escaping


def test_ids_from_the_export_are_escaped_on_every_page(program, hostile_data):
    c = client(program, (hostile_data,))
    for cid, pid in HOSTILE:
        page = c.get("/contract", params={"id": cid})
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<b>P</b>" not in page.text and "\x1b" not in page.text
        partner = c.get("/partner", params={"id": pid})
        assert partner.status_code == 200, partner.text
        assert "<b>P</b>" not in partner.text and "\x1b" not in partner.text and "\x07" not in partner.text
    text = c.get("/contract", params={"id": HOSTILE[0][0]}).text
    assert "Contract <span class=\"id\">&lt;script&gt;alert(1)&lt;/script&gt;</span>" in text
    assert "C-\\x1b[31mRED" in c.get("/contract", params={"id": HOSTILE[2][0]}).text  # shown as an escape
    assert "&lt;b&gt;P&lt;/b&gt;" in c.get("/partner", params={"id": "<b>P</b>"}).text
    missing = c.get("/disputes", params={"q": "<img src=x onerror=alert(1)>"})
    assert missing.status_code == 404 and "<img" not in missing.text and "&lt;img src=x" in missing.text
    assert missing.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")


def test_the_editor_gets_the_ruleset_exactly(program):
    path = program / "2018-01.rules"
    path.write_text(path.read_text(encoding="utf-8").replace("# O2 Business", "# <b>&\x1b O2 Business", 1),
                    encoding="utf-8")
    page = client(program).get("/edit", params={"version": "2018.01"})
    assert "<textarea name=\"text\" id=\"text\" spellcheck=\"false\" autocomplete=\"off\" wrap=\"off\"># &lt;b&gt;&amp;\x1b O2" \
        in page.text
    assert '<span class="c1"># &lt;b&gt;&amp;\\x1b O2' in page.text  # the highlighted view shows the escape


def test_a_rejected_row_is_explained_with_its_code(program, hostile_data):
    page = client(program, (hostile_data,)).get("/contract", params={"id": "C-BAD"})
    assert page.status_code == 200
    assert "Row 5 of" in page.text and "<code>signed</code>" in page.text and "<code>not-a-date</code>" in page.text


def test_an_unknown_contract_is_a_404_naming_the_export(program):
    page = client(program).get("/contract", params={"id": "C-999999"})
    assert page.status_code == 404
    assert "examples/contracts.csv: there is no contract C-999999" in page.text


def test_an_export_that_cannot_be_read_is_said_with_its_line(program, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n\xff\xfe,1\n")
    page = client(program, (bad,)).get("/contract", params={"id": "X"})
    assert page.status_code == 500
    assert "bad.csv: line 2 is not valid UTF-8 (byte 0xFF at position 1)" in page.text
    assert "Traceback" not in page.text


# --------------------------------------------------------------------------- CSRF


def test_every_change_needs_the_csrf_token_of_the_session(program):
    c = client(program)
    text = (program / "2018-01.rules").read_text(encoding="utf-8")
    body = {"file": "new.rules", "text": text}
    assert c.post("/api/check", content=json.dumps(body)).status_code == 403
    assert c.post("/api/check", content=json.dumps(body), headers={"X-CSRF-Token": "forged"}).status_code == 403
    token = csrf_of(c)
    assert c.post("/api/check", content=json.dumps(body), headers={"X-CSRF-Token": token}).status_code == 200
    form = {"file": "x.rules", "text": text, "author": "Eve"}
    assert c.post("/edit/save", data=form).status_code == 403
    assert c.post("/edit/save", data=form | {"csrf": "forged"}).status_code == 403
    assert c.post("/impact", data={"old": "2016.03", "new": "2017.01"}).status_code == 403
    assert not (program / "x.rules").exists()
    other = client(program)  # another session's token is not this one's
    assert other.post("/edit/save", data=form | {"csrf": token}).status_code == 403
    assert not (program / "x.rules").exists()


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("name", ["../evil.rules", "sub/evil.rules", "/tmp/evil.rules", "..\\evil.rules",
                                  ".hidden.rules", "evil.txt", "evil.rules/../x.rules", ""])
def test_a_version_is_saved_only_as_a_plain_file_name_in_the_program_folder(program, name):
    c = client(program)
    text = (program / "2018-01.rules").read_text(encoding="utf-8").replace('"2018.01"', '"2018.09"') \
        .replace("effective 2018-01-01", "effective 2018-09-01")
    before = sorted(p.name for p in program.parent.rglob("*"))
    response = c.post("/edit/save", data={"csrf": csrf_of(c), "file": name, "text": text, "author": "Eve"})
    assert response.status_code == 400
    assert "use letters, digits" in response.text or "must be in the program folder" in response.text
    assert sorted(p.name for p in program.parent.rglob("*")) == before


@pytest.mark.parametrize("url", ["/static/../pages.py", "/static/%2e%2e/pages.py", "/static/..%2fapp.py",
                                 "/edit?version=../../etc/passwd", "/jobs/1", "/jobs/x"])
def test_no_other_file_can_be_read(program, url):
    response = client(program).get(url)
    assert response.status_code == 404
    assert "import" not in response.text and "root:" not in response.text


def test_only_the_loopback_names_are_answered(program):
    app = create_app(WebConfig(program=program))
    assert TestClient(app, base_url="http://evil.example").get("/versions").status_code == 400
    assert TestClient(app, base_url="http://localhost").get("/versions").status_code == 200


# --------------------------------------------------------------------------- saving


def _new_version(program: Path, name: str = "2018.07") -> str:
    return (program / "2018-01.rules").read_text(encoding="utf-8").replace('"2018.01"', f'"{name}"') \
        .replace("effective 2018-01-01", "effective 2018-07-01")


def test_saving_writes_a_new_file_and_records_who_saved_it(program):
    c = client(program)
    text = _new_version(program)
    response = c.post("/edit/save", data={"csrf": csrf_of(c), "file": "2018-07.rules", "text": text.replace("\n", "\r\n"),
                                          "author": "Petra <P.>"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/versions?saved=2018-07.rules"
    assert (program / "2018-07.rules").read_text(encoding="utf-8") == text
    entry = json.loads((program / SAVES_LOG).read_text(encoding="utf-8"))
    assert entry["file"] == "2018-07.rules" and entry["version"] == "2018.07" and entry["saved_by"] == "Petra <P.>"
    assert entry["role"] == "editor" and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$", entry["saved_at"])
    listing = c.get("/versions").text
    assert "2018.07" in listing and "Petra &lt;P.&gt;" in listing


def test_a_saved_version_is_never_replaced(program):
    c = client(program)
    original = (program / "2017-01.rules").read_bytes()
    response = c.post("/edit/save", data={"csrf": csrf_of(c), "file": "2017-01.rules", "text": _new_version(program),
                                          "author": "Eve"})
    assert response.status_code == 409 and "is never replaced" in response.text
    assert (program / "2017-01.rules").read_bytes() == original


def test_a_version_with_errors_is_not_saved(program):
    c = client(program)
    text = _new_version(program).replace("customer] * quantity", "customer] * quantty")
    response = c.post("/edit/save", data={"csrf": csrf_of(c), "file": "2018-07.rules", "text": text, "author": "Eve"})
    assert response.status_code == 422 and "not saved: the check found errors" in response.text
    assert "error N210" in response.text and "did you mean quantity?" in response.text
    assert not (program / "2018-07.rules").exists()
    same = _new_version(program, "2018.01")  # a copy under the old name: the version set's check
    response = c.post("/edit/save", data={"csrf": csrf_of(c), "file": "2018-07.rules", "text": same, "author": "Eve"})
    assert response.status_code == 422 and "V40" in response.text
    assert c.post("/edit/save", data={"csrf": csrf_of(c), "file": "2018-07.rules", "text": _new_version(program),
                                      "author": ""}).status_code == 400


def test_the_check_endpoint_gives_findings_with_line_and_column(program):
    c = client(program)
    token = csrf_of(c)
    text = _new_version(program).replace("customer] * quantity", "customer] * quantty")
    result = c.post("/api/check", content=json.dumps({"file": "2018-07.rules", "text": text}),
                    headers={"X-CSRF-Token": token}).json()
    assert result["ok"] is False and result["errors"] == 1
    finding = result["findings"][0]
    assert (finding["code"], finding["line"], finding["column"], finding["mine"]) == ("N210", 51, 46, True)
    assert finding["headline"].endswith("2018-07.rules:51:46: error N210: `quantty` is not a field of input contract; "
                                        "did you mean quantity?")
    assert '<span class="n">quantty</span>' in result["html"]
    ran = c.post("/api/examples", content=json.dumps({"file": "2018-07.rules", "text": _new_version(program)}),
                 headers={"X-CSRF-Token": token}).json()
    assert ran["ran"] and ran["failed"] == 0 and ran["passed"] == len(ran["examples"]) > 0
    bad = c.post("/api/check", content=b"not json", headers={"X-CSRF-Token": token})
    assert bad.status_code == 400 and bad.json() == {"error": "the request is not JSON"}


# --------------------------------------------------------------------------- roles and sign-in


def secured(program: Path, **extra) -> TestClient:
    creds = Credentials(token="view-token", editor_token="edit-token",
                        users=parse_users(["anna:pw-a:viewer", "ed:pw:e:editor"], "test"))
    return client(program, credentials=creds, **extra)


def test_without_credentials_nothing_is_shown(program):
    c = secured(program)
    for url in ("/disputes", "/contract?id=C-000100", "/versions", "/edit", "/runs", "/jobs/1.json"):
        response = c.get(url)
        assert response.status_code == 401, url
        assert "C-000100" not in response.text or url.startswith("/contract")
    assert "120 points" not in c.get("/contract?id=C-000100").text
    assert c.get("/disputes", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert c.get("/disputes?token=wrong").status_code == 401


def test_a_viewer_reads_but_does_not_edit(program):
    c = secured(program)
    viewer = {"Authorization": "Bearer view-token"}
    assert c.get("/contract?id=C-000100", headers=viewer).status_code == 200
    assert c.get("/edit", headers=viewer).status_code == 403
    assert "may read but not edit" in c.get("/edit", headers=viewer).text
    assert c.post("/api/check", content="{}", headers=viewer).status_code == 403
    basic = {"Authorization": "Basic " + base64.b64encode(b"anna:pw-a").decode()}
    assert c.get("/versions", headers=basic).status_code == 200
    assert c.get("/edit", headers=basic).status_code == 403
    assert c.get("/versions", headers={"Authorization": "Basic " + base64.b64encode(b"anna:nope").decode()}
                 ).status_code == 401


def test_an_editor_signs_in_once_and_saves_under_its_name(program):
    c = secured(program)
    first = c.get("/edit?token=edit-token", follow_redirects=False)  # the token becomes the session
    assert first.status_code == 303 and first.headers["location"] == "/edit"
    page = c.get("/edit")
    assert page.status_code == 200 and 'name="author"' not in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    response = c.post("/edit/save", data={"csrf": token, "file": "2018-07.rules", "text": _new_version(program)},
                      follow_redirects=False)
    assert response.status_code == 303
    assert json.loads((program / SAVES_LOG).read_text())["saved_by"] == "editor (token)"
    c.post("/logout", data={"csrf": token})
    assert c.get("/versions").status_code == 401


def test_a_user_signs_in_with_a_password(program):
    c = secured(program)
    login = c.get("/versions")
    token = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
    wrong = c.post("/login", data={"csrf": token, "name": "ed", "password": "nope", "next": "/versions"})
    assert wrong.status_code == 401 and "not valid" in wrong.text
    assert c.post("/login", data={"name": "ed", "password": "pw:e", "next": "/versions"}).status_code == 403
    ok = c.post("/login", data={"csrf": token, "name": "ed", "password": "pw:e", "next": "//evil.example/"},
                follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    assert "ed · editor" in c.get("/versions").text


def test_read_only_turns_every_editor_into_a_viewer(program):
    c = secured(program, read_only=True)
    assert c.get("/edit", headers={"Authorization": "Bearer edit-token"}).status_code == 403
    local = client(program, read_only=True)
    assert local.get("/edit").status_code == 403


@pytest.mark.parametrize("entry, message", [
    ("anna", "test: 'anna': write each user as name:password:role"),
    ("anna:pw:boss", "test: user 'anna': role 'boss' is not one of viewer, editor"),
    ("anna::viewer", "test: 'anna': write each user as name:password:role"),
])
def test_users_are_name_password_role(entry, message):
    with pytest.raises(ConfigError) as err:
        parse_users([entry], "test")
    assert str(err.value) == message


# --------------------------------------------------------------------------- points serve


def test_serve_refuses_another_address_without_authentication(capsys, monkeypatch):
    for name in ("POINTS_SERVE_TOKEN", "POINTS_SERVE_EDITOR_TOKEN", "POINTS_SERVE_USERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POINTS_PROJECT", "none")
    assert main(["serve", "rulesets/o2-business", "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err == (
        "error: --host 0.0.0.0: another address than this machine's needs authentication: set POINTS_SERVE_TOKEN "
        "(read-only), POINTS_SERVE_EDITOR_TOKEN or POINTS_SERVE_USERS (or serve.token / serve.editor_token / "
        "serve.users in points.toml)\n")
    monkeypatch.setenv("POINTS_SERVE_USERS", "anna:pw:boss")
    assert main(["serve", "rulesets/o2-business", "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err == "error: POINTS_SERVE_USERS: user 'anna': role 'boss' is not one of viewer, editor\n"
    monkeypatch.delenv("POINTS_SERVE_USERS")
    assert main(["serve", "rulesets/none"]) == 2
    assert capsys.readouterr().err == "error: rulesets/none: no such folder or file\n"
    assert main(["serve", "rulesets/o2-business", "--data", "examples/none.csv"]) == 2
    assert capsys.readouterr().err == "error: examples/none.csv: no such file\n"
    if importlib.util.find_spec("engine.ledger") is not None:
        assert main(["serve", "rulesets/o2-business", "--ledger", "out/none.ledger"]) == 2
        assert capsys.readouterr().err == ("error: out/none.ledger: no such ledger file "
                                           "(points evaluate ... --ledger out/none.ledger records one)\n")


# --------------------------------------------------------------------------- the ledger


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A ledger with run 1 (the example export, then its status reviews) and run 2 (the same export
    into the same folder, which replaces run 1's files)."""
    pytest.importorskip("engine.ledger", reason="the ledger is not part of this engine")
    base = tmp_path_factory.mktemp("ledger")
    url, out = str(base / "runs.ledger"), str(base / "out")
    data = str(ROOT / "examples" / "contracts.csv")
    assert main(["evaluate", "rulesets/o2-business", data, "--out", out, "--ledger", url]) == 0
    assert main(["status", "rulesets/o2-business", data, "--legacy", "examples/legacy.csv", "--ledger", url]) == 0
    return base, url, out, data


def test_runs_are_listed_with_counts_and_totals(program, recorded, capsys):
    _, url, _, _ = recorded
    c = client(program, data=(), ledger=url)
    page = c.get("/runs")
    assert page.status_code == 200
    row = re.search(r'<tr><td><a href="/runs/1">1</a></td>(.*?)</tr>', page.text, re.S).group(1)
    assert "O2 Business Partner Program: 2016.03, 2017.01, 2018.01" in row
    assert re.findall(r'<td class="num">([^<]*)</td>', row) == ["4,000", "3,815", "150", "35", "1,328,315", "36"]
    run = c.get("/runs/1").text
    assert '<tr><th>2018</th><td class="num">27</td><td class="num">4</td><td class="num">5</td><td class="num">·</td></tr>' in run
    assert '<tr><td><code>product-not-in-version</code></td><td class="num">86</td></tr>' in run
    assert '<tr><td>quantity</td><td><code>outside-bounds</code></td><td class="num">5</td></tr>' in run


def test_a_run_s_files_are_downloaded_only_by_name_and_only_while_they_are_its_own(program, recorded):
    base, url, out, data = recorded
    c = client(program, data=(), ledger=url)
    download = c.get("/runs/1/files/partners.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert download.content == (Path(out) / "partners.csv").read_bytes()
    assert 'attachment; filename="partners.csv"' in download.headers["content-disposition"]
    for name in ("..%2fruns.ledger", "%2e%2e", "manifest.json%00", "contracts.csv.tmp", "rulesets"):
        assert c.get(f"/runs/1/files/{name}").status_code == 404, name
    assert c.get("/runs/1/files/manifest.json").status_code == 200
    # a second run into the same folder: run 1's files are gone, and the workbench says so
    assert main(["evaluate", "rulesets/o2-business", data, "--out", out, "--ledger", url]) == 0
    assert c.get("/runs/1/files/partners.csv").status_code == 404
    assert "no longer holds this run" in c.get("/runs/1").text
    assert c.get("/runs/2/files/partners.csv").status_code == 200


def test_a_dispute_is_answered_from_a_recorded_run(program, recorded):
    _, url, _, _ = recorded
    c = client(program, data=(), ledger=url)
    found = c.get("/disputes", params={"q": "C-000100", "run": "1"}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == "/contract?id=C-000100&run=1"
    page = c.get("/contract", params={"id": "C-000100", "run": "1"}).text
    assert "120 points" in page and "re-derived from its recorded sources" in page
    assert '<span class="kd">rule</span><span class="w"> </span><span class="s2">"Mobile tariffs"</span>' in page
    partner = c.get("/partner", params={"id": "P-008", "period": "2018", "run": "1"}).text
    assert "partner P-008, period 2018: 6,110 points, earned Basic" in partner
    assert "grace period 1 of 1 -&gt; Advanced" in partner
    assert "1,890 more points would reach Advanced" in partner and "6,110 &lt; Advanced 8,000" in partner
    chain = re.search(r'<section class="chain" id="status-chain">(.*?)</section>', partner, re.S).group(1)
    assert "<li>2018: 6,110 points, earned Basic; status Advanced: grace period 1 of 1 -&gt; Advanced" in chain
    assert c.get("/partner", params={"id": "P-999", "run": "1"}).status_code == 404
    assert c.get("/contract", params={"id": "C-000100", "run": "x"}).status_code == 404
    from engine.ledger import open_ledger

    with open_ledger(url) as ledger:
        last = ledger.latest_run()
    latest = c.get("/disputes", params={"q": "P-008"}, follow_redirects=False)  # no export: the latest run
    assert latest.headers["location"] == f"/partner?id=P-008&run={last}"


def test_the_statement_of_a_partner_from_a_run(program, recorded):
    pytest.importorskip("engine.report", reason="statements are not part of this engine")
    pytest.importorskip("babel", reason="statements need the statements extra")
    _, url, _, _ = recorded
    c = client(program, data=(), ledger=url)
    assert '/statement?id=P-008&amp;run=1&amp;period=2018' in c.get("/partner?id=P-008&period=2018&run=1").text
    page = c.get("/statement", params={"id": "P-008", "period": "2018", "run": "1"})
    assert page.status_code == 200 and "P-008" in page.text and "6,110" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert c.get("/statement", params={"id": "P-008", "period": "2018", "run": "1", "lang": "fr"}).status_code == 400


def test_source_is_highlighted_once_per_text_and_anew_when_it_changes():
    from engine.web.render import highlight_lines

    text = 'program "P"\n# a comment <b>\n'
    first = highlight_lines(text)
    assert highlight_lines(text) is first  # a second rule of the same file reuses the lines
    assert "&lt;b&gt;" in first[1]  # escaped, from the cache as well
    changed = highlight_lines(text.replace("<b>", "<i>"))
    assert changed is not first and "&lt;i&gt;" in changed[1]
