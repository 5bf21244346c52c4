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
"""
from spacy.tokens import Doc

TRANSLATION_ATTR = "translation"
NBEST_ATTR = "translation_nbest"
ATTENTION_ATTR = "translation_attention"


def ensure_doc_extensions() -> None:
    """Register ``Doc._.translation``, ``Doc._.translation_nbest`` and
    ``Doc._.translation_attention`` (default ``None``) unless they already exist.

    Idempotent: safe to call from every module that needs the extensions. An
    extension registered earlier by someone else is left as it is.
    """
    for attr in (TRANSLATION_ATTR, NBEST_ATTR, ATTENTION_ATTR):
        if not Doc.has_extension(attr):
            Doc.set_extension(attr, default=None)
