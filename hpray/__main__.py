"""``python -m hpray``: the same command as ``hpray`` (for Ray jobs that ship the package)."""

from hpray.cli import main

main()
