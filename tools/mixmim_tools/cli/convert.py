"""What the checkpoint converter tools (``tools/model_converters``) share:
their command line and the conversion of one file.

Checkpoints of other codebases often pickle Python objects besides the
tensors (MAE's and DropPos's their argparse namespace, MoBY's its yacs
config): ``--trust`` reads such a file (it runs code from it). The output
holds ``state_dict`` and ``meta``; it is written to a temporary file and
renamed, so a failed run leaves no half-written checkpoint.
"""
import argparse
import sys
from typing import Callable, Optional

from mixmim_plugin.converters import (CheckpointFileError, LayoutError,
                                      load_checkpoint_file,
                                      save_checkpoint_file)
from mixmim_plugin.converters.rules import StateDict

Convert = Callable[[dict], StateDict]


def converter_parser(description: str,
                     reverse_help: Optional[str] = None
                     ) -> argparse.ArgumentParser:
    """The command line shared by the converter tools: ``src``, ``dst``,
    ``--trust`` and, with ``reverse_help``, ``--reverse``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='output checkpoint')
    if reverse_help:
        parser.add_argument(
            '--reverse', action='store_true', help=reverse_help)
    parser.add_argument(
        '--trust',
        action='store_true',
        help='read a checkpoint that pickles Python objects (runs its code)')
    return parser


def convert_file(src: str, dst: str, trust: bool, convert: Convert, meta: dict,
                 what: str) -> int:
    """Read ``src``, ``convert`` it, write ``dst`` atomically; print what
    was written, or the error naming the file. Returns the exit code (0, or
    2 for an unreadable file or a wrong layout)."""
    try:
        state = convert(load_checkpoint_file(src, trust))
    except (CheckpointFileError, LayoutError) as err:
        print(f'error: {src}: {err}', file=sys.stderr)
        return 2
    save_checkpoint_file(state, dst, dict(meta, converted_from=src))
    print(f'wrote {len(state)} tensors ({what}) to {dst}')
    return 0


def convert_either_way(args: argparse.Namespace, forward: Convert,
                       backward: Convert, layout: str, method: str) -> int:
    """:func:`convert_file` of the arguments of a :func:`converter_parser`
    with ``reverse_help``: ``forward`` (the authors' layout -> ``layout``)
    or, with ``--reverse``, ``backward`` (-> the authors'). The output's
    meta names the layout written."""
    convert, layout = (backward, 'authors') if args.reverse else (forward,
                                                                  layout)
    return convert_file(args.src, args.dst, args.trust, convert,
                        dict(layout=layout), f'{layout} {method} layout')


def reversible_main(argv: Optional[list], doc: str, forward: Convert,
                    backward: Convert, layout: str, method: str,
                    reverse_help: str) -> int:
    """The ``main`` of a converter between the authors' layout and
    ``layout`` (:func:`convert_either_way`), described by the first line of
    ``doc``."""
    parser = converter_parser(doc.splitlines()[0], reverse_help=reverse_help)
    return convert_either_way(
        parser.parse_args(argv), forward, backward, layout, method)
