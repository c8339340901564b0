"""``python -m ltr_hyperdpo <command>``: the CLI (also the entry point for ``torchrun -m ltr_hyperdpo``)."""
import sys

from ._entry import main

sys.exit(main())
