"""Speed benchmarks (tooling, not imported by the package): ``python -m spacy_rnn.benchmarks.run``
(spaCy's encoders vs ``spacy-rnn.RNNEncoder.v1``, and the translator), ``.onmt`` (the translator
vs OpenNMT-py) and ``.paths`` (the recurrence backends side by side). See BENCHMARKS.md."""
