"""A notebook's JSON text, read with the positions of its cells' `source` values and
written back in place: only those values change, in the file's own indentation, escapes
and line endings, so everything else stays byte for byte."""

from __future__ import annotations

import json
import re

_WHITESPACE = re.compile(r"[ \t\n\r]*")


def parse_with_spans(raw: str) -> tuple[object, dict[int, tuple[int, int]]]:
    """json.loads(raw), and the (start, end) of the `source` value of each cell (by number)
    in `raw`, found by walking the top object and the cells list by hand; every value is
    decoded by the json module itself."""
    decoder = json.JSONDecoder()
    document = decoder.decode(raw)  # the errors, with their positions, are json's own
    spans: dict[int, tuple[int, int]] = {}
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        return document, spans
    for key, start, end in _members(raw, _skip(raw, 0), decoder):
        if key == "cells":
            number = 0
            i = _skip(raw, start + 1)  # after "["
            while raw[i] != "]":
                number += 1
                _, after = decoder.raw_decode(raw, i)
                if raw[i] == "{":
                    for cell_key, s, e in _members(raw, i, decoder):
                        if cell_key == "source":
                            spans[number] = (s, e)
                i = _skip(raw, after)
                if raw[i] == ",":
                    i = _skip(raw, i + 1)
    return document, spans


def _members(raw: str, i: int, decoder: json.JSONDecoder):
    """(key, value start, value end) of each member of the object that starts at `i`
    (the last one of a repeated key, as json.loads keeps)."""
    from json.decoder import scanstring

    found = {}
    i = _skip(raw, i + 1)
    while raw[i] != "}":
        key, i = scanstring(raw, i + 1)
        i = _skip(raw, _skip(raw, i) + 1)  # past ":"
        _, end = decoder.raw_decode(raw, i)
        found[key] = (i, end)
        i = _skip(raw, end)
        if raw[i] == ",":
            i = _skip(raw, i + 1)
    return [(key, s, e) for key, (s, e) in found.items()]


def string_elements(raw: str, start: int, end: int) -> list[tuple[int, str]]:
    """(offset of the opening quote, decoded text) of each string of the JSON value at
    raw[start:end]: a string, or a list of strings."""
    from json.decoder import scanstring

    out = []
    i = start + 1 if raw[start] == "[" else start
    while i < end:
        i = _skip(raw, i)
        if raw[i] != '"':
            i += 1  # a comma or the closing bracket
            continue
        text, after = scanstring(raw, i + 1)
        out.append((i, text))
        i = after
    return out


def _skip(raw: str, i: int) -> int:
    return _WHITESPACE.match(raw, i).end()


def format_source(source: str, raw: str, start: int, end: int, as_string: bool) -> str:
    """`source` as a JSON value written the way the file wrote the one at raw[start:end]:
    a list of lines (nbformat's form) or a string, with the file's indentation and escapes."""
    ensure_ascii = escapes_non_ascii(raw)
    if as_string:
        return json.dumps(source, ensure_ascii=ensure_ascii)
    lines = source.splitlines(keepends=True)
    if "\n" not in raw.strip() or not lines:  # a one-line file, or an empty list
        compact = not re.search(r'":\s', raw[:500])
        return json.dumps(lines, ensure_ascii=ensure_ascii, separators=(",", ":") if compact else (", ", ": "))
    line_start = raw.rfind("\n", 0, start) + 1
    base = raw[line_start:start]
    base = base[: len(base) - len(base.lstrip())]  # the indentation of the `"source":` line
    unit = _indent_unit(raw)
    body = json.dumps(lines, ensure_ascii=ensure_ascii, indent=unit)
    newline = "\r\n" if "\r\n" in raw else "\n"  # a notebook saved on Windows
    return body.replace("\n", newline + base)


def _indent_unit(raw: str) -> str:
    match = re.search(r"\n([ \t]+)\S", raw)
    return match.group(1) if match else " "


def escapes_non_ascii(raw: str) -> bool:
    """Whether the file writes non-ASCII characters as \\u escapes (json.dumps' default)."""
    if not raw.isascii():
        return False
    return bool(re.search(r"\\u(?:00[89a-fA-F]|0[1-9a-fA-F]|[1-9a-fA-F])", raw))
