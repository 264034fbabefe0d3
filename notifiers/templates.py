"""User payload templates: Jinja2 in an immutable sandbox, bounded in time and size.

A receiver's ``template`` file renders the webhook body from ``alert`` (the alert document),
``receiver`` (its name) and ``message_id``; the output must be JSON. Autoescaping is off; the
``tojson`` filter writes any value as JSON and ``clip(n)`` cuts text to n characters with "…".
The sandbox refuses attributes outside it (``__class__``, ``__globals__``, mutating methods) and
this module bounds the work: render time, output size, the size of strings and numbers an
operation may make, and the size of the template itself.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from notifiers.presets.base import clip

MAX_SOURCE = 256 * 1024
MAX_OUTPUT = 1024 * 1024
MAX_TEXT = 100_000  # the longest string one operation may make, and the largest count argument
MAX_DIGITS = 1_000
SECONDS = 1.0


class TemplateProblem(Exception):
    """A template that cannot be loaded or rendered; the message names the file and line."""


class _Stop(BaseException):
    """Raised from the tracer; a BaseException so no ``except Exception`` in Jinja swallows it."""


_SEQUENCES = (str, list, tuple)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox with size checks on the operations that can blow up."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """Binary operators that can make huge values are checked first."""
        if operator == "%" and isinstance(left, str):
            raise SecurityError("string % formatting is not allowed; join text with ~")
        if operator == "*" and (isinstance(left, _SEQUENCES) or isinstance(right, _SEQUENCES)):
            seq, times = (left, right) if isinstance(left, _SEQUENCES) else (right, left)
            if isinstance(times, int) and len(seq) * times > MAX_TEXT:
                raise SecurityError(f"repeating would make more than {MAX_TEXT} items")
        both = isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES)
        if operator == "+" and both and len(left) + len(right) > MAX_OUTPUT:
            raise SecurityError(f"joining would make more than {MAX_OUTPUT} items")
        numbers = isinstance(left, int | float) and isinstance(right, int | float)
        if operator == "**" and numbers and abs(right) * math.log10(abs(left) + 2) > MAX_DIGITS:
            raise SecurityError(f"the power would have more than {MAX_DIGITS} digits")
        return super().call_binop(context, operator, left, right)

    def call(
        __self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and getattr(__obj, "__name__", "") in ("format", "format_map"):
            raise SecurityError("str.format is not allowed; join text with ~")
        _check_args(getattr(__obj, "__name__", "call"), owner, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` can pad to any width in one call: refuse it where it is reached."""
        if getattr(value, "__name__", "") in ("format", "format_map") and isinstance(
            getattr(value, "__self__", None), str
        ):
            raise SecurityError("str.format is not allowed; join text with ~")
        return None


_WIDTHS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "wordwrap"})
_COUNTS = frozenset({"truncate", "batch", "slice"})


def _check_args(name: str, owner: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse widths and counts, and replacements, that would make oversized text."""
    if name in _WIDTHS | _COUNTS:
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_TEXT:
                raise SecurityError(f"{name}: {value} is larger than {MAX_TEXT}")
    if name == "replace" and isinstance(owner, str) and len(args) >= 2:
        old, new = str(args[0]), str(args[1])
        if len(owner) + (owner.count(old) + 1) * len(new) > MAX_TEXT:
            raise SecurityError(f"replace would make more than {MAX_TEXT} characters")


def _guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that checks its arguments first (after any context Jinja passes)."""
    passes = hasattr(func, "jinja_pass_arg")

    def filter_(*args: Any, **kwargs: Any) -> Any:
        given = args[1:] if passes else args  # drop the context Jinja passes first
        if given:
            _check_args(name, given[0], tuple(given[1:]), kwargs)
        return func(*args, **kwargs)

    if passes:
        filter_.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
    return filter_


def _tojson(value: Any) -> str:
    """Any value as JSON; an undefined one fails with Jinja's own message."""
    return json.dumps(value, ensure_ascii=False, default=_undefined)


def _undefined(value: Any) -> Any:
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    raise TypeError(f"a {type(value).__name__} cannot be written as JSON")


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    for unsafe in ("namespace", "cycler", "joiner", "lipsum"):
        env.globals.pop(unsafe, None)
    env.filters.pop("format", None)
    env.filters = {name: _guarded(name, f) for name, f in env.filters.items()}
    env.filters["tojson"] = _tojson
    env.filters["clip"] = clip
    return env


class UserTemplate:
    """A loaded template; :meth:`render` returns the JSON value it produced."""

    def __init__(self, path: Path, seconds: float = SECONDS) -> None:
        self.path = path
        self.seconds = seconds
        try:
            with path.open("rb") as fh:
                raw = fh.read(MAX_SOURCE + 1)
            source = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateProblem(f"{path}: cannot read the template: {exc}") from None
        if len(raw) > MAX_SOURCE:
            raise TemplateProblem(f"{path}: the template is larger than {MAX_SOURCE // 1024} KiB")
        env = _environment()
        try:
            code = env.compile(source, name=path.name, filename=str(path))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(
                f"{path}:{exc.lineno}: template syntax error: {exc.message}"
            ) from None
        self._template = env.template_class.from_code(env, code, env.make_globals(None))

    def render(self, variables: Mapping[str, Any]) -> Any:
        """Render and parse the output as JSON; raise TemplateProblem saying what went wrong."""
        text = self.render_text(variables)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateProblem(
                f"{self.path}: the output is not valid JSON: {exc.msg} at output line {exc.lineno}"
                f" column {exc.colno} (write values with the tojson filter)"
            ) from None

    def render_text(self, variables: Mapping[str, Any]) -> str:
        """The raw output, within the time and size bounds."""
        watch = _Watch(self.seconds)
        previous = sys.gettrace()
        out: list[str] = []
        length = 0
        sys.settrace(watch)
        try:
            for chunk in self._template.generate(**variables):
                length += len(chunk)
                if length > MAX_OUTPUT:
                    raise TemplateProblem(
                        f"{self.path}: the output is larger than {MAX_OUTPUT // 1024} KiB"
                    )
                out.append(chunk)
        except _Stop as stop:
            where = _where(stop, self.path, self._template.get_corresponding_lineno)
            raise TemplateProblem(f"{self.path}{where}: {stop}") from None
        except RecursionError:
            raise TemplateProblem(f"{self.path}: the template recurses too deeply") from None
        except SecurityError as exc:
            raise TemplateProblem(
                f"{self.path}{_where(exc, self.path)}: not allowed in the sandbox: {exc}"
            ) from None
        except jinja2.UndefinedError as exc:
            raise TemplateProblem(f"{self.path}{_where(exc, self.path)}: {exc.message}") from None
        except (jinja2.TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise TemplateProblem(
                f"{self.path}{_where(exc, self.path)}: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            sys.settrace(previous)
        return "".join(out)


class _Watch:
    """A trace function: stops the render past its deadline or when a call gets oversized text."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.until = time.monotonic() + seconds
        self.ticks = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        if event == "call":
            for value in frame.f_locals.values():
                if _length(value) > MAX_OUTPUT:
                    raise _Stop(f"text larger than {MAX_OUTPUT // 1024} KiB was being built")
        return self._tick(frame, event, arg)

    def _tick(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        self.ticks += 1
        if self.ticks & 255 == 0 and time.monotonic() > self.until:
            raise _Stop(f"rendering took longer than {self.seconds:g} s")
        return self._tick


def _length(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, tuple | list) and value and isinstance(value[0], str):
        return sum(len(v) for v in value[:10_000] if isinstance(v, str))
    return 0


def _where(exc: BaseException, path: Path, lineno: Callable[[int], int] = lambda n: n) -> str:
    """``:LINE`` of the template line the error came from, when the traceback shows it.

    Jinja rewrites the traceback of an ordinary exception to template lines; a stop raised by
    the tracer carries the lines of the compiled code, which ``lineno`` maps back.
    """
    line = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = lineno(tb.tb_lineno)
        tb = tb.tb_next
    return f":{line}" if line else ""
