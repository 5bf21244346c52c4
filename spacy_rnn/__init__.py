"""spacy-rnn: recurrent networks for spaCy pipelines.

Importing the package registers its architectures, components, readers and
scorers with spaCy's registry (spaCy also finds them through entry points).
"""
__version__ = "0.1.0"

from . import architectures, pipeline, readers, scorers, training  # noqa: E402,F401  (registration)
