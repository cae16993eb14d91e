"""The console application: `create_app(settings)` returns the FastAPI app that `yuqing console` serves.

Pages are rendered on the server with Jinja2 (`console.pages`); the JSON API under /api/ (`console.api`)
returns the same data and is described by the OpenAPI document at /api/openapi.json. Both go through
`console.security.Guard` for the session, the role and the CSRF token. Only the login page and the
static files (stylesheet and script, no data) answer without a session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined

from alerts.service import AlertNotFound, AlertService
from alerts.store import StoreConflict
from alerts.workflow import WorkflowError
from console import filters, views
from console.accounts import AccountError, AccountStore, Session, open_accounts
from console.security import Forbidden, NotLoggedIn, is_api
from search import open_index
from search.base import Index, SearchBackendError
from yuqing.config import Settings
from yuqing.config.datafiles import Source, load_policies, load_sources
from yuqing.schema import SHANGHAI

STATIC = Path(__file__).resolve().parent / "static"


@dataclass
class Console:
    """What the routes share: the settings, the stores, the registry, and the page-refresh interval."""

    settings: Settings
    accounts: AccountStore
    alerts: AlertService
    names: views.Names
    sources: list[Source]
    poll_seconds: float = 5.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(SHANGHAI))

    def now(self) -> datetime:
        return self.clock()

    def index(self) -> Index:
        """A connection to the index for one request (the caller closes it)."""
        return open_index(self.settings)

    def close(self) -> None:
        self.alerts.close()  # not the rules' writer: releases the store, leaves the worker's rule memory alone
        self.accounts.close()


def console_from_settings(settings: Settings, poll_seconds: float = 5.0) -> Console:
    policies = load_policies(settings.policies_file) if settings.policies_file.exists() else []
    sources = load_sources(settings.sources_file) if settings.sources_file.exists() else []
    names = views.Names(policies={p.id: p for p in policies}, sources={s.name: s.title for s in sources if s.title})
    return Console(settings=settings, accounts=open_accounts(settings),
                   alerts=AlertService.from_settings(settings), names=names, sources=sources,
                   poll_seconds=poll_seconds)


def templates() -> Environment:
    env = Environment(loader=PackageLoader("console", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(filters.ALL)
    return env


def index_of(request: Request) -> Iterator[Index]:
    """Dependency: an index connection for the request."""
    console: Console = request.app.state.console
    with console.index() as index:
        yield index


IndexDep = Annotated[Index, Depends(index_of)]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    console: Console = request.app.state.console
    session: Session | None = getattr(request.state, "session", None)
    html = request.app.state.templates.get_template(template).render(
        request=request, session=session, user=session.user if session else None, now=console.now(),
        poll_seconds=console.poll_seconds, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)


def _problem(request: Request, status: int, message: str) -> Response:
    if is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    return render(request, "error.html.j2", status_code=status, status=status, message=message)


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(NotLoggedIn)
    async def not_logged_in(request: Request, exc: NotLoggedIn) -> Response:
        if is_api(request):
            return JSONResponse({"detail": "请先登录 (not logged in)"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={filters.quote(target)}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _problem(request, 403, exc.message)

    @app.exception_handler(AlertNotFound)
    async def no_alert(request: Request, exc: AlertNotFound) -> Response:
        return _problem(request, 404, str(exc))

    @app.exception_handler(views.NotFound)
    async def not_found(request: Request, exc: views.NotFound) -> Response:
        return _problem(request, 404, str(exc))

    @app.exception_handler(views.BadInput)
    async def bad_input(request: Request, exc: views.BadInput) -> Response:
        return _problem(request, 400, str(exc))

    @app.exception_handler(WorkflowError)
    async def workflow(request: Request, exc: WorkflowError) -> Response:
        return _problem(request, 409, str(exc))

    @app.exception_handler(StoreConflict)
    async def conflict(request: Request, exc: StoreConflict) -> Response:
        return _problem(request, 409, "预警正被他人同时处理，请刷新后重试")

    @app.exception_handler(AccountError)
    async def account(request: Request, exc: AccountError) -> Response:
        return _problem(request, 400, str(exc))

    @app.exception_handler(SearchBackendError)
    async def index_down(request: Request, exc: SearchBackendError) -> Response:
        return _problem(request, 503, f"检索服务不可用：{exc}")


def create_app(settings: Settings, *, poll_seconds: float = 5.0, console: Console | None = None) -> FastAPI:
    """The console app over the stores the settings name (or the given `console`, for tests)."""
    from console import api, pages

    shared = console or console_from_settings(settings, poll_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        shared.close()

    # No Swagger page: its script comes from a CDN and offices are often offline. The document is served
    # at /api/openapi.json behind the login like every other route.
    app = FastAPI(title="Yuqing 舆情 console API", version="1", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.console = shared
    app.state.accounts = shared.accounts
    app.state.templates = templates()
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        # Own scripts and styles only (charts are inline SVG with style attributes); no framing by other sites.
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "img-src 'self' data:; frame-src 'self'; frame-ancestors 'self'; form-action 'self'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    _install_error_pages(app)
    app.include_router(pages.router)
    app.include_router(api.router)
    return app
