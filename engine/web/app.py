"""The workbench's Starlette application: routes, guards and templates.

Guards, on every route: who is asking (session cookie, `Authorization: Bearer TOKEN`, HTTP Basic,
or `?token=` once, which becomes the session), which role that is (viewer or editor), and on every
request that changes something a CSRF token bound to the session (a form field `csrf` or the
header `X-CSRF-Token`). Only the Host names the server was started for are answered (a page from
another site cannot reach a local workbench through DNS rebinding). Files are served only from
the package's static folder and, by name from a listing, from the ledger runs' output folders.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import secrets
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dsl.errors import visible_lines
from engine.web.config import User, WebConfig
from engine.web.jobs import Jobs
from engine.web.pages import PageError, Workbench
from engine.web import pages

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
MAX_TEXT = 2_000_000  # characters of a ruleset the editor sends


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, finalize=_shown)
    env.filters["grouped"] = _grouped
    env.filters["exact"] = escape  # a text to edit (the editor's ruleset): escaped, every character kept
    return env


def _shown(value):
    """Every value a template prints: text with its control characters (but line breaks and tabs) as
    escapes (`\x1b`, as on a terminal), then HTML-escaped by autoescape; HTML the workbench made
    itself (Markup: highlighted source, charts, the editor's exact text) as it is."""
    if isinstance(value, Markup) or not isinstance(value, str):
        return value
    return visible_lines(value)


def _grouped(value) -> str:
    from decimal import Decimal

    from engine.numbers import fmt_grouped

    try:
        return fmt_grouped(Decimal(str(value)))
    except Exception:  # a value that is not a number is shown as it is
        return str(value)


class Guard:
    """Who is asking, and whether they may."""

    def __init__(self, config: WebConfig):
        self.config = config

    def user(self, request: Request) -> User | None:
        creds = self.config.credentials
        if not creds.configured:
            return User("local", "viewer" if self.config.read_only else "editor")
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self._limited(creds.by_token(value.strip()))
        if scheme.lower() == "basic":
            try:
                name, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return self._limited(creds.by_password(name, password))
        session = request.session
        if session.get("user") and session.get("role"):
            return self._limited(User(session["user"], session["role"]))
        return None

    def _limited(self, user: User | None) -> User | None:
        if user is not None and self.config.read_only and user.role == "editor":
            return User(user.name, "viewer")
        return user


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def create_app(config: WebConfig, allowed_hosts: list[str] | None = None) -> Starlette:
    """The workbench for `config`; `allowed_hosts` the Host names it answers (default: loopback names)."""
    env = _environment()
    bench = Workbench(config)
    ledger = pages.LedgerPages(bench)
    guard = Guard(config)
    jobs = Jobs()

    def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        user = getattr(request.state, "user", None)
        html = env.get_template(template).render(
            user=user, csrf=csrf_token(request), program=config.program.name, ledger=bool(config.ledger),
            has_data=bool(config.data), request_path=request.url.path, auth=config.credentials.configured,
            **context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def error_page(request: Request, message: str, status: int) -> HTMLResponse:
        return render(request, "error.html", status=status, message=message, status_code=status)

    def guarded(role: str = "viewer", changes: bool = False):
        def decorate(endpoint):
            @functools.wraps(endpoint)
            async def wrapper(request: Request):
                token = request.query_params.get("token")
                if token is not None and config.credentials.configured and request.method == "GET":
                    user = config.credentials.by_token(token)
                    if user is None:
                        request.state.user = None
                        return error_page(request, "the token is not valid", 401)
                    request.session.update(user=user.name, role=user.role)
                    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                    return RedirectResponse(request.url.path + (f"?{urlencode(rest)}" if rest else ""), 303)
                user = guard.user(request)
                request.state.user = user
                if user is None:
                    if _wants_json(request):
                        return JSONResponse({"error": "sign in first: a token or a user and password"}, 401,
                                            headers={"WWW-Authenticate": 'Bearer realm="points"'})
                    response = render(request, "login.html", status=401, next=request.url.path, message=None)
                    response.headers["WWW-Authenticate"] = 'Bearer realm="points"'
                    return response
                if role == "editor" and user.role != "editor":
                    return error_page(request, f"{user.name} may read but not edit (role {user.role})", 403)
                if changes and not await _csrf_ok(request):
                    return error_page(request, "the form is out of date (its CSRF token does not match your "
                                               "session): reload the page and try again", 403)
                try:
                    return await endpoint(request)
                except PageError as err:
                    if _wants_json(request):
                        return JSONResponse({"error": str(err)}, err.status, headers=SECURITY_HEADERS)
                    return error_page(request, str(err), err.status)
            return wrapper
        return decorate

    async def _csrf_ok(request: Request) -> bool:
        expected = request.session.get("csrf")
        given = request.headers.get("x-csrf-token")
        if given is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            given = form.get("csrf")
        return bool(expected) and isinstance(given, str) and secrets.compare_digest(given, expected)

    # ------------------------------------------------------------------ sign in

    async def login(request: Request):
        request.state.user = None
        if request.method == "GET":
            return render(request, "login.html", next=request.query_params.get("next", "/"), message=None)
        form = await request.form()
        expected = request.session.get("csrf")
        if not expected or not secrets.compare_digest(str(form.get("csrf", "")), expected):
            return error_page(request, "the form is out of date: reload the page and try again", 403)
        creds = config.credentials
        user = None
        if form.get("token"):
            user = creds.by_token(str(form["token"]))
        elif form.get("name"):
            user = creds.by_password(str(form["name"]), str(form.get("password", "")))
        nxt = str(form.get("next", "/"))
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        if user is None:
            return render(request, "login.html", status=401, next=nxt, message="not signed in: the token, "
                          "or the user and password, are not valid")
        request.session.clear()
        request.session.update(user=user.name, role=user.role, csrf=secrets.token_urlsafe(32))
        return RedirectResponse(nxt, 303)

    @guarded(changes=True)
    async def logout(request: Request):
        request.session.clear()
        return RedirectResponse("/login", 303)

    # ------------------------------------------------------------------ disputes

    @guarded()
    async def home(request: Request):
        return RedirectResponse("/disputes", 303)

    def chosen_run(request: Request) -> int | None:
        """The ledger run a dispute page reads: `?run=N`, else the export when there is one, else
        the ledger's latest run."""
        given = request.query_params.get("run", "")
        if given:
            if not given.isdigit():
                raise PageError(f"run {given!r}: a run id is a whole number (see Runs)", 404)
            return int(given)
        if config.data or not ledger.configured:
            return None
        latest = ledger.latest()
        if latest is None:
            raise PageError("the ledger holds no runs yet (points evaluate ... --ledger URL records one)", 404)
        return latest

    def sources() -> list:
        options = [("", f"the export {bench.data_label()}")] if config.data else []
        if ledger.configured:
            options += [(str(r["id"]), f"run {r['id']} of the ledger, {r['recorded_at']}: {r['input']}")
                        for r in ledger.runs()[:20]]
        return options

    @guarded()
    async def disputes(request: Request):
        query = request.query_params.get("q", "").strip()
        run = await run_in_threadpool(chosen_run, request) if request.query_params.get("run") else None
        choices = await run_in_threadpool(sources)
        if not query:
            return render(request, "disputes.html", query="", missing=None, sources=choices, run=run)
        run = await run_in_threadpool(chosen_run, request)
        found = await run_in_threadpool(pages.search_run if run is not None else pages.search,
                                        *((ledger, run, query) if run is not None else (bench, query)))
        if found is None:
            where = f"run {run} of the ledger" if run is not None else bench.data_label()
            return render(request, "disputes.html", status=404, query=query, sources=choices, run=run,
                          missing=f"{where}: no contract and no partner {query}")
        kind, value = found
        params = {"id": value} | ({"run": run} if run is not None else {})
        return RedirectResponse(f"/{kind}?{urlencode(params)}", 303)

    @guarded()
    async def contract(request: Request):
        cid = request.query_params.get("id", "")
        why = request.query_params.get("why_not") or None
        run = await run_in_threadpool(chosen_run, request)
        if run is not None:
            page = await run_in_threadpool(ledger.contract, run, cid, why)
        else:
            page = await run_in_threadpool(pages.contract_page, bench, cid, why)
        return render(request, "contract.html", page=page)

    @guarded()
    async def partner(request: Request):
        pid = request.query_params.get("id", "")
        period = request.query_params.get("period") or None
        everything = request.query_params.get("all") == "1"
        run = await run_in_threadpool(chosen_run, request)
        if run is not None:
            page = await run_in_threadpool(ledger.partner, run, pid, period, everything)
        else:
            page = await run_in_threadpool(pages.partner_page, bench, pid, period, everything)
        link = None
        if _statements_available():
            link = "/statement?" + urlencode({"id": pid} | ({"run": run} if run is not None else {}))
        return render(request, "partner.html", page=page, statement=link)

    @guarded()
    async def statement(request: Request):
        pid, period = request.query_params.get("id", ""), request.query_params.get("period", "")
        if not period:
            raise PageError("a statement is for one period: add &period=YEAR")
        run = await run_in_threadpool(chosen_run, request)
        document = await run_in_threadpool(pages.statement_html, bench, ledger, pid, period, run,
                                           request.query_params.get("lang", "en"))
        return HTMLResponse(document, headers=SECURITY_HEADERS | {
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                       "font-src data:; frame-ancestors 'none'"})

    # ------------------------------------------------------------------ versions

    @guarded()
    async def versions(request: Request):
        return render(request, "versions.html", page=await run_in_threadpool(pages.versions_page, bench),
                      saved=request.query_params.get("saved"))

    @guarded()
    async def diff(request: Request):
        program = bench.program()
        names = [v.name for v in program.versions]
        old = request.query_params.get("old") or (names[-2] if len(names) > 1 else names[0])
        new = request.query_params.get("new") or names[-1]
        runs = await run_in_threadpool(ledger.runs) if ledger.configured else []
        return render(request, "diff.html", page=await run_in_threadpool(pages.diff_page, bench, old, new), runs=runs)

    @guarded(changes=True)
    async def impact_start(request: Request):
        form = await request.form()
        old, new = str(form.get("old", "")), str(form.get("new", ""))
        program = bench.program()
        pages.version(program, old), pages.version(program, new)
        run = str(form.get("run", ""))
        if run:
            if not run.isdigit():
                raise PageError(f"run {run!r}: a run id is a whole number (see Runs)", 404)
            data = await run_in_threadpool(ledger.run_input, int(run), config.data)
        else:
            data = bench.data_arg()

        def work(job):
            sources = []

            def progress(rows):
                job.rows = rows
                fraction = sources[-1].fraction_read() if sources else None
                if fraction is not None:
                    job.fraction = fraction
            return pages.impact_page(pages.impact_report(bench, old, new, progress, sources.append, data))

        job = jobs.start(("impact", old, new, run), work, expected=(PageError, ValueError, OSError))
        return RedirectResponse(f"/jobs/{job.id}", 303)

    @guarded()
    async def job_page(request: Request):
        job = jobs.get(str(request.path_params["job_id"]))
        if job is None:
            raise PageError("no such job (jobs are kept until the server stops)", 404)
        if request.url.path.endswith(".json"):
            return JSONResponse(job.to_json(), headers=SECURITY_HEADERS)
        return render(request, "job.html", job=job, kind=job.key[0], old=job.key[1], new=job.key[2], run=job.key[3],
                      page=job.result if job.state == "done" else None)

    # ------------------------------------------------------------------ edit

    @guarded(role="editor")
    async def edit(request: Request):
        program = bench.program()
        name = request.query_params.get("version") or program.versions[-1].name
        base = pages.version(program, name)
        from engine.web.render import highlight_html

        return render(request, "edit.html", base=base.name, text=base.source, file=pages.suggested_name(bench, name),
                      check=pages.check_text(bench, pages.suggested_name(bench, name), base.source),
                      highlighted=highlight_html(base.source), versions=[v.name for v in program.versions],
                      message=None)

    async def _json_body(request: Request) -> dict:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise PageError("the request is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not isinstance(body.get("file"), str):
            raise PageError("send {\"file\": NAME, \"text\": RULESET}")
        if len(body["text"]) > MAX_TEXT:
            raise PageError(f"the ruleset is longer than {MAX_TEXT:,} characters", 413)
        return body

    @guarded(role="editor", changes=True)
    async def api_check(request: Request):
        from engine.web.render import highlight_html

        body = await _json_body(request)
        result = await run_in_threadpool(pages.check_text, bench, body["file"], body["text"])
        result["html"] = str(highlight_html(body["text"]))
        return JSONResponse(result, headers=SECURITY_HEADERS)

    @guarded(role="editor", changes=True)
    async def api_examples(request: Request):
        body = await _json_body(request)
        return JSONResponse(await run_in_threadpool(pages.run_examples, bench, body["file"], body["text"]),
                            headers=SECURITY_HEADERS)

    @guarded(role="editor", changes=True)
    async def save(request: Request):
        from engine.web.render import highlight_html

        form = await request.form()
        text, file = str(form.get("text", "")), str(form.get("file", ""))
        if len(text) > MAX_TEXT:
            raise PageError(f"the ruleset is longer than {MAX_TEXT:,} characters", 413)
        text = text.replace("\r\n", "\n")  # a browser sends a textarea's lines with CR LF
        user = request.state.user
        author = user.name
        if not config.credentials.configured:
            author = str(form.get("author", "")).strip()
            if not author:
                raise PageError("say who saves this version (your name)")
        result = await run_in_threadpool(pages.save_version, bench, file, text, author, user.role)
        if result["saved"]:
            return RedirectResponse(f"/versions?{urlencode({'saved': file})}", 303)
        return render(request, "edit.html", status=422, base=str(form.get("base", "")), text=text, file=file,
                      check=result["check"], highlighted=highlight_html(text),
                      versions=[v.name for v in bench.program().versions],
                      message="not saved: the check found errors")

    # ------------------------------------------------------------------ runs

    @guarded()
    async def runs(request: Request):
        if not ledger.configured:
            return render(request, "runs.html", runs=None)
        return render(request, "runs.html", runs=await run_in_threadpool(ledger.runs))

    @guarded()
    async def run_page(request: Request):
        page = await run_in_threadpool(ledger.run, request.path_params["run_id"])
        return render(request, "run.html", page=page, has_statements=_statements_available())

    @guarded()
    async def download(request: Request):
        from starlette.responses import FileResponse

        name = request.path_params["name"]
        path = await run_in_threadpool(ledger.download, request.path_params["run_id"], name)
        media = "text/csv" if name.endswith(".csv") else (
            "application/json" if name.endswith(".json") else "application/octet-stream")
        return FileResponse(path, media_type=media, filename=name, headers=SECURITY_HEADERS)

    routes = [
        Route("/", home), Route("/login", login, methods=["GET", "POST"]), Route("/logout", logout, methods=["POST"]),
        Route("/disputes", disputes), Route("/contract", contract), Route("/partner", partner),
        Route("/versions", versions), Route("/diff", diff), Route("/impact", impact_start, methods=["POST"]),
        Route("/jobs/{job_id:int}", job_page), Route("/jobs/{job_id:int}.json", job_page),
        Route("/edit", edit), Route("/edit/save", save, methods=["POST"]),
        Route("/api/check", api_check, methods=["POST"]), Route("/api/examples", api_examples, methods=["POST"]),
        Route("/runs", runs), Route("/runs/{run_id:int}", run_page),
        Route("/runs/{run_id:int}/files/{name}", download), Route("/statement", statement),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def not_found(request: Request, exc):
        request.state.user = getattr(request.state, "user", None)
        status = getattr(exc, "status_code", 404)
        return error_page(request, "no such page" if status == 404 else "the request cannot be served", status)

    async def internal(request: Request, exc):
        return HTMLResponse("<!doctype html><title>internal error</title><h1>internal error</h1>"
                            "<p>The workbench hit a bug; the page could not be made. Please report it.</p>",
                            500, headers=SECURITY_HEADERS)

    hosts = allowed_hosts or ["127.0.0.1", "localhost", "[::1]", "::1"]
    middleware = [
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts),
        Middleware(SessionMiddleware, secret_key=(config.secret or secrets.token_bytes(32)).hex(),
                   session_cookie="points_session", same_site="strict", https_only=False, max_age=12 * 3600),
    ]
    app = Starlette(routes=routes, middleware=middleware,
                    exception_handlers={404: not_found, 405: not_found, 500: internal})
    app.state.bench = bench
    app.state.jobs = jobs
    app.state.ledger = ledger
    return app


def _statements_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("engine.report") is not None


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.endswith(".json")
