"""thinc architectures (registered builders) and glue between thinc and torch."""
from . import embed, encoder, labeler, translator  # noqa: F401
