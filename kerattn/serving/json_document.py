"""An iterative JSON parser with rapidjson's behaviour and error texts, and rapidjson-like dumps.

TF Serving parses request bodies with rapidjson (iterative parsing, NaN/Inf tokens allowed, stop
when done; docs/serving.md §3.4 step 2). Python's `json.loads` differs on four points (§9): it
recurses (RecursionError near 1000 levels), rejects bytes after the document, rejects `Inf`/`-Inf`,
and reports other error texts. So this module has its own small parser: one explicit stack, no
recursion, so any nesting depth parses (memory is the only limit), the first complete value is
returned and the rest ignored, and errors read `<rapidjson message> at offset: <n>`.

Parsed values: dict (object, insertion-ordered; a repeated key keeps its first value, as
rapidjson's FindMember), list, str (UTF-8 decoded with surrogateescape so invalid bytes round trip),
int (integer literals fitting int64/uint64), float (other numbers, NaN, ±Infinity), bool, None.

`dump(value)` renders a value the way TF Serving's error messages do (rapidjson PrettyWriter,
4-space indentation, arrays on one line, NaN/Inf written as nothing and ending the dump), cut near
256 bytes. It is iterative as well.
"""

from __future__ import annotations

import json
import math
import re

from kerattn.serving.serving_error import invalid_argument

WHITESPACE = b" \t\n\r"
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_SPECIAL_NUMBER = re.compile(rb"-?(?:NaN|Infinity|Inf)")
_PLAIN_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_ESCAPES = {
    ord('"'): '"',
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}
_HEX = re.compile(rb"[0-9a-fA-F]{4}")
DUMP_LIMIT = 256


class JsonParseError(ValueError):
    """A body rapidjson would reject: `message` is rapidjson's text, `offset` its byte offset."""

    def __init__(self, message: str, offset: int):
        super().__init__(f"{message} at offset: {offset}")
        self.message = message
        self.offset = offset


def parse_request_body(body: bytes):
    """The first JSON value of a request body, or `ServingError` (INVALID_ARGUMENT) with TF
    Serving's texts: `JSON Parse error: The document is empty` for a zero-length body, else
    `JSON Parse error: <rapidjson text> at offset: <n>`."""
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    document = _parse_well_formed(body)
    if document is not _NOT_PARSED:
        return document
    try:
        return parse(body)
    except JsonParseError as error:
        raise invalid_argument(f"JSON Parse error: {error}") from None


_NOT_PARSED = object()
# `\uD800`–`\uDFFF`: json.loads accepts lone surrogates, rapidjson does not.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# Bodies with more containers than this go to `parse` (json.loads recurses once per level).
_FAST_PARSE_CONTAINERS = 200
_INT64_MIN, _UINT64_END = -(2**63), 2**64


def _first_member_wins(pairs: list) -> dict:
    """An object whose repeated key keeps its first value, as `parse` (rapidjson's FindMember)."""
    members: dict = {}
    for key, value in pairs:
        members.setdefault(key, value)
    return members


def _integer_literal(token: str):
    """An integer literal as `parse` reads it: int if it fits int64/uint64, else a double."""
    if len(token) <= 21:
        value = int(token)
        if _INT64_MIN <= value < _UINT64_END:
            return value
    return _finite_float(token)


def _finite_float(token: str) -> float:
    value = float(token)
    if math.isinf(value):  # `parse` words this error; json.loads would return inf
        raise ValueError("Number too big to be stored in double.")
    return value


def _parse_well_formed(body: bytes):
    """What `parse(body)` returns, by the C `json` module, for a body it parses the same way:
    valid UTF-8, one complete document and nothing after it, at most `_FAST_PARSE_CONTAINERS`
    containers, no `\\u` escape of a surrogate, no number that overflows a double. Anything else
    (every malformed body included) gives `_NOT_PARSED`, and `parse` reads it and words its
    errors."""
    if (
        body.count(b"[") + body.count(b"{") > _FAST_PARSE_CONTAINERS
        or _SURROGATE_ESCAPE.search(body) is not None
    ):
        return _NOT_PARSED
    try:
        text = body.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_first_member_wins,
            parse_int=_integer_literal,
            parse_float=_finite_float,
        )
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError included
        return _NOT_PARSED


def _skip(text: bytes, position: int) -> int:
    length = len(text)
    while position < length and text[position] in WHITESPACE:
        position += 1
    return position


def parse(text: bytes):
    """Parses the first JSON value in `text` (bytes after it are ignored). Raises JsonParseError."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogateescape")
    position = _skip(text, 0)
    if position >= len(text):
        raise JsonParseError("The document is empty.", position)
    # Each stack entry: [container, pending key (objects only)].
    stack: list[list] = []
    length = len(text)
    while True:
        # ---- parse one value starting at `position` (containers push and continue) ----
        char = text[position] if position < length else None
        if char == ord("{"):
            position = _skip(text, position + 1)
            if position < length and text[position] == ord("}"):
                value, position = {}, position + 1
            else:
                container: dict = {}
                key, position = _object_key(text, position)
                stack.append([container, key])
                continue
        elif char == ord("["):
            position = _skip(text, position + 1)
            if position < length and text[position] == ord("]"):
                value, position = [], position + 1
            else:
                stack.append([[], None])
                continue
        elif char == ord('"'):
            value, position = _string(text, position)
        else:
            value, position = _scalar(text, position)
        # ---- attach the finished value to the enclosing containers ----
        while True:
            if not stack:
                return value
            container, key = stack[-1]
            position = _skip(text, position)
            char = text[position] if position < length else None
            if isinstance(container, list):
                container.append(value)
                if char == ord(","):
                    position = _skip(text, position + 1)
                    break
                if char == ord("]"):
                    stack.pop()
                    value, position = container, position + 1
                    continue
                raise JsonParseError("Missing a comma or ']' after an array element.", position)
            container.setdefault(key, value)
            if char == ord(","):
                position = _skip(text, position + 1)
                stack[-1][1], position = _object_key(text, position)
                break
            if char == ord("}"):
                stack.pop()
                value, position = container, position + 1
                continue
            raise JsonParseError("Missing a comma or '}' after an object member.", position)


def _object_key(text: bytes, position: int) -> tuple[str, int]:
    if position >= len(text) or text[position] != ord('"'):
        raise JsonParseError("Missing a name for object member.", position)
    key, position = _string(text, position)
    position = _skip(text, position)
    if position >= len(text) or text[position] != ord(":"):
        raise JsonParseError("Missing a colon after a name of object member.", position)
    return key, _skip(text, position + 1)


def _string(text: bytes, position: int) -> tuple[str, int]:
    """Parses the string whose opening quote is at `position`."""
    start = position
    position += 1
    parts: list[str] = []
    length = len(text)
    while True:
        run = _PLAIN_STRING_RUN.match(text, position)
        if run.end() > position:
            parts.append(run.group().decode("utf-8", "surrogateescape"))
            position = run.end()
        if position >= length:
            raise JsonParseError("Missing a closing quotation mark in string.", start)
        char = text[position]
        if char == ord('"'):
            return "".join(parts), position + 1
        if char == ord("\\"):
            escape = text[position + 1] if position + 1 < length else None
            if escape in _ESCAPES:
                parts.append(_ESCAPES[escape])
                position += 2
                continue
            if escape == ord("u"):
                code, position = _unicode_escape(text, position)
                parts.append(chr(code))
                continue
            raise JsonParseError("Invalid escape character in string.", position)
        if char == 0:
            raise JsonParseError("Missing a closing quotation mark in string.", start)
        raise JsonParseError("Invalid encoding in string.", position)


def _unicode_escape(text: bytes, position: int) -> tuple[int, int]:
    """Decodes `\\uXXXX` (and a following low surrogate) at `position`."""
    digits = _HEX.match(text, position + 2)
    if digits is None:
        raise JsonParseError("Incorrect hex digit after \\u escape in string.", position + 2)
    code = int(digits.group(), 16)
    position += 6
    if 0xD800 <= code <= 0xDBFF:
        if text[position : position + 2] != b"\\u":
            raise JsonParseError("The surrogate pair in string is invalid.", position)
        low = _HEX.match(text, position + 2)
        if low is None:
            raise JsonParseError("Incorrect hex digit after \\u escape in string.", position + 2)
        low_code = int(low.group(), 16)
        if not 0xDC00 <= low_code <= 0xDFFF:
            raise JsonParseError("The surrogate pair in string is invalid.", position)
        code = 0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)
        position += 6
    return code, position


def _scalar(text: bytes, position: int):
    for literal, value in ((b"true", True), (b"false", False), (b"null", None)):
        if text.startswith(literal, position):
            return value, position + len(literal)
    special = _SPECIAL_NUMBER.match(text, position)
    if special:
        token = special.group()
        magnitude = math.nan if b"NaN" in token else math.inf
        return (-magnitude if token.startswith(b"-") else magnitude), special.end()
    number = _NUMBER.match(text, position)
    if number is None:
        raise JsonParseError("Invalid value.", position)
    end = number.end()
    if end < len(text) and text[end] == ord("."):
        raise JsonParseError("Miss fraction part in number.", end + 1)
    if end < len(text) and text[end] in b"eE":
        raise JsonParseError("Miss exponent in number.", end + 1)
    token = number.group()
    # An integer literal longer than 20 digits fits no int64/uint64 (and Python's int() refuses
    # more than 4300 digits): like rapidjson, it is read as a double.
    if number.group(1) is None and number.group(2) is None and len(token) <= 21:
        value = int(token)
        if -(2**63) <= value < 2**64:
            return value, end
    value = float(token)
    if math.isinf(value):
        raise JsonParseError("Number too big to be stored in double.", position)
    return value, end


# ---- dumps ----------------------------------------------------------------------------------


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def json_string(text: str) -> str:
    """A JSON string literal with raw (unescaped) non-ASCII characters."""
    if _NEEDS_ESCAPE.search(text) is None:  # most strings: nothing to escape
        return '"' + text + '"'
    escaped = []
    for char in text:
        if char == '"':
            escaped.append('\\"')
        elif char == "\\":
            escaped.append("\\\\")
        elif ord(char) < 0x20:
            escaped.append(
                {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}.get(
                    char, f"\\u{ord(char):04X}"
                )
            )
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _number_text(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return None  # rapidjson's writer refuses them, ending the dump
    text = repr(value)
    return text if ("." in text or "e" in text) else text + ".0"


def dump(value, limit: int = DUMP_LIMIT) -> str:
    """rapidjson-PrettyWriter-like text of `value` for error messages, cut near `limit` chars."""
    pieces: list[str] = []
    size = 0
    # Work items: ("value", v, indent) or ("text", s).
    work: list[tuple] = [("value", value, 0)]
    while work and size < limit:
        item = work.pop()
        if item[0] == "text":
            piece = item[1]
        else:
            _, current, indent = item
            if isinstance(current, dict):
                if not current:
                    piece = "{}"
                else:
                    piece = "{"
                    members = list(current.items())
                    tail = [("text", "\n" + " " * indent + "}")]
                    for index in range(len(members) - 1, -1, -1):
                        key, member = members[index]
                        prefix = ("," if index else "") + "\n" + " " * (indent + 4)
                        tail.append(("value", member, indent + 4))
                        tail.append(("text", prefix + json_string(key) + ": "))
                    work.extend(tail)
            elif isinstance(current, list):
                if not current:
                    piece = "[]"
                else:
                    piece = "["
                    tail = [("text", "]")]
                    for index in range(len(current) - 1, -1, -1):
                        tail.append(("value", current[index], indent))
                        if index:
                            tail.append(("text", ", "))
                    work.extend(tail)
            elif isinstance(current, str):
                piece = json_string(current)
            elif current is None:
                piece = "null"
            else:
                piece = _number_text(current)
                if piece is None:
                    break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)[: limit + 64] if size > limit else "".join(pieces)


def type_name(value) -> str:
    """rapidjson's type name of a parsed value (as in TF Serving's type errors)."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"
