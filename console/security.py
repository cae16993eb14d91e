"""Who is asking and may they: the session cookie, the role check and the CSRF check every route goes through.

Each route is declared with the permission it needs (`Guard`); the guard finds the session, refuses a
missing one (401 for the API, the login page for a browser), refuses the wrong role (403), and for
every state-changing method compares the CSRF token of the session with the one the request carries
(the `X-CSRF-Token` header, or the `csrf_token` field of a form).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from console.accounts import AccountStore, Permission, Session

SESSION_COOKIE = "yuqing_session"
LOGIN_CSRF_COOKIE = "yuqing_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotLoggedIn(Exception):
    """No live session: the API answers 401, a page sends the browser to the login page."""


class Forbidden(Exception):
    """A session without the permission, or a state change without the right CSRF token."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def secure_cookies(request: Request) -> bool:
    """Cookies are marked Secure when the console is reached over HTTPS (directly or behind a proxy
    whose X-Forwarded-Proto uvicorn trusts)."""
    return request.url.scheme == "https"


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token the request carries: the header for the API and scripts, the form field for forms."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


@dataclass(frozen=True)
class Guard:
    """The dependency a route declares: `Depends(Guard(Permission.READ))`. Returns the session."""

    permission: Permission

    async def __call__(self, request: Request) -> Session:
        accounts: AccountStore = request.app.state.accounts
        token = request.cookies.get(SESSION_COOKIE)
        session = accounts.session(token) if token else None
        if session is None:
            raise NotLoggedIn
        if not session.user.can(self.permission):
            raise Forbidden(f"{session.user.role_name}无权执行此操作 (needs {self.permission.value})")
        if request.method not in SAFE_METHODS and not tokens_match(session.csrf_token, await submitted_csrf(request)):
            raise Forbidden("请求缺少有效的 CSRF 令牌，请刷新页面后重试")
        request.state.session = session
        return session


Reader = Annotated[Session, Depends(Guard(Permission.READ))]
Worker = Annotated[Session, Depends(Guard(Permission.WORK_ALERTS))]
Admin = Annotated[Session, Depends(Guard(Permission.ADMINISTER))]
