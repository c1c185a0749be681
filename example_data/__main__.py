"""Run the command line of :mod:`example_data`: ``python -m example_data --help``."""

from example_data.cli import main

raise SystemExit(main())
