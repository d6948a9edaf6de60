"""One reader per localisation file format, each giving (key, text) or (context, source, target).

- gettext `.mo`: `kerattn.data.mo_catalog.read_mo` (polib);
- Qt `.qm`: `read_qm` (the binary format of `lrelease`; no maintained Python library reads it);
- Mozilla `.ftl` (Fluent) and `.properties`: `read_ftl`, `read_properties`, keyed by message id;
- Chromium `.pak` (format 4 and 5): `read_pak`, keyed by resource id;
- JSON message catalogues (flat, nested, or WebExtension `{"key": {"message": ...}}`):
  `read_json_messages`, keyed by the dotted path;
- help documents (Mallard `.page`, DocBook, HTML): `kerattn.data.help_pages.read_blocks`.

Paired formats (everything but `.mo`/`.qm`) are aligned by `pair_by_key`.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable

from kerattn.data.corpus_error import CorpusError
from kerattn.data.mo_catalog import CatalogEntry

QM_MAGIC = bytes.fromhex("3CB86418CAEF9C95CD211CBF60A1BDDD")
_QM_MESSAGES = 0x69
_QM_END, _QM_TRANSLATION, _QM_OBSOLETE1 = 1, 3, 5
_QM_SOURCE, _QM_CONTEXT, _QM_COMMENT = 6, 7, 8


def read_qm(data: bytes, name: str = "catalogue") -> list[CatalogEntry]:
    """Read the messages of a Qt `.qm` catalogue: (context, source text, first translation).

    Messages without a source text (catalogues built with `lrelease -removeidentical` or ids
    only) or without a translation are skipped; a plural message keeps its first form.

    Raises:
        CorpusError: if `data` is not a `.qm` file.
    """
    if not data.startswith(QM_MAGIC):
        raise CorpusError(
            f"{name} does not start with the Qt .qm magic number; pass a catalogue "
            "compiled by lrelease."
        )
    offset, messages = len(QM_MAGIC), b""
    while offset + 5 <= len(data):
        tag = data[offset]
        (length,) = struct.unpack(">I", data[offset + 1 : offset + 5])
        if tag == _QM_MESSAGES:
            messages = data[offset + 5 : offset + 5 + length]
        offset += 5 + length
    entries, position = [], 0
    try:
        while position < len(messages):
            context = source = ""
            translations: list[str] = []
            while True:
                tag = messages[position]
                position += 1
                if tag == _QM_END:
                    break
                if tag == _QM_OBSOLETE1:
                    position += 4
                    continue
                if tag not in (_QM_TRANSLATION, _QM_SOURCE, _QM_CONTEXT, _QM_COMMENT):
                    raise CorpusError(
                        f"{name} has an unknown .qm message tag {tag}; pass a "
                        "catalogue compiled by Qt 4, 5 or 6 lrelease."
                    )
                (length,) = struct.unpack(">I", messages[position : position + 4])
                position += 4
                if length == 0xFFFFFFFF:
                    continue
                field = messages[position : position + length]
                position += length
                if tag == _QM_TRANSLATION:
                    translations.append(field.decode("utf-16-be", "replace"))
                elif tag == _QM_SOURCE:
                    source = _decode_utf8_or_latin1(field)
                elif tag == _QM_CONTEXT:
                    context = _decode_utf8_or_latin1(field)
            if source and translations and translations[0]:
                entries.append(CatalogEntry(context, source, translations[0]))
    except (IndexError, struct.error):
        raise CorpusError(f"{name} is a truncated .qm catalogue; pass a complete file.") from None
    return entries


def write_qm(entries: Iterable[CatalogEntry]) -> bytes:
    """Write a minimal `.qm` catalogue (messages section only), as `lrelease` lays it out.

    Used by the test fixtures; Qt's own reader needs the hash section too, `read_qm` does not.
    """
    body = b""
    for entry in entries:
        translation = entry.msgstr.encode("utf-16-be")
        body += bytes([_QM_TRANSLATION]) + struct.pack(">I", len(translation)) + translation
        for tag, text in ((_QM_SOURCE, entry.msgid), (_QM_CONTEXT, entry.context)):
            encoded = text.encode("utf-8")
            body += bytes([tag]) + struct.pack(">I", len(encoded)) + encoded
        body += bytes([_QM_END])
    return QM_MAGIC + bytes([_QM_MESSAGES]) + struct.pack(">I", len(body)) + body


def _decode_utf8_or_latin1(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


_PROPERTIES_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)


def read_properties(text: str) -> dict[str, str]:
    """Read a Java/Mozilla `.properties` file: key -> value (escapes and continuations decoded)."""
    result: dict[str, str] = {}
    logical: list[str] = []
    for raw in text.splitlines():
        line = raw.lstrip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            logical.append(line[:-1])
            continue
        logical.append(line)
        entry, logical = "".join(logical), []
        match = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:\s]\s*(.*)$", entry, re.DOTALL)
        if match:
            result[_unescape_properties(match[1])] = _unescape_properties(match[2])
    return result


def _unescape_properties(text: str) -> str:
    def replace(match: re.Match) -> str:
        code = match[1]
        if code.startswith("u") and len(code) == 5:
            return chr(int(code[1:], 16))
        return {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}.get(code, code)

    return _PROPERTIES_ESCAPE.sub(replace, text)


_FTL_ENTRY = re.compile(r"^(-?[A-Za-z][\w-]*)\s*=\s?(.*)$")
_FTL_ATTRIBUTE = re.compile(r"^\s+\.([A-Za-z][\w-]*)\s*=\s?(.*)$")


def read_ftl(text: str) -> dict[str, str]:
    """Read a Fluent `.ftl` file: message id (or `id.attribute`) -> pattern text.

    Multiline patterns are joined with spaces; placeables (`{ $name }`, `{ -brand-name }`) are
    kept as written, and select expressions are reduced by `strip_icu_plurals` later.
    """
    result: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            current = None if not line.strip() else current
            continue
        entry, attribute = _FTL_ENTRY.match(line), _FTL_ATTRIBUTE.match(line)
        if entry:
            message = entry[1]
            current = message
            result[current] = entry[2].strip()
        elif attribute and current is not None:
            message = current.split(".", 1)[0]
            current = f"{message}.{attribute[1]}"
            result[current] = attribute[2].strip()
        elif current is not None and line[:1].isspace():
            result[current] = (result[current] + " " + line.strip()).strip()
    return {key: value for key, value in result.items() if value}


def read_pak(data: bytes, name: str = "pak") -> dict[int, str]:
    """Read a Chromium `.pak` resource file (format 4 or 5): resource id -> UTF-8 text.

    Resources that are not UTF-8 text (binary data) are skipped; aliases resolve to their
    target's text.

    Raises:
        CorpusError: if `data` is not a `.pak` file of a known version.
    """
    if len(data) < 12:
        raise CorpusError(f"{name} is too short to be a Chromium .pak file.")
    (version,) = struct.unpack("<I", data[:4])
    if version == 4:
        count, _encoding = struct.unpack("<IB", data[4:9])
        header, aliases = 9, 0
    elif version == 5:
        _encoding, count, aliases = struct.unpack("<B3xHH", data[4:12])
        header = 12
    else:
        raise CorpusError(f"{name} is a .pak file of version {version}; versions 4 and 5 are read.")
    table = [
        struct.unpack("<HI", data[header + 6 * i : header + 6 * i + 6]) for i in range(count + 1)
    ]
    texts: dict[int, str] = {}
    for (resource, start), (_next_id, end) in zip(table, table[1:]):
        try:
            texts[resource] = data[start:end].decode("utf-8")
        except UnicodeDecodeError:
            continue
    alias_at = header + 6 * (count + 1)
    for i in range(aliases):
        resource, index = struct.unpack("<HH", data[alias_at + 4 * i : alias_at + 4 * i + 4])
        if table[index][0] in texts:
            texts[resource] = texts[table[index][0]]
    return texts


def read_json_messages(data: bytes | str, name: str = "catalogue") -> dict[str, str]:
    """Read a JSON message catalogue: dotted key path -> message text.

    Nested objects are flattened (`{"menu": {"file": "File"}}` -> `menu.file`); WebExtension
    and Chrome catalogues (`{"key": {"message": "...", "description": "..."}}`) give the message.

    Raises:
        CorpusError: if the data is not JSON.
    """
    try:
        tree = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorpusError(f"{name} is not a JSON message catalogue ({error}).") from None
    result: dict[str, str] = {}

    def walk(node, path: str) -> None:
        if isinstance(node, str):
            result[path] = node
        elif isinstance(node, dict):
            if isinstance(node.get("message"), str):
                result[path] = node["message"]
                return
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}.{index}")

    walk(tree, "")
    return result


def pair_by_key(source: dict, target: dict) -> tuple[list[tuple[object, str, str]], int]:
    """Pair two key -> text maps: (key, source text, target text) in source order, and the count
    of source keys without a target."""
    pairs, unpaired = [], 0
    for key, text in source.items():
        if key in target:
            pairs.append((key, text, target[key]))
        else:
            unpaired += 1
    return pairs, unpaired
