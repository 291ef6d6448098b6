"""Griffe extension for the API reference: Sphinx cross-reference roles in
docstrings (``:class:`~decart_widgets.models.ModelDefinition```) become
inline code (``ModelDefinition``), since mkdocstrings renders Markdown and
would print the roles literally. Runs once the package is loaded, after
griffe-sphinx turned ``#:`` comments into docstrings."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|attr|meth|func|mod|data|exc|obj|const):`(~?)([^`]+)`")


def _plain(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2).strip()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRoles(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[Any] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen or obj.is_alias:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = _ROLE.sub(_plain, obj.docstring.value)
            stack.extend(obj.members.values())
