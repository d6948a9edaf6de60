"""Which op types a SavedModel needs, and which of them stock TF Serving cannot run.

TF Serving can run an op if it is a core TensorFlow op or one of the tf-text ops it links
(`ops_lib` of tf-text **2.20.0**, the version pinned by current TF Serving; docs/stack.md §3).
Anything else - an op from another custom-op library, or a tf-text op newer than 2.20 - fails at
load time with "Op type not registered". Some core ops are refused on purpose:
`PyFunc`/`PyFuncStateless`/`EagerPyFunc` call back into a Python interpreter that the server
does not have, and `CudnnRNN*` (what Keras LSTM/GRU export when traced on a GPU) has no CPU kernel.

"Core op" means an op registered by importing `tensorflow` alone. That set is read in a
fresh interpreter (once per process, about 3 s), because in the calling process
`import tensorflow_text` or any `tf.load_op_library` has already added custom ops to the same
registry and they could not be told apart. The audit reads `saved_model.pb` with the protobuf
classes TensorFlow ships and never loads the model, so it also works on models whose ops are not
registered here.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Iterable

from kerattn import compat

# Op types of tf-text 2.20.0's `ops_lib`, by library (`tensorflow_text/BUILD` at tag v2.20.0;
# REGISTER_OP names in `tensorflow_text/core/ops` and the `*_kernel_template.h` files).
TF_TEXT_2_20_OPS_BY_LIBRARY: dict[str, tuple[str, ...]] = {
    "boise_offset_converter": ("TFText>BoiseTagsToOffsets", "TFText>OffsetsToBoiseTags"),
    "byte_splitter": ("TFText>ByteSplitByOffsets", "TFText>ByteSplitWithOffsets"),
    "constrained_sequence": ("ConstrainedSequence",),
    "fast_bert_normalizer": ("FastBertNormalize",),
    "fast_sentencepiece_tokenizer": (
        "TFText>FastSentencepieceDetokenize",
        "TFText>FastSentencepieceTokenize",
    ),
    "fast_wordpiece_tokenizer": (
        "FastWordpieceTokenizeWithOffsets",
        "TFText>FastWordpieceDetokenize",
    ),
    "mst": ("MaxSpanningTree",),
    "ngrams": ("TFText>NgramsStringJoin",),
    "normalize": (
        "CaseFoldUTF8",
        "FindSourceOffsets",
        "NormalizeUTF8",
        "NormalizeUTF8WithOffsetsMap",
    ),
    "phrase_tokenizer": ("PhraseTokenize", "TFText>PhraseDetokenize"),
    "regex_split": ("RegexSplitWithOffsets",),
    "sentence_breaking": ("SentenceFragments",),
    "sentencepiece_tokenizer": (
        "SentencepieceDetokenizeOp",
        "SentencepieceIdToStringOp",
        "SentencepieceOp",
        "SentencepieceStringToIdOp",
        "SentencepieceTokenizeOp",
        "SentencepieceTokenizeWithOffsetsOp",
        "SentencepieceVocabSizeOp",
    ),
    "split_merge_from_logits_tokenizer": ("TokenizerFromLogits",),
    "split_merge_tokenizer": ("SplitMergeTokenizeWithOffsets",),
    "state_based_sentence_breaker": ("SentenceFragmentsV2",),
    "text_similarity_metric": ("RougeL",),
    "trimmer": ("TFText>RoundRobinGenerateMasks", "TFText>RoundRobinTrim"),
    "unicode_script_tokenizer": ("UnicodeScriptTokenizeWithOffsets",),
    "utf8_binarize": ("TFText>Utf8Binarize",),
    "whitespace_tokenizer": ("WhitespaceTokenizeWithOffsets",),
    "whitespace_tokenizer_v2": ("TFText>WhitespaceTokenizeWithOffsetsV2",),
    "wordpiece_tokenizer": ("WordpieceTokenizeWithOffsets",),
}
TF_TEXT_2_20_OPS = frozenset(op for ops in TF_TEXT_2_20_OPS_BY_LIBRARY.values() for op in ops)

ALWAYS_DISALLOWED_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
ALWAYS_DISALLOWED_PREFIXES = ("CudnnRNN",)

# Loads kerattn/compat.py (given as argv[1]) as a lone file: `import kerattn.compat` would run
# the package root, which imports tf-text and registers its ops.
_LIST_CORE_OPS = """
import importlib.util
import sys
import tensorflow  # registers the core ops and nothing else
spec = importlib.util.spec_from_file_location("kerattn_compat", sys.argv[1])
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
sys.stdout.write("\\n".join(compat.registered_op_names()))
"""


def saved_model_op_types(saved_model_dir: str | os.PathLike) -> set[str]:
    """Returns every op type used by a SavedModel.

    Covers all MetaGraphs, their top-level graph and every function in their function library
    (nested `tf.function`s, `while`/`cond` bodies, the restore/init functions). Calls to library
    functions, which appear as nodes whose op is the function's name, are not op types and are
    left out.

    Args:
        saved_model_dir: directory holding `saved_model.pb` (or `saved_model.pbtxt`).

    Returns:
        Set of op type names, e.g. {"Const", "NormalizeUTF8", "StatefulPartitionedCall", ...}.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    binary_path = os.path.join(saved_model_dir, "saved_model.pb")
    text_path = os.path.join(saved_model_dir, "saved_model.pbtxt")
    if os.path.exists(binary_path):
        with open(binary_path, "rb") as file:
            saved_model.ParseFromString(file.read())
    elif os.path.exists(text_path):
        from google.protobuf import text_format

        with open(text_path, encoding="utf-8") as file:
            text_format.Parse(file.read(), saved_model)
    else:
        raise FileNotFoundError(
            f"{saved_model_dir!s} is not a SavedModel directory: it has neither saved_model.pb "
            "nor saved_model.pbtxt."
        )

    op_types: set[str] = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        function_names = {function.signature.name for function in graph.library.function}
        op_types.update(node.op for node in graph.node)
        for function in graph.library.function:
            op_types.update(node.op for node in function.node_def)
        op_types -= function_names
    return op_types


@functools.lru_cache(maxsize=1)
def core_tensorflow_op_types() -> frozenset[str]:
    """Returns the op types registered by `import tensorflow` alone, in this TensorFlow.

    Read in a fresh Python interpreter (same executable) because this process may already have
    custom ops registered. Cached for the life of the process.
    """
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", _LIST_CORE_OPS, compat.__file__],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            "listing TensorFlow's core ops in a fresh interpreter failed "
            f"(exit code {result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    return frozenset(result.stdout.split())


def is_always_disallowed(op_type: str) -> bool:
    """True for ops never acceptable in a served graph, whatever the allow-list says."""
    return op_type in ALWAYS_DISALLOWED_OPS or op_type.startswith(ALWAYS_DISALLOWED_PREFIXES)


def disallowed_ops(
    saved_model_dir: str | os.PathLike, allowed_ops: Iterable[str] | None = None
) -> list[str]:
    """Lists the op types of a SavedModel that stock TF Serving (with tf-text 2.20) cannot run.

    Args:
        saved_model_dir: SavedModel directory.
        allowed_ops: the allow-list; default: core TensorFlow ops of this TensorFlow plus
            `TF_TEXT_2_20_OPS`. `PyFunc`, `PyFuncStateless`, `EagerPyFunc` and `CudnnRNN*` are
            refused even if listed.

    Returns:
        Sorted op type names; empty when the SavedModel is servable.
    """
    if allowed_ops is None:
        allowed = core_tensorflow_op_types() | TF_TEXT_2_20_OPS
    else:
        allowed = frozenset(allowed_ops)
    return sorted(
        op_type
        for op_type in saved_model_op_types(saved_model_dir)
        if op_type not in allowed or is_always_disallowed(op_type)
    )
