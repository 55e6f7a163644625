"""The plug-in base shared by feed connectors and alert channels: options, secrets, one registry.

A plug-in is a class with a ``kind`` (the name config uses) and an ``Options`` model (its own keys,
validated at config-load time with no secrets or network needed). A stage keeps one
:class:`Registry` of its plug-ins; adding one is a new file plus one line in that registry.

>>> class Echo:
...     kind = "echo"
...     class Options(PluginOptions):
...         greeting: str = "hi"
>>> reg = Registry("feed", [Echo])
>>> reg.validate("echo", {"greeting": "salaam"}).greeting
'salaam'
>>> try:
...     reg.validate("echo", {"greting": "x"})
... except OptionError as exc:
...     print(exc.key, "|", exc.message)
greting | unknown option for echo feeds (allowed: greeting)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, model_validator

__all__ = ["OptionError", "PluginOptions", "Registry", "SecretRef", "first_option_error"]


class OptionError(ValueError):
    """A plug-in's options are wrong; ``key`` is the dotted path inside its options (``auth.env``).

    A ValueError so that pydantic validators can raise it and config loaders report it with the key.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class PluginOptions(BaseModel):
    """Base of every plug-in's ``Options``: unknown keys are config errors, not silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretRef(PluginOptions):
    """Where a secret lives: an environment variable or a file (relative paths: to the config file).

    The value is only read when the plug-in is built, so config can be validated without secrets.
    """

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self

    def resolve(self, base_dir: Path) -> SecretStr:
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ValueError(f"environment variable {self.env} is not set")
            return SecretStr(value)
        assert self.file is not None
        path = Path(self.file)
        if not path.is_absolute():
            path = base_dir / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from exc
        if not value:
            raise ValueError(f"secret file {path} is empty")
        return SecretStr(value)


def first_option_error(exc: ValidationError, model: type[BaseModel], what: str) -> tuple[str, str]:
    """``(dotted key, message)`` for the first problem in a plug-in's options, listing the allowed
    options when the key is unknown."""
    errors = exc.errors()
    err = errors[0]
    key = ".".join(str(p) for p in err["loc"])
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(sorted(f.alias or n for n, f in model.model_fields.items()))
        message = f"unknown option for {what} (allowed: {allowed})"
    more = len(errors) - 1
    if more:
        message += f" (+{more} more problem{'s' if more > 1 else ''})"
    return key, message


# A plug-in class: ``kind`` (a str class attribute) and ``Options`` (a PluginOptions subclass).
P = TypeVar("P")


def _kind(cls: type[Any]) -> str:
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not isinstance(getattr(cls, "Options", None), type):
        raise TypeError(f"{cls.__name__} is not a plug-in: it needs a 'kind' string and an 'Options' model")
    return kind


class Registry(Generic[P]):
    """Plug-in classes by ``kind``; ``what`` names the family in messages ("feed", "channel")."""

    def __init__(self, what: str, classes: Iterable[type[P]], error: type[OptionError] = OptionError) -> None:
        self.what = what
        self.error = error
        self._classes: dict[str, type[P]] = {}
        for cls in classes:
            kind = _kind(cls)
            if kind in self._classes:
                raise ValueError(f"two {what} plug-ins are registered as {kind!r}")
            self._classes[kind] = cls

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self._classes))

    def __iter__(self) -> Iterator[str]:
        return iter(self.kinds)

    def __contains__(self, kind: object) -> bool:
        return kind in self._classes

    def __getitem__(self, kind: str) -> type[P]:
        return self.get(kind)

    def items(self) -> list[tuple[str, type[P]]]:
        return sorted(self._classes.items())

    def get(self, kind: str) -> type[P]:
        try:
            return self._classes[kind]
        except KeyError:
            known = ", ".join(self.kinds)
            raise self.error("kind", f"unknown {self.what} kind {kind!r} (known: {known})") from None

    def validate(self, kind: str, options: Mapping[str, Any]) -> PluginOptions:
        """The plug-in's frozen ``Options``, or the registry's error naming the first bad key."""
        model: type[PluginOptions] = getattr(self.get(kind), "Options")  # noqa: B009 - checked in _kind
        try:
            return model.model_validate(dict(options))
        except ValidationError as exc:
            key, message = first_option_error(exc, model, f"{kind} {self.what}s")
            raise self.error(key, message) from exc
