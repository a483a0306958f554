"""Helpers for ringmaster plugins written in Python (built with componentize-py).

The contract's types and host functions come from the bindings componentize-py
generates from the WIT (`wit_world`); this module adds what every plugin would
otherwise write again, as the Rust SDK does:

* ``config_get("max-per-root", int)``: typed configuration, ``None`` (or a
  default) when unset, a ``ConfigError`` naming the key when it does not parse;
  ``config_list("events", ["JobSubmit"])`` for comma- or line-separated lists;
* ``debug/info/warn/error(message, key=value, ...)``: log lines with fields;
* ``FreeSlots``: room on the token slots, handed out one job at a time;
* ``deny/allow/ask/pass_()``: hook responses;
* ``TestHost``: the host functions for tests run natively (``python -m
  unittest``), with configuration, a fixed clock and captured log lines.

An exception raised by a plugin function traps the call; the host reports it
with the end of the traceback and falls back to its built-in behaviour.
"""

from wit_world.imports import host
from wit_world.imports.host import Level

__all__ = [
    "ConfigError", "config_get", "config_list", "config_all", "now_ms",
    "debug", "info", "warn", "error", "FreeSlots", "pass_", "allow", "deny", "ask", "TestHost",
]


class ConfigError(ValueError):
    """A configuration value that does not parse as the type asked for."""


def config_get(key, parse=str, default=None):
    """The value of `key` parsed by `parse` (``int``, ``float``, ...), `default` when unset."""
    value = host.config_get(key)
    if value is None:
        return default
    try:
        return parse(value.strip())
    except (ValueError, TypeError) as err:
        name = getattr(parse, "__name__", str(parse))
        raise ConfigError(f"config key `{key}`: {value!r} is not a valid {name} ({err})") from None


def config_list(key, default=()):
    """A list written as comma-separated items or one per line (trimmed, blanks dropped)."""
    value = host.config_get(key)
    if value is None:
        return list(default)
    return [item.strip() for item in value.replace("\n", ",").split(",") if item.strip()]


def config_all():
    """Every key and value, sorted by key."""
    return host.config_all()


def now_ms():
    """Wall-clock time, milliseconds since the Unix epoch."""
    return host.now_ms()


def _log(level, message, fields):
    host.log(level, message, [(key, str(value)) for key, value in fields.items()])


def debug(message, **fields):
    _log(Level.DEBUG, message, fields)


def info(message, **fields):
    _log(Level.INFO, message, fields)


def warn(message, **fields):
    _log(Level.WARN, message, fields)


def error(message, **fields):
    _log(Level.ERROR, message, fields)


class FreeSlots:
    """The room left on the slots that may take a job now (free, not cooling down)."""

    def __init__(self, slots):
        self._room = [[s.index, s.free] for s in slots if s.free > 0 and s.cooling_until_ms is None]

    def take(self):
        """Room for one job on the slot with the most (the lowest index on a tie), or ``None``."""
        best = None
        for entry in self._room:
            if entry[1] > 0 and (best is None or (entry[1], -entry[0]) > (best[1], -best[0])):
                best = entry
        if best is None:
            return None
        best[1] -= 1
        return best[0]

    def total(self):
        """Jobs that may still start on these slots."""
        return sum(room for _, room in self._room)


def _response(permission, reason=None):
    from wit_world.exports.hook_handler import Permission, Response

    return Response(permission=getattr(Permission, permission), reason=reason,
                    updated_input_json=None, additional_context=None)


def pass_():
    """No opinion: the event goes on as if the plugin were not there."""
    return _response("NONE")


def allow(reason=None):
    return _response("ALLOW", reason)


def deny(reason):
    return _response("DENY", reason)


def ask(reason):
    return _response("ASK", reason)


class TestHost:
    """The host functions for tests run natively, installed for a ``with`` block::

        with TestHost(config={"max-per-root": "2"}) as test:
            chosen = Scheduler().select(input)
        assert test.logs[0].fields["started"] == "1"
    """

    class Line:
        def __init__(self, level, message, fields):
            self.level, self.message, self.fields = level, message, dict(fields)

        def __repr__(self):
            return f"Line({self.level.name}, {self.message!r}, {self.fields!r})"

    def __init__(self, config=None, now_ms=1_700_000_000_000):
        self.config = dict(config or {})
        self.now_ms = now_ms
        self.logs = []
        self._saved = None

    def __enter__(self):
        names = ("config_get", "config_all", "now_ms", "log")
        self._saved = {name: getattr(host, name) for name in names}
        host.config_get = self.config.get
        host.config_all = lambda: sorted(self.config.items())
        host.now_ms = lambda: self.now_ms
        host.log = lambda level, message, fields: self.logs.append(TestHost.Line(level, message, fields))
        return self

    def __exit__(self, *exc):
        for name, function in self._saved.items():
            setattr(host, name, function)
        return False
