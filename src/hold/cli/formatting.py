"""Output formatting shared by the CLI commands, the way Docker's CLI prints.

This module is on the CLI's start-up path, so it imports only ``re`` and
``hold.errors`` at the top; the template engine (``_gotemplate``), ``json``
and ``datetime`` are imported when a function needs them.

Words:

- a **format** is what a user passes to ``--format``: ``json`` (one JSON
  object per line), ``table ...`` (a header row, then one row per object,
  aligned), or any other Go template (one rendering per object, each
  followed by a newline).  Literal ``\\t`` and ``\\n`` typed in a format are
  turned into a tab and a newline first, as Docker does.
- a **table** is text whose cells are separated by tabs, aligned by
  ``tabwrite`` exactly as Docker aligns its tables: Go's tabwriter with a
  minimum cell width of 10 and a padding of 3 spaces; the last cell of a
  line is never padded.
- a **header** names a column.  A table format renders its header by
  executing the template once with every field replaced by its column name:
  the caller's ``headers`` (by field key, e.g. ``{"ID": "CONTAINER ID"}``)
  or, failing that, the field's name in Docker's style (``RunningFor`` ->
  ``RUNNING FOR``).

A malformed template raises ``TemplateParseError("failed to parse template:
template: :1: ...")`` (an ``InvalidArgument``; the inspect commands exit 64
on it, as Docker's do, and check it with ``check_template`` before they
fetch anything) and one that fails on an object ``InvalidArgument(
"failed to execute template: template: :1:2: executing ...")``, worded as
Docker's CLI (28.x) words them.

Typical use by a command::

    out = format_rows(opts.format or DEFAULT_PS, rows, headers=PS_HEADERS)
"""

from __future__ import annotations

import re

from hold.errors import InvalidArgument

__all__ = [
    "TABLE_MINWIDTH", "TABLE_PADDING", "TemplateParseError", "check_template",
    "apply_format", "format_rows", "format_json_lines", "is_table_format",
    "go_json", "tabwrite", "render_table", "ellipsis", "human_size", "bytes_size",
    "human_duration", "human_ago", "status_text", "truncate_id", "parse_timestamp",
]

TABLE_MINWIDTH = 10
TABLE_PADDING = 3

_cache: dict[str, object] = {}


class TemplateParseError(InvalidArgument):
    """A ``--format`` value that is not a valid Go template."""


# ------------------------------------------------------------- templates --

def is_table_format(fmt: str) -> bool:
    """True for ``table`` and ``table {{...}}`` (Docker: prefix "table")."""
    return fmt.startswith("table")


def _preformat(fmt: str) -> tuple[bool, str]:
    """(is_table, template text) for a user's ``--format`` value."""
    table = is_table_format(fmt)
    if table:
        fmt = fmt[len("table"):]
    elif fmt == "json":
        fmt = "{{json .}}"
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return table, fmt


def _compile(text: str):
    template = _cache.get(text)
    if template is None:
        from hold.cli._gotemplate import Template, TemplateError
        try:
            template = Template(text)
        except TemplateError as exc:
            raise TemplateParseError(f"failed to parse template: {exc}", template=text) from exc
        _cache[text] = template
    return template


def _execute(template, obj) -> str:
    from hold.cli._gotemplate import TemplateError
    try:
        return template.execute(obj)
    except TemplateError as exc:
        raise InvalidArgument(f"failed to execute template: {exc}", template=template.src) from exc


def check_template(template: str | None) -> None:
    """Parse a ``--format`` value now (a TemplateParseError if it is bad),
    as Docker's inspect does before it looks anything up."""
    if template and template != "json":
        _compile(_preformat(template)[1])


def apply_format(template: str, obj, *, headers: dict[str, str] | None = None) -> str:
    """Render one object with a ``--format`` value; no newline is added.

    ``json`` gives the object's compact JSON; a ``table`` format gives the
    header line and the object's line, aligned.  ``obj`` may be a dict
    (fields are keys) or any object (fields are attributes; a callable
    field is called, with the field's arguments).
    """
    if template == "json":
        return go_json(obj)
    table, text = _preformat(template)
    if table:
        return format_rows(template, [obj], headers=headers).removesuffix("\n")
    return _execute(_compile(text), obj)


def format_rows(fmt: str, objs, *, headers: dict[str, str] | None = None,
                default_table: str | None = None) -> str:
    """Docker's whole output for a list command: every line ends in "\\n".

    ``fmt`` is the user's ``--format`` (or the command's default table);
    a bare ``table`` means ``default_table``.  A table always has its
    header, even with no rows, as ``docker ps`` prints one.
    """
    if fmt.strip() == "table" and default_table:
        fmt = default_table
    table, text = _preformat(fmt)
    template = _compile(text)
    body = "".join(_execute(template, obj) + "\n" for obj in objs)
    if not table:
        return body
    return tabwrite(template.execute_header(headers or {}) + "\n" + body)


def format_json_lines(objs) -> str:
    """``--format json``: one compact JSON object per line."""
    return "".join(go_json(obj) + "\n" for obj in objs)


def go_json(value) -> str:
    """Go's encoding/json as Docker's ``json`` function uses it: compact,
    keys of maps sorted, no HTML escaping."""
    from hold.cli._gotemplate import go_json as encode
    return encode(value)


# ---------------------------------------------------------------- tables --

def _cell_width(text: str) -> int:
    if text.isascii():
        return len(text)
    import unicodedata
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def tabwrite(text: str, *, minwidth: int = TABLE_MINWIDTH,
             padding: int = TABLE_PADDING) -> str:
    """Align tab-terminated cells into columns, as Go's text/tabwriter does.

    A column is a run of consecutive lines that have a tab-terminated cell
    at that position; its width is the widest cell plus ``padding``, and at
    least ``minwidth``.  The text after a line's last tab is not part of any
    column and is never padded.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    _format_block(lines, 0, len(lines), [], out, minwidth, padding)
    return "\n".join(out)


def _format_block(lines, first, end, widths, out, minwidth, padding):
    column = len(widths)
    this = first
    while this < end:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write_lines(lines, first, this, widths, out)
        first = width_start = this
        width = minwidth
        while this < end and column < len(lines[this]) - 1:
            width = max(width, _cell_width(lines[this][column]) + padding)
            this += 1
        _format_block(lines, width_start, this, widths + [width], out, minwidth, padding)
        first = this
    _write_lines(lines, first, end, widths, out)


def _write_lines(lines, first, end, widths, out):
    for cells in lines[first:end]:
        parts = []
        for j, cell in enumerate(cells):
            parts.append(cell)
            if j < len(widths):
                parts.append(" " * (widths[j] - _cell_width(cell)))
        out.append("".join(parts))


def _plain(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        from hold.cli._gotemplate import go_print
        value = go_print(value)
    return value.replace("\t", " ").replace("\n", " ")


def ellipsis(text: str, width: int) -> str:
    """Docker's formatter.Ellipsis: fit ``text`` in ``width`` display cells
    (East Asian wide characters take two), ending in "…" when cut.  A width
    of 1 keeps the first character.  ``docker ps`` COMMAND uses 20."""
    if width <= 0 or not text:
        return ""
    if width == 1:
        return text[0]
    if text.isascii():
        return text if len(text) <= width else text[:width - 1] + "…"
    import unicodedata
    out, used = [], 0
    for ch in text:
        used += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        out.append((ch, used))
    if used <= width:
        return text
    kept = "".join(ch for ch, end in out if end <= width - 1)
    return kept + "…"


def render_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Docker's plain table: a header of ``columns`` names, then the rows.

    ``columns`` is ``[(key, HEADER), ...]``; each row gives ``row[key]``
    (missing or None prints empty; tabs and newlines in values become
    spaces so they cannot break the alignment).  Every line ends in "\\n".
    """
    text = ["\t".join(header for _, header in columns) + "\n"]
    for row in rows:
        text.append("\t".join(_plain(row.get(key)) for key, _ in columns) + "\n")
    return tabwrite("".join(text))


# ----------------------------------------------------------------- units --

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision, as ``docker images`` shows SIZE.

    Decimal units, ``precision`` significant digits: 1234567 -> "1.23MB",
    5600 -> "5.6kB", 0 -> "0B".
    """
    value, unit = _scaled(float(size), 1000.0, _DECIMAL)
    return "%.*g%s" % (precision, value, unit)


def bytes_size(size: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits ("1.5KiB")."""
    value, unit = _scaled(float(size), 1024.0, _BINARY)
    return "%.4g%s" % (value, unit)


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second" ... "2 years"."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


# ------------------------------------------------------------ timestamps --

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"\s*([Zz]|[+-]\d{2}:?\d{2})\Z")


def parse_timestamp(text: str):
    """An RFC 3339 timestamp (nanoseconds allowed) as an aware datetime.

    Go's zero time "0001-01-01T00:00:00Z" parses like any other; use
    ``_epoch`` semantics (None for zero) where "never" matters.
    """
    import datetime as dt
    m = _RFC3339.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise InvalidArgument(
            f'parsing time "{text}" as "2006-01-02T15:04:05Z07:00": cannot parse',
            value=text)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    if zone in ("Z", "z"):
        tz = dt.timezone.utc
    else:
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError as exc:
        raise InvalidArgument(f'parsing time "{text}": {exc}', value=text) from exc


def _epoch(when) -> float | None:
    """Seconds since the epoch for a datetime, number or RFC 3339 string;
    None for "never" (None, "", Go's zero time)."""
    if when is None or when == "" or when == 0:
        return None
    if isinstance(when, (int, float)):
        return float(when)
    if isinstance(when, str):
        when = parse_timestamp(when)
    if when.year <= 1:
        return None
    if when.tzinfo is None:
        return when.astimezone().timestamp()
    return when.timestamp()


def _now(now: float | None) -> float:
    if now is not None:
        return now
    import time
    return time.time()


def human_ago(when, *, now: float | None = None) -> str:
    """Docker's CREATED column: "3 minutes ago"."""
    then = _epoch(when)
    if then is None:
        return ""
    return human_duration(_now(now) - then) + " ago"


def _get(obj, key: str, default=None):
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def status_text(state, *, now: float | None = None) -> str:
    """``docker ps`` STATUS for a container state, as moby words it.

    ``state`` has the shape of ``docker inspect``'s ``State`` (a dict or an
    object): Status, Running, Paused, Restarting, Dead, ExitCode, StartedAt,
    FinishedAt, Health.Status.  Gives "Up 3 minutes", "Up 2 hours (Paused)",
    "Up 5 seconds (health: starting)", "Restarting (1) 2 seconds ago",
    "Exited (0) 2 seconds ago", "Created", "Removal In Progress", "Dead".
    """
    status = _get(state, "Status", "") or ""
    now = _now(now)
    started, finished = _epoch(_get(state, "StartedAt")), _epoch(_get(state, "FinishedAt"))
    code = _get(state, "ExitCode", 0) or 0
    running = _get(state, "Running", status in ("running", "paused", "restarting"))
    if running:
        up = human_duration(now - started) if started is not None else "Less than a second"
        if _get(state, "Paused", status == "paused"):
            return f"Up {up} (Paused)"
        if _get(state, "Restarting", status == "restarting"):
            ago = human_duration(now - finished) if finished is not None else "Less than a second"
            return f"Restarting ({code}) {ago} ago"
        health = _get(_get(state, "Health") or {}, "Status")
        if health:
            return f"Up {up} ({'health: starting' if health == 'starting' else health})"
        return f"Up {up}"
    if status == "removing" or _get(state, "RemovalInProgress"):
        return "Removal In Progress"
    if status == "dead" or _get(state, "Dead"):
        return "Dead"
    if started is None:
        return "Created"
    if finished is None:
        return ""
    return f"Exited ({code}) {human_duration(now - finished)} ago"


def truncate_id(ident: str) -> str:
    """The 12-character short id Docker prints, without ``sha256:``."""
    return ident.split(":", 1)[1][:12] if ident.startswith("sha256:") else ident[:12]
