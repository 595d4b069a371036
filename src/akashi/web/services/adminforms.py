"""Admin forms that answer in place: the refusal next to its field, what was typed kept, a saved line.

A refused admin form re-renders the admin page (status 400) with a :class:`FormProblem` naming the form and
the field; the template prints the message beside that field and fills the form with what was sent (never a
password or a camera URL). A saved form redirects to ``/admin?saved=<form>#<form>``, which shows a line
saying so. The lexicon editor also names the line at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from akashi.errors import AkashiError

FORMS = frozenset(
    {
        "users",
        "user",
        "sites",
        "notices",
        "new_notice",
        "routes",
        "agents",
        "agent_secret",
        "retention",
        "lexicon",
        "cameras",
    }
)
_LINE = re.compile(r"\bline (\d+)")
_CATEGORY = re.compile(r"categories\[(\d+)\]")


@dataclass(frozen=True)
class FormProblem:
    """Why a form was refused: which form (``form``, ``target`` for one of several), which field, what."""

    form: str
    field: str
    ja: str
    en: str
    target: str = ""
    line: int | None = None
    line_text: str = ""
    kept: dict[str, Any] = dc_field(default_factory=dict)

    def message(self, lang: str) -> str:
        """The message in the page language, the line at fault appended when known."""
        text = self.en if lang == "en" else self.ja
        if self.line is not None:
            text += f" (line {self.line})" if lang == "en" else f"（{self.line} 行目）"
        return text

    def on(self, form: str, name: str = "", target: str = "") -> bool:
        """Whether this problem belongs to ``form`` (and field ``name``, and ``target``, when given)."""
        if form != self.form or (target and target != self.target):
            return False
        return not name or name == self.field


def problem(
    form: str, exc: AkashiError, field_name: str = "", *, target: str = "", kept: dict[str, Any] | None = None
) -> FormProblem:
    """The problem to show for ``exc`` raised by ``form``; the error's own field wins over the default."""
    named = getattr(exc, "field", "")
    return FormProblem(
        form=form,
        field=named if isinstance(named, str) and named else field_name,
        ja=exc.ja,
        en=exc.en,
        target=target,
        kept=dict(kept or {}),
    )


def lexicon_problem(exc: AkashiError, text: str) -> FormProblem:
    """The lexicon's refusal with the line at fault: TOML's own line, else the refused category's first line."""
    lines = text.splitlines()
    line: int | None = None
    found = _LINE.search(exc.en)
    if found:
        line = int(found.group(1))
    else:
        cat = _CATEGORY.search(exc.en)
        if cat:
            heads = [n for n, raw in enumerate(lines, 1) if raw.strip().startswith("[[categories]]")]
            index = int(cat.group(1))
            line = heads[index] if index < len(heads) else None
    line_text = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
    return FormProblem(
        form="lexicon",
        field="text",
        ja=exc.ja,
        en=exc.en,
        line=line if line_text or line is not None else None,
        line_text=line_text,
        kept={"text": text},
    )


def saved_form(value: str | None) -> str:
    """The ``?saved=`` form name if it is one of the admin forms, else empty (never echoed raw)."""
    return value if value in FORMS else ""
