"""Reading TF Serving's text-format protobuf files (`--model_config_file`,
`--monitoring_config_file`, `--batching_parameters_file`) with TF Serving's one error sentence.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from kerattn.errors import UsageError

Message = TypeVar("Message")


def parse_text_proto(
    path: str | os.PathLike,
    message: Message,
    what: str,
    *,
    error_type: type[Exception] = UsageError,
    name_path: bool = True,
) -> Message:
    """`message` filled from the text-format protobuf file at `path`.

    Args:
        path: the file (read as UTF-8).
        message: an empty message of the file's type; it is filled and returned.
        what: the message's full name for the error, e.g. "tensorflow.serving.MonitoringConfig".
        error_type: the exception raised when the file cannot be read or parsed.
        name_path: whether the error names `path` after `what`.

    Raises:
        error_type: `Error parsing text-format <what> [<path>]: <reason>`.
    """
    from google.protobuf import text_format

    try:
        return text_format.Parse(Path(path).read_text(encoding="utf-8"), message)
    except (OSError, UnicodeDecodeError, text_format.ParseError) as error:
        where = f"{what} {path}" if name_path else what
        raise error_type(f"Error parsing text-format {where}: {error}") from error
