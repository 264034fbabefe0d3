"""bot.toml's validation errors in words: one line per problem, naming its key (pure).

Pydantic's errors become ``key.path: what is wrong (got VALUE)``: an unknown key suggests the
closest known one, and a value that may be a secret (or carries credentials) is not shown.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.configvalues import hide_credentials


def describe(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    """One line per problem of ``exc``, raised validating ``root``."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = [p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        path = _key_path(loc)
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key" + _suggestion(root, loc)
        elif error["type"] == "missing":
            lines.append(f"{path}: required key is missing")
            continue
        got = _show(error.get("input"), secret_like=_secret_like(loc))
        for part in message.split("\n"):
            if "(got" in part:
                # the validator named its own key and value: "key: text (got VALUE)"
                key, _, rest = part.partition(": ")
                prefix = f"{path}.{key}" if path else key
                lines.append(f"{prefix}: {rest}" if rest else f"{path}: {part}")
            else:
                lines.append(f"{path}: {part} (got {got})")
    return lines


def _key_path(loc: list[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _suggestion(root: type[BaseModel], loc: list[int | str]) -> str:
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field else None
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None


def _secret_like(loc: list[int | str]) -> bool:
    key = str(loc[-1]) if loc else ""
    return bool(re.search(r"(token|secret|password|passwd|apikey|api_key|_env)$", key, re.I))


def _show(value: object, *, secret_like: bool = False) -> str:
    if secret_like:
        return "a value that is not shown, in case it is a secret"
    text = repr(hide_credentials(value) if isinstance(value, str) else value)
    return text if len(text) <= 80 else text[:77] + "..."
