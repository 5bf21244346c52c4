"""Custom ``Doc`` extensions shared by the readers, scorers and components.

``Doc._.translation`` holds a translation as plain, detokenized text: the
reference translation on the reference doc of a training ``Example``, and the
system output on docs a translator component has processed. Its default is
``None`` (no translation).

``Doc._.translation_nbest`` and ``Doc._.translation_attention`` hold what a
translator writes on request (its ``n_best`` and ``return_attention`` settings),
else ``None``: a list of ``(translation, score)`` pairs, best first, the first
one equal to ``doc._.translation``; and a list of one dict per translated
sentence (or chunk of a long one), ``{"source": [piece, ...], "target": [piece,
...], "weights": float32 array of shape (len(target), len(source))}``, the
attention of the best translation.

``Doc._.label_probs`` and ``Span._.confidence`` hold what the labelers write with
``store_scores``: {component name: (len(doc), n_labels) float32 array}, and an entity's
confidence in [0, 1]; else ``None``.
"""
from spacy.tokens import Doc, Span

TRANSLATION_ATTR = "translation"
NBEST_ATTR = "translation_nbest"
ATTENTION_ATTR = "translation_attention"
LABEL_PROBS_ATTR = "label_probs"
CONFIDENCE_ATTR = "confidence"


def ensure_doc_extensions() -> None:
    """Register ``Doc._.translation``, ``Doc._.translation_nbest`` and
    ``Doc._.translation_attention`` (default ``None``) unless they already exist.

    Idempotent: safe to call from every module that needs the extensions. An
    extension registered earlier by someone else is left as it is.
    """
    for attr in (TRANSLATION_ATTR, NBEST_ATTR, ATTENTION_ATTR):
        if not Doc.has_extension(attr):
            Doc.set_extension(attr, default=None)


def ensure_score_extensions() -> None:
    """Register ``Doc._.label_probs`` and ``Span._.confidence`` (default ``None``) unless
    they exist. Idempotent; an extension registered earlier by someone else is kept."""
    if not Doc.has_extension(LABEL_PROBS_ATTR):
        Doc.set_extension(LABEL_PROBS_ATTR, default=None)
    if not Span.has_extension(CONFIDENCE_ATTR):
        Span.set_extension(CONFIDENCE_ATTR, default=None)
