"""Entry point of the ``akashi`` command."""

from __future__ import annotations

import os
import sys

from akashi.cli import agents as _agents  # noqa: F401  (akashi agent list/rename/merge)
from akashi.cli import analysis as _analysis  # noqa: F401  (registers commands)
from akashi.cli import bulkimport as _bulkimport  # noqa: F401  (import calls)
from akashi.cli import cameras as _cameras  # noqa: F401
from akashi.cli import checkpoint as _checkpoint  # noqa: F401
from akashi.cli import core as _core  # noqa: F401
from akashi.cli import demo as _demo  # noqa: F401  (akashi demo)
from akashi.cli import firstrun as _firstrun  # noqa: F401  (setup-link)
from akashi.cli import incidents as _incidents  # noqa: F401
from akashi.cli import live as _live  # noqa: F401  (calls live)
from akashi.cli import media as _media  # noqa: F401
from akashi.cli import notices as _notices  # noqa: F401
from akashi.cli import telephony as _telephony  # noqa: F401
from akashi.cli import trust as _trust  # noqa: F401  (export check, audit-accept-head)
from akashi.cli.apps import app
from akashi.errors import AkashiError


def main() -> None:
    """Run the CLI; an :class:`AkashiError` becomes a one-line message and its exit code."""
    # Everything Akashi writes (spools, keys, exports) is private to its user.
    os.umask(0o077)
    try:
        app()
    except AkashiError as exc:
        sys.stderr.write(f"エラー / error: {exc}\n")
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
