"""One clear line per configuration mistake, for every TOML file heatflex reads.

Scenario files (`scenarios/schema.py`) and Modbus register-map profiles (`hil/profile.py`) are
validated by pydantic; this module turns each pydantic error into
``file: key.path = value — what is allowed``. It lives beside the model cores because both
``scenarios`` and ``hil`` import it and neither may import the other's configuration.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError


class ConfigError(Exception):
    """A configuration file is invalid; ``messages`` holds one line per mistake."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


def format_value(value: Any) -> str:
    """``repr`` shortened to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def lookup(data: Any, loc: tuple[Any, ...]) -> Any:
    """The raw value at a pydantic location inside the parsed TOML mapping (None if absent)."""
    for key in loc:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def allowed_keys(
    root: type[BaseModel],
    loc: tuple[Any, ...],
    data: Any,
    unions: Mapping[str, Mapping[str, type[BaseModel]]] | None = None,
) -> list[str]:
    """Keys the model accepts at ``loc``; ``unions`` maps a tagged-union key to {tag: model}."""
    model: Any = root
    parent = data
    for key in loc:
        if isinstance(key, int):
            parent = parent[key] if isinstance(parent, list) and key < len(parent) else None
            continue
        parent = parent.get(key) if isinstance(parent, dict) else None
        if unions and model is root and key in unions:
            tag = parent.get("type") if isinstance(parent, dict) else None
            model = unions[key].get(tag) if isinstance(tag, str) else None
            if model is None:
                return []
            continue
        field = model.model_fields.get(key) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        ann = field.annotation
        args = [*getattr(ann, "__args__", ())]
        for a in list(args):  # list[Model] / dict[str, Model] → Model
            args.extend(getattr(a, "__args__", ()))
        model = next(
            (a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if model is None:
            return []
    return list(model.model_fields) if model is not None else []


def format_error(
    source: str,
    err: Mapping[str, Any],
    data: dict[str, Any],
    root: type[BaseModel],
    unions: Mapping[str, Mapping[str, type[BaseModel]]] | None = None,
) -> str:
    """One line for one pydantic error: ``file: key.path = value — what is allowed``."""
    raw_loc = tuple(err["loc"])
    # Drop pydantic's union tag from the path (controller.price_rule.x -> controller.x).
    if unions and len(raw_loc) >= 2 and raw_loc[0] in unions and raw_loc[1] in unions[raw_loc[0]]:
        raw_loc = (raw_loc[0], *raw_loc[2:])
    path = ".".join(str(p) for p in raw_loc) if raw_loc else "(top level)"
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        allowed = allowed_keys(root, raw_loc[:-1], data, unions)
        hint = f" — allowed keys here: {', '.join(allowed)}" if allowed else ""
        return f"{source}: {path} — unknown key{hint}"
    if kind == "missing":
        return f"{source}: {path} — required key is missing"
    value = err.get("input")
    shown = "" if "input" not in err or isinstance(value, dict) else f" = {format_value(value)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"{source}: {path}{shown} — expected one of {expected}"
    if kind == "union_tag_invalid":
        tag = format_value(ctx.get("tag"))
        return f"{source}: {path}.type = {tag} — expected one of {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        tags = ", ".join(unions.get(str(raw_loc[0]), {})) if unions and raw_loc else ""
        return f"{source}: {path}.type — required key is missing ({tags})"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{source}: {path}{shown} — {msg}"


def validate(
    model: type[BaseModel],
    data: dict[str, Any],
    source: str,
    unions: Mapping[str, Mapping[str, type[BaseModel]]] | None = None,
    error: type[ConfigError] = ConfigError,
) -> Any:
    """``model.model_validate(data)``, raising ``error`` with one message per mistake."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error([format_error(source, e, data, model, unions) for e in exc.errors()]) from None


def read_toml(
    path: str | Path, what: str, error: type[ConfigError] = ConfigError
) -> dict[str, Any]:
    """Parse a TOML file; unreadable or invalid files raise ``error`` naming the file.

    ``what`` names the kind of file in the message ("scenario file", "profile")."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error([f"{path}: cannot read the {what} ({exc.strerror})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error([f"{path}: not valid TOML — {exc}"]) from None
