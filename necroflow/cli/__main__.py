"""``python -m necroflow.cli``: the same as the ``necroflow`` command."""

from . import main

main()
