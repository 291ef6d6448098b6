"""The widgets' browser code: plain ESM files in ``js/``, joined into the one
module anywidget loads per widget (``widget.js`` for DecartLive, ``view.js``
for DecartView, each after the files it uses).

anywidget loads ``_esm`` as a single module from a string, so relative
imports between files cannot resolve in the browser. The files keep their
``import``/``export`` lines (editors and ``tsc --checkJs`` follow them); this
module drops ``import ... from "./x.js"`` lines and the ``export`` keyword of
named exports, then joins the files in dependency order. No bundler, no npm:
names must be unique across files (they are prefixed per concern).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from pathlib import Path

__all__ = ["asset_dir", "load_esm", "load_css", "JS_MODULES", "ESM_MODULES"]

#: Each widget's module (by its entry file): the files it joins, in
#: dependency order (each file may use names from the files before it).
ESM_MODULES = {
    "widget.js": ("messages.js", "rpc.js", "camera.js", "controls.js", "live_ui.js", "transport_comm.js",
                  "camera_comm.js", "transport_webrtc.js", "player.js", "widget.js"),
    "view.js": ("messages.js", "rpc.js", "controls.js", "view_ui.js", "transport_comm.js", "transport_webrtc.js",
                "player.js", "view.js"),
}
#: Every file of the widgets' browser code (what a wheel must carry).
JS_MODULES = tuple(dict.fromkeys(name for names in ESM_MODULES.values() for name in names))

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


@cache
def load_esm(entry: str = "widget.js") -> str:
    """The module of the widget whose entry file is ``entry`` (a key of :data:`ESM_MODULES`)."""
    base = asset_dir()
    return join_modules([(base / name).read_text(encoding="utf-8") for name in ESM_MODULES[entry]])


@lru_cache(maxsize=1)
def load_css() -> str:
    return (asset_dir() / "widget.css").read_text(encoding="utf-8")
