"""Custom ``Doc`` extensions shared by the readers, scorers and components.

``Doc._.translation`` holds a translation as plain, detokenized text: the
reference translation on the reference doc of a training ``Example``, and the
system output on docs a translator component has processed. Its default is
``None`` (no translation).
"""
from spacy.tokens import Doc

TRANSLATION_ATTR = "translation"


def ensure_doc_extensions() -> None:
    """Register ``Doc._.translation`` (default ``None``) unless it already exists.

    Idempotent: safe to call from every module that needs the extension. An
    extension registered earlier by someone else is left as it is.
    """
    if not Doc.has_extension(TRANSLATION_ATTR):
        Doc.set_extension(TRANSLATION_ATTR, default=None)
