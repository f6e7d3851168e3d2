"""``python -m threatwatch``: the same CLI as the ``threatwatch`` script."""

from threatwatch.cli import main

main()
