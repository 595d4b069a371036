"""Jinja2 rendering with the page language, JST times and the session's CSRF token."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import select

from akashi.db.base import session_scope
from akashi.db.models import Site
from akashi.web.deps import Auth, language
from akashi.web.i18n import duration, jst, jst_iso, label, translate

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def highlight(text: str, terms: list[str]) -> Markup:
    """Escape ``text`` and wrap each flagged term in ``<mark class="flagged">``."""
    if not terms:
        return Markup(escape(text))  # noqa: S704  (escaped just now)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)))
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(str(escape(text[pos : m.start()])))
        out.append(f'<mark class="flagged">{escape(m.group(0))}</mark>')
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))  # noqa: S704  (every piece escaped above)


templates.env.filters["highlight"] = highlight
templates.env.globals["jst"] = jst
templates.env.globals["duration"] = duration
templates.env.globals["jst_iso"] = jst_iso


def detail_text(detail: object) -> str:
    """An audit entry's detail as people read it: ``key: value`` pairs, Japanese as written (no ``\\u`` escapes)."""
    if isinstance(detail, dict):
        return "、".join(f"{k}: {detail_text(v)}" for k, v in detail.items())
    if isinstance(detail, str):
        return detail
    return json.dumps(detail, ensure_ascii=False)


templates.env.filters["detail_text"] = detail_text


def _site_labels(request: Request) -> dict[str, str]:
    """Site ID → label, for showing sites by label everywhere (read once per request)."""

    cached = getattr(request.state, "site_labels", None)
    if isinstance(cached, dict):
        return cached
    ak = getattr(request.app.state, "akashi", None)
    labels: dict[str, str] = {}
    if ak is not None:
        with session_scope(ak.engine) as s:
            labels = {x.name: x.label or x.name for x in s.scalars(select(Site))}
    request.state.site_labels = labels
    return labels


def render(request: Request, auth: Auth | None, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """Render page ``name`` for ``auth`` (None on public pages)."""
    lang = auth.lang if auth else language(request)
    context: dict[str, Any] = {
        "request": request,
        "auth": auth,
        "lang": lang,
        "t": lambda key: translate(key, lang),
        "csrf": auth.csrf_token if auth else "",
        "path": request.url.path,
        "label": lambda prefix, code: label(prefix, code, lang),
        "site_label": lambda name: _site_labels(request).get(name, name) if name else "",
        **ctx,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    """A plain error page (no session details)."""
    return render(request, None, "error.html", status=status, status_code=status, message=message)
