"""A registry of plugins by name, filled by our own classes and by entry points (lazily)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import re
import warnings
from collections.abc import Iterator
from typing import Any

from factorgraph._errors import PluginError

__all__ = ["Registry"]

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class Registry:
    """Plugins of one kind, by lower-case hyphenated name.

    Parameters
    ----------
    group : str
        The entry-point group third-party packages register under, e.g. "factorgraph.samplers".
    required : tuple of str
        Attributes every plugin class must have.
    unlisted_group : str, optional
        A second entry-point group whose plugins load by name but are not listed by
        :meth:`available` (test-only plugins, which users should not be offered).
    """

    def __init__(self, group: str, required: tuple[str, ...], unlisted_group: str | None = None) -> None:
        self.group = group
        self.required = required
        self.unlisted_group = unlisted_group
        self._classes: dict[str, type] = {}
        self._entry_points: dict[str, importlib.metadata.EntryPoint] | None = None
        self._unlisted: set[str] = set()

    def register(self, cls: type, name: str | None = None) -> type:
        """Add a plugin class (usable as a decorator); its ``name`` attribute is the default."""
        name = name or str(getattr(cls, "name", ""))
        self._check(cls, name, origin=cls.__module__)
        self._classes[name] = cls
        return cls

    @contextlib.contextmanager
    def registered(self, cls: type) -> Iterator[str]:
        """Register ``cls`` under its ``name`` for the duration of a ``with`` block (unless it
        already is); yields the name. For checks that need a plugin by name without leaving it
        registered."""
        name = getattr(cls, "name", "")
        if self.knows(name) and self.get(name) is cls:
            yield name
            return
        previous = self._classes.get(name)
        self.register(cls)
        try:
            yield name
        finally:
            if previous is None:
                del self._classes[name]
            else:
                self._classes[name] = previous

    def _check(self, cls: Any, name: str, origin: str) -> None:
        if not _NAME.match(name or ""):
            raise PluginError(f"Plugin name {name!r} from {origin} must be lower case with hyphens, e.g. 'my-sampler'.")
        missing = [attr for attr in self.required if not hasattr(cls, attr)]
        if missing:
            raise PluginError(
                f"Plugin '{name}' ({origin}) has no {', '.join(repr(m) for m in missing)}; see the "
                f"'{self.group}' contract in docs/how-to."
            )

    def _discover(self) -> dict[str, importlib.metadata.EntryPoint]:
        if self._entry_points is None:
            listed = {ep.name: ep for ep in importlib.metadata.entry_points(group=self.group)}
            groups = importlib.metadata.entry_points(group=self.unlisted_group) if self.unlisted_group else ()
            unlisted = {ep.name: ep for ep in groups if ep.name not in listed}
            self._unlisted = set(unlisted)
            self._entry_points = {**unlisted, **listed}
        return self._entry_points

    def refresh(self) -> None:
        """Read the entry points again, so that packages installed since the first look are seen.

        Classes already loaded stay registered.
        """
        self._entry_points = None

    def knows(self, name: str) -> bool:
        """Whether :meth:`get` can load ``name``: a listed or an unlisted plugin."""
        return name in self._classes or name in self._discover()

    def available(self) -> list[str]:
        """Every registered name, built-in or from an entry point, without importing plugins (the
        unlisted group's plugins left out)."""
        return sorted((set(self._classes) | set(self._discover())) - self._unlisted)

    def get(self, name: str) -> type:
        """The class registered as ``name``, loading an entry point on first use."""
        if name in self._classes:
            return self._classes[name]
        entry = self._discover().get(name)
        if entry is None:
            raise PluginError(f"No plugin named {name!r} in '{self.group}'; available: {self.available()}.")
        try:
            cls = entry.load()
        except Exception as exc:  # a broken plugin must not take the host down
            warnings.warn(f"plugin '{name}' ({entry.value}) failed to import: {exc!r}", RuntimeWarning, stacklevel=2)
            raise PluginError(f"Plugin {name!r} ({entry.value}) failed to import: {exc!r}") from exc
        dist = getattr(entry, "dist", None)
        self._check(cls, name, origin=f"{entry.value}" + (f", {dist.name} {dist.version}" if dist else ""))
        self._classes[name] = cls
        return cls
