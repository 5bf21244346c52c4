"""The ``rnn_tagger`` component: one token attribute (tag, pos or morph) per token."""
from typing import Callable, Dict, List, Literal, Optional

from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Model

from .labeler import SequenceLabelingPipe

Attr = Literal["tag", "pos", "morph"]

default_model_config = """
[model]
@architectures = "spacy-rnn.SequenceLabeler.v2"
crf = false

[model.tok2vec]
@architectures = "spacy-rnn.WordCharEmbed.v1"
width = 128
rows = [5000, 1000, 2500, 2500]
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
include_static_vectors = false

[model.tok2vec.char_embed]
@architectures = "spacy-rnn.CharEmbed.v1"
width = 64
char_dim = 32
rows = 1000
max_chars = 16
window = 3

[model.encoder]
@architectures = "spacy-rnn.RNNEncoder.v1"
width = 128
depth = 2
cell = "lstm"
bidirectional = true
dropout = 0.0
residual = false
"""
DEFAULT_TAGGER_MODEL = Config().from_str(default_model_config)["model"]


@Language.factory(
    "rnn_tagger",
    assigns=["token.tag", "token.pos", "token.morph"],
    default_config={"model": DEFAULT_TAGGER_MODEL, "attr": "tag", "store_scores": False,
                    "scorer": {"@scorers": "spacy-rnn.token_attr_scorer.v1"}},
    default_score_weights={"tag_acc": 1.0, "pos_acc": None, "morph_acc": None},
)
def make_rnn_tagger(nlp: Language, name: str, model: Model, attr: Attr, store_scores: bool,
                    scorer: Optional[Callable]) -> "RNNTagger":
    """A recurrent tagger that predicts ``token.<attr>`` (``tag``, ``pos`` or ``morph``).

    ``store_scores``: also keep each token's label probabilities in
    ``doc._.label_probs[name]`` (needs ``spacy-rnn.SequenceLabeler.v2``).
    """
    return RNNTagger(nlp.vocab, model, name, attr=attr, store_scores=store_scores, scorer=scorer)


def score_token_attr(examples: List[Example], attr: str = "tag", **kwargs) -> Dict[str, float]:
    """Accuracy of ``attr`` with spaCy's scorer: ``tag_acc``, ``pos_acc`` or ``morph_acc``
    (plus ``morph_per_feat``)."""
    if attr != "morph":
        return Scorer.score_token_attr(examples, attr, **kwargs)
    def morph_key(token, attr):
        return getattr(token, attr).key

    scores = Scorer.score_token_attr(examples, "morph", getter=morph_key, **kwargs)
    scores.update(Scorer.score_token_attr_per_feat(examples, "morph", getter=morph_key, **kwargs))
    return scores


@registry.scorers("spacy-rnn.token_attr_scorer.v1")
def make_token_attr_scorer() -> Callable:
    return score_token_attr


class RNNTagger(SequenceLabelingPipe):
    """Predicts one token attribute with a recurrent sequence labeler."""

    def __init__(self, vocab: Vocab, model: Model, name: str = "rnn_tagger", *,
                 attr: Attr = "tag", store_scores: bool = False,
                 scorer: Optional[Callable] = score_token_attr):
        if attr not in ("tag", "pos", "morph"):
            raise ValueError(f"rnn_tagger: attr must be 'tag', 'pos' or 'morph', got {attr!r}")
        super().__init__(vocab, model, name, scorer=scorer, store_scores=store_scores, attr=attr)

    saved_settings = ("attr",)

    @property
    def attr(self) -> str:
        return self.cfg["attr"]

    def annotation_name(self) -> str:
        return f"token.{self.attr}"

    def score_keys(self) -> List[str]:
        return [f"{self.attr}_acc"]

    def gold_labels(self, example: Example) -> List[Optional[str]]:
        # an unset label aligns as "" (missing; for morph as in spaCy's morphologizer: an
        # empty analysis is "_")
        aligned = example.get_aligned(self.attr.upper(), as_string=True)
        return [label if label else None for label in aligned]

    def write_labels(self, doc: Doc, labels: List[str], confidences=None) -> None:
        for token, label in zip(doc, labels):
            if self.attr == "tag":
                token.tag_ = label
            elif self.attr == "pos":
                token.pos_ = label
            else:
                token.set_morph(label)
