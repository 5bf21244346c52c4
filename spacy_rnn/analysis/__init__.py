"""Comparisons of trained systems that an expert can check: seed aggregation, paired
bootstrap tests over test sentences, learning curves and time-to-accuracy from training logs,
and the result prose generated from the tests. Used by the workflows' summarize scripts.

Nothing here registers with spaCy; import the submodules directly:
``spacy_rnn.analysis.seeds``, ``.bootstrap``, ``.sentences``, ``.curves``, ``.report``, ``.layout``.
"""
