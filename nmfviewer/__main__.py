"""``python -m nmfviewer`` runs the same entry point as the ``nmfviewer`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
