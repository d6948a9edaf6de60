"""What the attention summaries look like in an event file: shared by the writer
(`kerattn.visualization.log_attention`) and the plugin that reads them.

One probe at one step is three tensor summaries under the probe's name:

- `<name>/weights`: float32 (T, S) for an alignment (row t = output token t's attention over
  the S source tokens) or (S,) for a classifier's token weights;
- `<name>/source_tokens`: string (S,);
- `<name>/target_tokens`: string (T,) (a classifier: its predicted label, or nothing).

Each carries `SummaryMetadata.plugin_data` with plugin name `attention` and as content a JSON
object: {"version": CONTENT_VERSION, "role": "weights" | "source_tokens" | "target_tokens",
"kind": "alignment" | "token_weights", "text": the probe's input text}.
"""

from __future__ import annotations

import json

PLUGIN_NAME = "attention"
CONTENT_VERSION = 1
ROLES = ("weights", "source_tokens", "target_tokens")
KINDS = ("alignment", "token_weights")


def tag(name: str, role: str) -> str:
    """The tag of one of a probe's three summaries."""
    return f"{name}/{role}"


def split_tag(tag_name: str) -> tuple[str, str] | None:
    """(probe name, role) of a tag written by `log_attention`, None for any other tag."""
    name, _, role = tag_name.rpartition("/")
    return (name, role) if name and role in ROLES else None


def summary_metadata(role: str, kind: str, text: str, description: str):
    """The `SummaryMetadata` proto of one summary (TensorBoard's own proto classes)."""
    from tensorboard.compat.proto import summary_pb2

    content = {"version": CONTENT_VERSION, "role": role, "kind": kind, "text": text}
    return summary_pb2.SummaryMetadata(
        summary_description=description,
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(content).encode("utf-8")
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,  # without it TensorBoard's readers drop it
    )


def parse_content(content: bytes) -> dict:
    """The JSON content of a summary's plugin data; raises ValueError when it is not ours or is
    of a newer content version than this plugin reads."""
    try:
        parsed = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"attention summary content is not JSON: {error}.") from None
    if not isinstance(parsed, dict) or parsed.get("role") not in ROLES:
        raise ValueError(f"attention summary content has no known role: {parsed!r}.")
    if int(parsed.get("version", 0)) > CONTENT_VERSION:
        raise ValueError(
            f"attention summary content version {parsed['version']} is newer than this plugin "
            f"reads ({CONTENT_VERSION}); upgrade kerattn."
        )
    return parsed
