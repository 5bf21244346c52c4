"""spaCy components. Models are reached by registry name in default configs."""
from .ner import RNNEntityRecognizer, make_rnn_ner  # noqa: F401
from .tagger import RNNTagger, make_rnn_tagger  # noqa: F401
from .translator import RNNTranslator, make_rnn_translator  # noqa: F401
