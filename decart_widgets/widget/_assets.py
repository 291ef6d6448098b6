"""The widget's browser code: plain ESM files in ``js/``, joined into the one
module anywidget loads.

anywidget loads ``_esm`` as a single module from a string, so relative
imports between files cannot resolve in the browser. The files keep their
``import``/``export`` lines (editors and ``tsc --checkJs`` follow them); this
module drops ``import ... from "./x.js"`` lines and the ``export`` keyword of
named exports, then joins the files in dependency order. No bundler, no npm:
names must be unique across files (they are prefixed per concern).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

__all__ = ["asset_dir", "load_esm", "load_css", "JS_MODULES"]

#: Dependency order: each file may use names from the files before it.
JS_MODULES = ("messages.js", "rpc.js", "camera.js", "controls.js", "transport_comm.js", "transport_webrtc.js", "widget.js")

_LOCAL_IMPORT = re.compile(r'^\s*import\s[^;]*from\s+["\']\./[^"\']+["\'];?\s*$', re.MULTILINE)
_NAMED_EXPORT = re.compile(r"^export\s+(?=(async\s+)?(function|const|let|class)\b)", re.MULTILINE)


def asset_dir() -> Path:
    """``js/`` of a source checkout, else the copy a wheel ships as ``static/``."""
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "js"
    if (checkout / "widget.js").is_file():
        return checkout
    return here.parents[1] / "static"


def join_modules(sources: list[str]) -> str:
    parts = []
    for src in sources:
        src = _LOCAL_IMPORT.sub("", src)
        parts.append(_NAMED_EXPORT.sub("", src))
    return "\n".join(parts)


@lru_cache(maxsize=1)
def load_esm() -> str:
    base = asset_dir()
    return join_modules([(base / name).read_text(encoding="utf-8") for name in JS_MODULES])


@lru_cache(maxsize=1)
def load_css() -> str:
    return (asset_dir() / "widget.css").read_text(encoding="utf-8")
