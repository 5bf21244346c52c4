"""``python -m spacy_rnn.render MODEL DATA OUTPUT_DIR``: displaCy pages of a pipeline's entities.

``spacy evaluate --displacy-path`` renders entities only for a component made by
spaCy's own ``ner`` factory (and spans only for ``spancat``), so it writes nothing
for ``rnn_ner``. This command runs the pipeline on the texts of a gold corpus (a
``.spacy`` DocBin, or a folder of them, as ``spacy evaluate`` reads it) and writes, as
``spacy evaluate`` does, ``entities.html`` when a component writes ``doc.ents``
(``ner`` or ``rnn_ner``) and ``spans_<key>.html`` for each span key written by
``rnn_ner`` (``spans_key``) or ``spancat``. The same is available in Python as
:func:`render_entities`.
"""
import argparse
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import spacy
from spacy import displacy
from spacy.language import Language
from spacy.training import Corpus

ENTITY_FACTORIES = ("ner", "rnn_ner")


def entity_targets(nlp: Language) -> Tuple[bool, List[str]]:
    """Whether some component writes ``doc.ents``, and the span keys components write."""
    ents, keys = False, []
    for name in nlp.pipe_names:
        factory = nlp.get_pipe_meta(name).factory
        pipe = nlp.get_pipe(name)
        key = getattr(pipe, "cfg", {}).get("spans_key") if factory in ("rnn_ner", "spancat") else None
        if factory in ENTITY_FACTORIES and key is None:
            ents = True
        elif key is not None and key not in keys:
            keys.append(key)
    return ents, keys


def render_entities(nlp: Language, texts: Iterable[str], output_dir: Path, limit: int = 25,
                    title: str = "") -> List[Path]:
    """Run ``nlp`` on the first ``limit`` texts; write displaCy pages of their entities
    and spans into ``output_dir`` (which must exist); return the files written."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise ValueError(f"render_entities: output directory {output_dir} not found; create it first.")
    docs = list(nlp.pipe(text for _, text in zip(range(limit), texts)))
    ents, keys = entity_targets(nlp)
    if not docs or not (ents or keys):
        return []
    docs[0].user_data["title"] = title
    pages = [("entities.html", "ent", {})] if ents else []
    pages += [(f"spans_{key}.html", "span", {"spans_key": key}) for key in keys]
    written = []
    for file_name, style, options in pages:
        path = output_dir / file_name
        path.write_text(displacy.render(docs, style=style, page=True, options=options), encoding="utf8")
        written.append(path)
    return written


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spacy_rnn.render",
                                     description=__doc__.split("\n")[0].split(": ", 1)[1])
    parser.add_argument("model", help="pipeline name or directory")
    parser.add_argument("data", type=Path, help=".spacy file (or folder of them) with gold docs")
    parser.add_argument("output_dir", type=Path, help="existing directory for the HTML pages")
    parser.add_argument("--limit", type=int, default=25, help="docs to render (default 25)")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> List[Path]:
    args = parse_args(argv)
    nlp = spacy.load(args.model)
    texts = (eg.reference.text for eg in Corpus(args.data)(nlp))
    written = render_entities(nlp, texts, args.output_dir, limit=args.limit, title=str(args.model))
    for path in written:
        print(f"Wrote {path}")
    if not written:
        print(f"Nothing to render: no component of {args.model} writes entities or spans.")
    return written


if __name__ == "__main__":
    main()
