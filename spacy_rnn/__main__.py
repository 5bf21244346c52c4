"""``python -m spacy_rnn evaluate MODEL DATA``: see ``spacy_rnn.cli``."""
import sys

from .cli import main

sys.exit(main())
