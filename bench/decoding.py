"""Decode latency and throughput of an exported translator (greedy and beam search in the
graph) against a tutorial-style decoder that runs its loop in Python, one step per call.

Model: the zoo's translator_en_es recipe (zoo/translator_en_es/recipe.toml: [model] sizes,
wordpiece tokenizers of `vocabulary_size` 8,000), untrained, over a synthetic vocabulary; or a
trained model with `--model NAME_OR_PATH` (a preset name or a `.keras` file, loaded with
`kerattn.zoo.model_loading.load_model`). Sources are `--words` vocabulary words per sentence.

Fixed output length: an untrained model may stop at once or never. So that every decoder does
the same work, the output bias of `[END]` is set to -1e9 before anything is exported or traced:
no hypothesis ever ends early, and every sentence decodes to its length limit,
min(2 · words + 10, max_target_length) tokens (50 for 20 words). The Python loops run exactly
as many steps as the in-graph greedy search returned; the table shows the output length.

Decoders (all on the same weights):
- in-graph greedy / beam K: the SavedModel written by `kerattn.export.exporter.export_model`
  (its `greedy` and `serving_default` signatures), reloaded with `tf.saved_model.load`;
  tokenize → encode → `tf.while_loop` search → detokenize in one call.
- in-graph sampling: the same SavedModel's `sample` signature (temperature 1, one seed per
  sentence); scoring: its `score` signature on the in-graph greedy output (teacher forcing,
  one decoder pass over the whole target; the target log-probabilities in cache-sized chunks
  of real positions, `kerattn.zoo.teacher_forcing`). "cost × in-graph greedy" is ms /
  greedy's ms.
- scoring as it was before those chunks (`--no-score-reference` leaves it out): a second
  SavedModel's `score` signature, exported with the whole (B, T, V) logits projected,
  log-softmaxed and gathered at once (`all_positions_log_probs`), to compare in the same run.
- beam search as it was before it ranked the vocabulary in blocks (`--no-beam-reference`
  leaves it out): a third SavedModel's `serving_default`, exported with
  `kerattn.zoo.decoding.beam_search` replaced by the frozen copy of the old search that the
  tests compare it with (tests/zoo/beam_search_reference.py); the run also reports whether the
  two beam signatures return the same output ids and how far their scores and attention differ.
- tutorial loop (the TensorFlow NMT tutorial's way): tokenize and encode once, then
  `for t in range(steps): tokens, states = decoder_step(tokens, states, ...)` from Python,
  greedy (argmax of the logits), then detokenize. The step is the `AttentionDecoder` step API
  (`prepare_memory`, `get_initial_state`, `step`) between the translator's target embedding and
  output projection, called either as one `tf.function` per step or eagerly.

Each (decoder, batch size) is called once to trace, then `--repeats` times per round; decoders
alternate within a round to share the machine's noise. Reported: median ms per batch,
sentences/s, output tokens/s, and speed-up = tutorial tf.function loop ms / decoder ms
(> 1: faster than the Python loop). Greedy agreement: the share of tokens where the tutorial
loop's output equals the exported greedy search's (1.0 expected; same argmax).

Usage: python bench/decoding.py [--recipe zoo/translator_en_es/recipe.toml | --model NAME]
       [--batches 1 32] [--words 20] [--beam-size 4] [--repeats 3] [--rounds 2]
       [--no-score-reference] [--no-beam-reference]
       [--vocabulary N --embedding N --units N  (override the recipe, for smoke runs)]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import tomllib

from kerattn.export.exporter import export_model
from kerattn.export.serving_module import inference_tracing
from kerattn.text import RESERVED_TOKENS
from kerattn.training.model_factory import make_tokenizer
from kerattn.zoo import teacher_forcing
from kerattn.zoo.model_loading import load_model
from kerattn.zoo.token_batch import tokenize_batch
from kerattn.zoo.translator import Translator

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_RECIPE = Path(__file__).resolve().parent.parent / "zoo" / "translator_en_es" / "recipe.toml"
NEVER = -1e9


def recipe_translator(
    recipe_path: str | Path,
    vocabulary_size: int | None = None,
    embedding_dim: int | None = None,
    units: int | None = None,
) -> Translator:
    """The untrained `Translator` a translator recipe describes, with tokenizers of the recipe's
    kind over a synthetic vocabulary ("w0", "w1", ...) of the recipe's size; the arguments,
    when given, override the recipe's values."""
    recipe = tomllib.loads(Path(recipe_path).read_text(encoding="utf-8"))
    model_arguments = {name: value for name, value in recipe["model"].items() if name != "family"}
    model_arguments.update(
        {
            name: value
            for name, value in (("embedding_dim", embedding_dim), ("units", units))
            if value is not None
        }
    )
    tokenizers = []
    for side in ("source", "target"):
        settings = {
            key: value
            for key, value in recipe["tokenizer"].items()
            if key not in ("source", "target")
        }
        settings.update(recipe["tokenizer"].get(side, {}))
        size = vocabulary_size or settings["vocabulary_size"]
        words = [f"w{i}" for i in range(size - len(RESERVED_TOKENS))]
        tokenizers.append(
            make_tokenizer(settings, list(RESERVED_TOKENS) + words, f"{side}_tokenizer")
        )
    return Translator(*tokenizers, **model_arguments)


def source_sentences(translator: Translator, count: int, words: int, seed: int = 0) -> tf.Tensor:
    """`count` sentences of `words` whole-word source tokens each, tf.string [count]."""
    vocabulary = translator.source_tokenizer.get_vocabulary()[len(RESERVED_TOKENS) :]
    whole_words = [token for token in vocabulary if token.isalnum()]
    rng = np.random.default_rng(seed)
    return tf.constant([" ".join(rng.choice(whole_words, size=words)) for _ in range(count)])


def never_end(translator: Translator) -> None:
    """Sets the output bias of `[END]` to -1e9, so decoding always runs to its length limit."""
    bias = translator.backbone.projection.bias.numpy()
    bias[translator.target_tokenizer.end_id] = NEVER
    translator.backbone.projection.bias.assign(bias)


class TutorialLoopDecoder:
    """Greedy decoding driven from Python, one decoder step per call (the TensorFlow NMT
    tutorial's loop), built on a `Translator`'s backbone layers and the `AttentionDecoder` step
    API.

    `compiled=True` wraps the encoder part and the step in `tf.function`s (one graph call per
    step); `compiled=False` runs them eagerly.
    """

    def __init__(self, translator: Translator, compiled: bool):
        self.translator = translator
        self.encode = tf.function(self._encode) if compiled else self._encode
        self.step = tf.function(self._step) if compiled else self._step

    def _encode(self, texts):
        translator = self.translator
        backbone = translator.backbone
        source = tokenize_batch(
            translator.source_tokenizer, texts, translator.max_source_length, add_end=True
        )
        encoded = backbone.encode(source.ids, training=False)
        memory = encoded["sequence"]  # (B, S, units)
        states = backbone.decoder.get_initial_state(
            tf.shape(source.ids)[0], [encoded["state_h"], encoded["state_c"]]
        )
        return memory, backbone.decoder.prepare_memory(memory), encoded["mask"], states

    def _step(self, tokens, states, memory, projected_memory, memory_mask):
        backbone = self.translator.backbone
        output, states, _ = backbone.decoder.step(
            backbone.target_embedding(tokens), states, memory, projected_memory, memory_mask
        )
        logits = backbone.projection(output)  # (B, V)
        return tf.argmax(logits, axis=-1, output_type=tf.int32), states

    def __call__(self, texts: tf.Tensor, steps: int) -> dict:
        memory, projected_memory, memory_mask, states = self.encode(texts)
        tokens = tf.fill([tf.shape(texts)[0]], self.translator.target_tokenizer.start_id)
        outputs = []
        for _ in range(steps):
            tokens, states = self.step(tokens, states, memory, projected_memory, memory_mask)
            outputs.append(tokens)
        target_ids = tf.stack(outputs, axis=1)  # (B, steps)
        translation = self.translator.target_tokenizer.detokenize(target_ids)
        return {"translation": translation, "target_ids": target_ids}


def all_positions_log_probs(project, outputs, target_ids, vocabulary_size, rows=None):
    """`kerattn.zoo.teacher_forcing.target_log_probs` as `Translator.score_batch` computed it
    before: the logits of every (B, T) position at once, log-softmax, gather, 0 at padding."""
    log_probs = tf.nn.log_softmax(tf.cast(project(outputs), tf.float32))  # (B, T, V)
    chosen = tf.gather(log_probs, target_ids, batch_dims=2)  # (B, T)
    return tf.where(tf.not_equal(target_ids, 0), chosen, 0.0)


@contextlib.contextmanager
def all_positions_scoring():
    """Within: `Translator.score_batch` traces with `all_positions_log_probs`."""
    original = teacher_forcing.target_log_probs
    teacher_forcing.target_log_probs = all_positions_log_probs
    try:
        yield
    finally:
        teacher_forcing.target_log_probs = original


@contextlib.contextmanager
def beam_search_before():
    """Within: translators trace with the beam search as it was before its blocks (the tests'
    frozen copy, tests/zoo/beam_search_reference.py)."""
    import sys

    from kerattn.zoo import decoding

    sys.path.insert(0, str(ROOT))
    from tests.zoo.beam_search_reference import reference_beam_search

    original = decoding.beam_search
    decoding.beam_search = reference_beam_search
    try:
        yield
    finally:
        decoding.beam_search = original


def call_milliseconds(decode, texts, repeats: int) -> list[float]:
    """Wall-clock milliseconds of `repeats` calls of `decode(texts)`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        decode(texts)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(DEFAULT_RECIPE))
    parser.add_argument("--model", help="a preset name or .keras file instead of the recipe")
    parser.add_argument("--vocabulary", type=int, help="recipe override")
    parser.add_argument("--embedding", type=int, help="recipe override")
    parser.add_argument("--units", type=int, help="recipe override")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument(
        "--words",
        type=int,
        default=20,
        help="source vocabulary entries per sentence, joined by spaces",
    )
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--no-score-reference",
        dest="score_reference",
        action="store_false",
        help="leave out the score signature exported with all positions projected at once",
    )
    parser.add_argument(
        "--no-beam-reference",
        dest="beam_reference",
        action="store_false",
        help="leave out the beam signature exported with the beam search as it was before",
    )
    args = parser.parse_args()
    keras.utils.set_random_seed(0)

    if args.model:
        translator = load_model(args.model, expected_class=Translator)
        description = args.model
    else:
        translator = recipe_translator(args.recipe, args.vocabulary, args.embedding, args.units)
        description = f"untrained, {Path(args.recipe).name}"
    never_end(translator)

    import tensorflow_text  # noqa: F401  (registers the tf-text ops the SavedModel uses)

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        version = export_model(
            translator,
            Path(folder) / "translator",
            beam_size=args.beam_size,
            signatures=("sample", "score"),
        )
        export_seconds = time.perf_counter() - start
        start = time.perf_counter()
        signatures = tf.saved_model.load(str(version)).signatures
        load_seconds = time.perf_counter() - start
        reference_signatures = None
        if args.score_reference:
            with all_positions_scoring():
                reference = export_model(
                    translator, Path(folder) / "reference", beam_size=1, signatures=("score",)
                )
            reference_signatures = tf.saved_model.load(str(reference)).signatures
        beam_before = None
        if args.beam_reference:
            with beam_search_before():
                before = export_model(
                    translator, Path(folder) / "beam_before", beam_size=args.beam_size
                )
            beam_before = tf.saved_model.load(str(before)).signatures["serving_default"]

        tutorial = {
            "tutorial loop, tf.function per step": TutorialLoopDecoder(translator, compiled=True),
            "tutorial loop, eager": TutorialLoopDecoder(translator, compiled=False),
        }
        rows = []
        score_differences = {}
        beam_differences = {}
        with inference_tracing(translator):  # as the export traced it: no cuDNN, no dropout
            for batch in args.batches:
                texts = source_sentences(translator, batch, args.words)
                greedy = signatures["greedy"](text=texts)
                greedy_ids, greedy_texts = greedy["target_ids"], greedy["translation"]
                steps = int(greedy_ids.shape[1])
                seeds = tf.range(batch, dtype=tf.int64)
                decoders = {
                    "in-graph greedy (SavedModel)": lambda texts: signatures["greedy"](text=texts),
                    f"in-graph beam {args.beam_size} (SavedModel)": lambda texts: signatures[
                        "serving_default"
                    ](text=texts),
                    **(
                        {
                            f"in-graph beam {args.beam_size}, before (SavedModel)": lambda texts: (
                                beam_before(text=texts)
                            )
                        }
                        if beam_before is not None
                        else {}
                    ),
                    "in-graph sampling (SavedModel)": lambda texts, seeds=seeds: signatures[
                        "sample"
                    ](text=texts, seed=seeds),
                    "score the greedy output (SavedModel)": lambda texts, targets=greedy_texts: (
                        signatures["score"](text=texts, target=targets)
                    ),
                    **(
                        {
                            "score, all positions at once (before)": lambda texts, targets=greedy_texts: (
                                reference_signatures["score"](text=texts, target=targets)
                            )
                        }
                        if reference_signatures is not None
                        else {}
                    ),
                    **{
                        name: lambda texts, loop=loop, steps=steps: loop(texts, steps)
                        for name, loop in tutorial.items()
                    },
                }
                lengths = {
                    name: int(decode(texts)["target_ids"].shape[1])  # trace, warm up
                    for name, decode in decoders.items()
                }
                agreement = {
                    name: float(
                        np.mean(loop(texts, steps)["target_ids"].numpy() == greedy_ids.numpy())
                    )
                    for name, loop in tutorial.items()
                }
                if reference_signatures is not None:
                    scored = signatures["score"](text=texts, target=greedy_texts)
                    before = reference_signatures["score"](text=texts, target=greedy_texts)
                    score_differences[batch] = max(
                        float(tf.reduce_max(tf.abs(scored[key] - before[key])))
                        for key in ("token_log_probs", "score", "attention")
                    )
                if beam_before is not None:
                    new_beam = signatures["serving_default"](text=texts)
                    old_beam = beam_before(text=texts)
                    beam_differences[batch] = (
                        bool(np.array_equal(new_beam["target_ids"], old_beam["target_ids"])),
                        bool(np.array_equal(new_beam["translation"], old_beam["translation"])),
                        max(
                            float(tf.reduce_max(tf.abs(new_beam[key] - old_beam[key])))
                            for key in ("score", "log_prob", "attention")
                        ),
                    )
                times = {name: [] for name in decoders}
                for _ in range(args.rounds):
                    for name, decode in decoders.items():
                        times[name] += call_milliseconds(decode, texts, args.repeats)
                milliseconds = {name: statistics.median(value) for name, value in times.items()}
                baseline = milliseconds["tutorial loop, tf.function per step"]
                greedy_ms = milliseconds["in-graph greedy (SavedModel)"]
                for name in decoders:
                    rows.append(
                        (
                            name,
                            batch,
                            lengths[name],
                            milliseconds[name],
                            baseline,
                            greedy_ms,
                            agreement.get(name),
                        )
                    )

    print(
        f"{description}: vocabularies {translator.source_vocabulary_size:,}/"
        f"{translator.target_vocabulary_size:,}, embedding {translator.embedding_dim}, units "
        f"{translator.units}, attention {translator.attention}; {args.words} source words; "
        f"[END] suppressed, so every decoder produces the same fixed number of tokens"
    )
    print(
        f"export (greedy, beam {args.beam_size}, sample, score signatures) "
        f"{export_seconds:.1f} s, "
        f"load {load_seconds:.1f} s; median of {args.rounds} rounds × {args.repeats} calls\n"
    )
    print(
        "| decoder | batch | output tokens | ms/batch | sentences/s | tokens/s | "
        "speed-up vs tutorial tf.function loop | cost × in-graph greedy | "
        "agrees with in-graph greedy |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, batch, length, ms, baseline, greedy_ms, agreement in rows:
        print(
            f"| {name} | {batch} | {length} | {ms:.1f} | {1000 * batch / ms:.1f} | "
            f"{1000 * batch * length / ms:,.0f} | {baseline / ms:.2f} | {ms / greedy_ms:.2f} | "
            f"{'' if agreement is None else f'{agreement:.3f}'} |"
        )
    for batch, (same_ids, same_text, difference) in beam_differences.items():
        print(
            f"\nbatch {batch}: beam {args.beam_size} before and now: same output ids {same_ids}, "
            f"same translations {same_text}; largest difference of scores, log-probabilities "
            f"and attention {difference:.2e}"
        )
    for batch, difference in score_differences.items():
        print(
            f"\nbatch {batch}: largest difference between the two score signatures' "
            f"token log-probabilities, scores and attention: {difference:.2e}"
        )


if __name__ == "__main__":
    main()
