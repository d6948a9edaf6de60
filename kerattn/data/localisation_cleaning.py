"""Cleaning software-localisation pairs: what to strip, what to check, and why a pair is dropped.

`clean_pair` applies, in order (each dropped pair is counted under the first reason that fails):

1. context prefixes: Wesnoth/KDE style `context^Text`, KDE4 `_: comment\\n`, GTK `Q_()`
   `Context|Text` (stripped from the English side, and from the target where it was copied);
2. accelerator markers: `_File`, `&File` (`&&` is a literal `&`; entities such as `&kmail;`
   are kept), LibreOffice's `~` (UI catalogues only, not help text);
3. ICU / Fluent plural and select syntax (`{n, plural, one {…} other {# files}}`,
   `{ $n -> [one] … *[other] … }`): replaced by the `other` / default variant;
4. markup: HTML tags such as `<b>`, `<a href>`, `<br/>` removed, character entities decoded,
   whitespace normalised (NFC);
5. drops: `empty`, `no_letters` (nothing to translate: "%s: %s", "..."), `too_long`,
   `untranslated` (target == source), `placeholder_mismatch` (the multiset of `%s`, `%1$s`,
   `%(name)s`, `%1`, `{0}`, `{name}`, `$1`, `$NAME$`, `${var}`, `{ $var }` differs between the
   sides, after `%1$s` -> `%s` so that reordering is allowed), `partly_untranslated` (a long
   target repeating the English words), `length_ratio`, `target_not_<lang>` /
   `source_not_english` (stop-word profile or script of the wrong language).

Deduplication and the split are `corpus_writer`'s. `CleaningReport` counts what each step did.
"""

from __future__ import annotations

import collections
import html
import re
import unicodedata

from kerattn.data.text_cleaning import normalize_whitespace

_WESNOTH_CONTEXT = re.compile(r"^[A-Za-z][\w .-]{0,40}\^(?=\S)")
_KDE4_CONTEXT = re.compile(r"^_:[^\n]*\n")
_GTK_CONTEXT = re.compile(r"^[A-Za-z][\w.-]{0,40}\|(?=\S)")
_MNEMONIC = re.compile(r"(?<![\w%$])_(?=[^\W_])|(?<=[^\W\d_])_(?=[^\W\d_])")
_AMPERSAND = re.compile(r"&&|&(?![A-Za-z][\w.-]*;|#\d+;|#x[0-9a-fA-F]+;)(?=[^\W_])")
_TILDE = re.compile(r"~")
_HTML_TAGS = (
    "a|abbr|b|big|blockquote|body|br|center|cite|code|dd|div|dl|dt|em|font|h[1-6]|head|hr|html|"
    "i|img|kbd|li|link|meta|nobr|ol|p|pre|q|qt|s|samp|small|span|strike|strong|style|sub|sup|"
    "table|tbody|td|th|thead|title|tr|tt|u|ul|var"
)
_TAG = re.compile(rf"</?(?:{_HTML_TAGS})(?:\s[^<>]*)?/?>", re.IGNORECASE)
_BREAK = re.compile(r"<\s*(?:br|p|/p|div|/div|li|hr)\b[^<>]*>", re.IGNORECASE)
_PLACEHOLDER = re.compile(
    r"%%"
    r"|%\([A-Za-z_]\w*\)[-+ #0]*\d*(?:\.\d+)?[diouxXeEfFgGcsr]"
    r"|%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?"
    r"[diouxXeEfFgGcspaA@]"
    r"|%L?\d+"
    r"|\{\s*\$[A-Za-z_][\w-]*\s*\}"
    r"|\$\{[A-Za-z_][\w.]*\}"
    r"|\{\{|\}\}"
    r"|\{\d+\}|\{[A-Za-z_][\w.]*\}"
    r"|\$[A-Z][A-Z0-9_]*\$|\$\d+"
)
_POSITION = re.compile(r"^%\d+\$")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
MAX_CHARACTERS = 2000

STOP_WORDS = {
    "en": set(
        "the and of to is in you for this that with are be not it can on from by or "
        "an as your at was will has have if which all".split()
    ),
    "es": set(
        "el la los las de del que y en un una por para con no se es al su sus lo como "
        "más este esta o puede ya está son".split()
    ),
    "fr": set(
        "le la les de des du et en un une pour avec ne pas est sur au aux que qui vous "
        "dans ce cette par".split()
    ),
    "de": set(
        "der die das und ist nicht ein eine zu mit von den dem des für auf im sie es "
        "wird sich werden kann".split()
    ),
    "it": set("il lo la gli le di del della e è un una per con non che si da nel sono".split()),
    "pt": set("o a os as de do da dos das e em um uma para com não que se é no na ao".split()),
}


class CleaningReport:
    """Counts per step: `dropped[reason]` (pairs removed) and `changed[step]` (pairs edited)."""

    def __init__(self) -> None:
        self.dropped: collections.Counter = collections.Counter()
        self.changed: collections.Counter = collections.Counter()


def strip_context_prefix(source: str, target: str) -> tuple[str, str, bool]:
    """Remove `ctx^`, `_: …\\n` and `ctx|` prefixes of the English side (and of the target when
    the translator copied them)."""
    for pattern in (_KDE4_CONTEXT, _WESNOTH_CONTEXT, _GTK_CONTEXT):
        match = pattern.match(source)
        if match and (pattern is not _GTK_CONTEXT or "|" not in source[match.end() :]):
            prefix = match.group(0)
            new_target = target[len(prefix) :] if target.startswith(prefix) else target
            if pattern is not _KDE4_CONTEXT:
                new_target = (
                    pattern.sub("", new_target, count=1)
                    if new_target.startswith(prefix)
                    else new_target
                )
            return source[match.end() :], new_target, True
    return source, target, False


def strip_accelerator_markers(text: str, tilde: bool = False) -> str:
    """Remove `_` and `&` (and with `tilde`, `~`) keyboard accelerators from a UI string.

    `__` and `&&` stand for literal characters and become one; entities (`&amp;`, `&kmail;`)
    and identifiers with several underscores (`file_name_max`) are left alone.
    """
    if tilde:
        text = _TILDE.sub("", text)
    text = _AMPERSAND.sub(lambda match: "&" if match.group(0) == "&&" else "", text)
    if text.count("_") == 1 or (text.count("_") == 2 and "__" in text):
        text = _MNEMONIC.sub("", text).replace("__", "_")
    return text


def strip_plural_syntax(text: str) -> str:
    """Replace ICU `{x, plural|select|selectordinal, …}` and Fluent `{ $x -> … }` blocks by their
    `other` / default (`*[…]`) variant; `#` in an ICU plural becomes `{x}`."""
    result, position = [], 0
    while True:
        start = text.find("{", position)
        if start < 0:
            result.append(text[position:])
            return "".join(result)
        end = _matching_brace(text, start)
        if end < 0:
            result.append(text[position:])
            return "".join(result)
        replacement = _plural_variant(text[start + 1 : end])
        result.append(text[position:start])
        result.append(text[start : end + 1] if replacement is None else replacement)
        position = end + 1


def _matching_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


_ICU_HEAD = re.compile(r"^\s*([A-Za-z_]\w*)\s*,\s*(plural|select|selectordinal)\s*,", re.DOTALL)
_FLUENT_HEAD = re.compile(r"^\s*\$([A-Za-z_][\w-]*)\s*->", re.DOTALL)


def _plural_variant(inner: str) -> str | None:
    icu = _ICU_HEAD.match(inner)
    if icu:
        variants = _variants(inner[icu.end() :], r"\s*(=?[\w-]+)\s*\{")
        chosen = variants.get("other") or (next(iter(variants.values())) if variants else None)
        if chosen is None:
            return None
        if icu.group(2) != "select":
            chosen = chosen.replace("#", "{" + icu.group(1) + "}")
        return strip_plural_syntax(chosen)
    fluent = _FLUENT_HEAD.match(inner)
    if fluent:
        body = inner[fluent.end() :]
        default = re.search(r"\*\[[^\]]+\]", body)
        if default is None:
            return None
        following = re.search(r"\n\s*\*?\[[^\]]+\]", body[default.end() :])
        chosen = body[default.end() : default.end() + following.start() if following else None]
        return strip_plural_syntax(chosen.strip())
    return None


def _variants(body: str, head: str) -> dict[str, str]:
    variants, position, pattern = {}, 0, re.compile(head)
    while True:
        match = pattern.match(body, position)
        if not match:
            return variants
        start = match.end() - 1
        end = _matching_brace(body, start)
        if end < 0:
            return variants
        variants[match.group(1)] = body[start + 1 : end]
        position = end + 1


def strip_html_markup(text: str) -> str:
    """Remove HTML tags (a known tag list, so `<file>` in a usage line stays), decode
    entities, normalise whitespace."""
    text = _BREAK.sub(" ", text)
    text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    return normalize_whitespace(text)


def placeholders(text: str) -> list[str]:
    """The sorted placeholders of `text`, positions dropped (`%2$s` -> `%s`), `%%` excluded."""
    found = []
    for token in _PLACEHOLDER.findall(text):
        if token in ("%%", "{{", "}}"):
            continue
        token = _POSITION.sub("%", token)
        found.append(re.sub(r"\s+", "", token))
    return sorted(found)


def _words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def _is_partly_untranslated(source: str, target: str) -> bool:
    source_words, target_words = _words(source), _words(target)
    if len(target_words) < 6:
        return False
    vocabulary = {word for word in source_words if len(word) > 3}
    content = [word for word in target_words if len(word) > 3]
    if len(content) >= 4 and sum(word in vocabulary for word in content) / len(content) > 0.6:
        return True
    source_grams = {tuple(source_words[i : i + 6]) for i in range(len(source_words) - 5)}
    return any(tuple(target_words[i : i + 6]) in source_grams for i in range(len(target_words) - 5))


def _latin_share(text: str) -> float:
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return 1.0
    latin = sum("LATIN" in unicodedata.name(char, "") for char in letters)
    return latin / len(letters)


def _language_scores(text: str) -> dict[str, float]:
    words = _words(text)
    if not words:
        return {}
    return {
        language: sum(word in stop for word in words) / len(words)
        for language, stop in STOP_WORDS.items()
    }


def _wrong_language(text: str, expected: str) -> bool:
    """Whether a text of 6 words or more reads as another language than `expected`."""
    base = expected.split("-")[0].split("_")[0].lower()
    if base not in STOP_WORDS or len(_words(text)) < 6:
        return False
    if base in ("en", "es", "fr", "de", "it", "pt") and _latin_share(text) < 0.7:
        return True
    scores = _language_scores(text)
    best = max(scores, key=lambda language: scores[language])
    return best != base and scores[best] >= 0.15 and scores[best] > 2 * scores[base]


def length_ratio_ok(source: str, target: str) -> bool:
    """Target/source character ratio within [1/3, 3] (short strings: [1/5, 5])."""
    shorter, longer = sorted((len(source), len(target)))
    limit = 3.0 if longer >= 30 else 5.0
    return longer <= max(shorter, 1) * limit or longer < 12


def clean_pair(
    source: str,
    target: str,
    report: CleaningReport,
    *,
    lang: str,
    ui: bool = True,
    tilde: bool = False,
) -> tuple[str, str] | None:
    """Clean one (English, translation) pair, or return None and count why it was dropped.

    Args:
        source: the English text (msgid, English paragraph).
        target: the translation.
        report: counts of edits and drops, updated in place.
        lang: the target language code (for the language check).
        ui: the pair is a UI string (accelerators are stripped; help text keeps `_` and `&`).
        tilde: `~` marks accelerators (LibreOffice catalogues).
    """

    def drop(reason: str) -> None:
        report.dropped[reason] += 1

    source, target, changed = strip_context_prefix(source, target)
    if changed:
        report.changed["context_prefix"] += 1
    if ui:
        new_source = strip_accelerator_markers(source, tilde)
        new_target = strip_accelerator_markers(target, tilde)
        if (new_source, new_target) != (source, target):
            report.changed["accelerators"] += 1
        source, target = new_source, new_target
    if "{" in source or "{" in target:
        new_source, new_target = strip_plural_syntax(source), strip_plural_syntax(target)
        if (new_source, new_target) != (source, target):
            report.changed["plural_syntax"] += 1
        source, target = new_source, new_target
    new_source, new_target = strip_html_markup(source), strip_html_markup(target)
    if (new_source, new_target) != (normalize_whitespace(source), normalize_whitespace(target)):
        report.changed["markup"] += 1
    source, target = new_source, new_target
    if not source or not target:
        drop("empty")
    elif not _LETTER.search(source):
        drop("no_letters")
    elif len(source) > MAX_CHARACTERS or len(target) > MAX_CHARACTERS:
        drop("too_long")
    elif source == target:
        drop("untranslated")
    elif placeholders(source) != placeholders(target):
        drop("placeholder_mismatch")
    elif _is_partly_untranslated(source, target):
        drop("partly_untranslated")
    elif not length_ratio_ok(source, target):
        drop("length_ratio")
    elif _wrong_language(source, "en"):
        drop("source_not_english")
    elif _wrong_language(target, lang):
        drop(f"target_not_{lang.split('-')[0].split('_')[0].lower()}")
    else:
        return source, target
    return None
