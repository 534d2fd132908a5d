"""``python -m dcbench`` is the same as the ``dcbench`` command."""

from dcbench.cli import main

main()
