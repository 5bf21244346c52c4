"""spacy-rnn: recurrent networks for spaCy pipelines.

Importing the package registers its architectures, components, readers and
scorers with spaCy's registry (spaCy also finds them through entry points), and
a fork handler that keeps torch single-threaded in forked children (see threads.py).
"""
__version__ = "0.1.0"

from . import architectures, optimizers, pipeline, readers, scorers, training  # noqa: E402,F401  (registration)
from .threads import register_fork_handler  # noqa: E402

register_fork_handler()  # forked workers (nlp.pipe(n_process=N)) must not hang in torch
