"""The command line, ``python -m example_data``: write the examples' missing frames.

``python -m example_data`` writes all three examples into their default folders;
``--example N --folder DIR`` one example into a folder of your choice, and ``--tracked``
(with ``--example 3`` and ``--folder``) the tracked, undithered variant of Example 3.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from example_data.camera import _EXAMPLES
from example_data.writing import _ensure


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface: write the examples' missing frames.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 on error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m example_data",
        description=(
            "Write the simulated, calibrated frames (flats, night frames) of the course's "
            "worked examples. Only missing frames are written; existing frames and other files "
            "are kept."
        ),
    )
    parser.add_argument(
        "--example",
        type=int,
        choices=_EXAMPLES,
        help="which example to write (default: all three)",
    )
    parser.add_argument(
        "--folder",
        help=(
            "destination folder (needs --example; default: notebooks/exampleN-reduced "
            "beside this module)"
        ),
    )
    parser.add_argument(
        "--tracked",
        action="store_true",
        help=(
            "with --example 3 and --folder: write the tracked (undithered) variant, "
            "tracked-r-bin2-NNN.fit"
        ),
    )
    args = parser.parse_args(argv)
    if args.folder is not None and args.example is None:
        parser.error("--folder needs --example 1, 2 or 3")
    if args.tracked and (args.example != 3 or args.folder is None):
        parser.error("--tracked needs --example 3 and --folder")
    examples = (args.example,) if args.example is not None else _EXAMPLES
    for example in examples:
        try:
            result = _ensure(
                example,
                args.folder,
                overwrite_ours=False,
                progress=lambda name: print(f"  wrote {name}", flush=True),
                tracked=args.tracked,
            )
        except (OSError, ValueError) as exc:
            print(f"error: example {example}: {exc}", file=sys.stderr)
            return 1
        for name in result.kept:
            print(f"  kept  {name}")
        print(
            f"example {example}: {len(result.written)} frame(s) written, "
            f"{len(result.kept)} already present, in {result.folder}"
        )
    return 0
