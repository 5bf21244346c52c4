"""Synthetic corpora with a controllable dependency distance.

Two small, seeded, fully deterministic corpora let the demo show how a vanilla
RNN, an LSTM and a GRU cope as dependencies get longer. In both, every
sentence is built around one long-range dependency whose length is chosen
first: lengths 1..max_distance (default 40) are dealt out evenly over the
sentences, so accuracy can be reported per distance bucket. Distance is
``index(agreeing token) - index(controller)``, i.e. 1 + the number of tokens
between them; a sentence records the largest distance it contains.

Tagging (long-distance agreement). A made-up language: a subject noun
(singular ``dax``, plural ``daxi``) is followed by a middle of filler tokens
(adverbs, prepositional phrases with their own nouns) and relative clauses,
possibly nested (``that ze wugi ... gorp``), each with its own subject and
its own agreeing verb, and then by the main verb. Every token gets a tag;
most tags follow from the word itself (``DET``, ``ADJ``, ``NOUN_SG``,
``NOUN_PL``, ``ADP``, ``ADV``, ``REL``, ``PUNCT``), but a verb has one form
for both numbers, so ``VERB_SG`` vs ``VERB_PL`` can only be told by
remembering the number of its own subject, which may sit up to
max_distance tokens back, behind nouns of the other number (nouns inside
prepositional phrases and inner clauses) that must be ignored, while the
numbers of several open clauses are carried at once (a stack). The targets
(the verbs) are few and hard; all other tags are easy, local decisions.

Translation (reordering plus agreement). An English-like source (``the dog
near the tree that often saw the cats slept .``, past-tense verbs that do
not show number) maps to a German-like made-up target (``de hund bei de baum
der di katzen oft seht schlaft .``) in which (1) the verb of every relative
clause moves to the end of its clause, behind the clause's object, which may
hold further clauses (nested clauses stack their verbs at the end), (2) main
clause adverbs move behind the main verb, and (3) every verb and relative
pronoun shows the number of its subject, which the source shows only on the
subject noun, often far away. The recorded distance is the source distance
from the main subject noun to the main verb, the span across which the
model must carry the subject's number.

Outputs (under ``--out``): ``tagging/{train,dev,test}.jsonl`` with
``{"words", "tags", "distance", "targets", "controllers"}`` per line
(``controllers[i]`` is the index of the subject that ``targets[i]`` agrees
with); ``translation/{split}.jsonl`` with ``{"source", "target",
"distance"}`` per line, plus the same pairs as plain parallel text in
``translation/{split}.src`` and ``{split}.tgt``. :func:`to_docbin` turns a
tagging JSONL file into a spaCy DocBin for ``spacy train``.

Usage::

    python -m spacy_rnn.synthetic --out assets/demo --seed 0
    python -m spacy_rnn.synthetic --to-docbin IN.jsonl OUT.spacy

Only the standard library and spaCy are used (no torch).
"""
from __future__ import annotations

import argparse
import json
import random
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

SPLITS = ("train", "dev", "test")
# Small enough that the shipped assets/demo stays a few hundred KB (about 650 KB);
# pass --n-train/--n-dev/--n-test for bigger corpora (2000 train sentences is about
# 0.85 MB of tagging JSONL, 3000 translation pairs about 1.6 MB with .src/.tgt).
DEFAULT_SIZES = {
    "tagging": {"train": 500, "dev": 100, "test": 100},
    "translation": {"train": 500, "dev": 100, "test": 100},
}
DEFAULT_MAX_DISTANCE = 40
MAX_DEPTH = 3  # deepest nesting of relative clauses (raised for long distances)
MAX_PP = 2  # prepositional phrases per noun phrase (translation)
MAX_ADV = 2  # adverbs per clause (translation)
MAX_TRIES = 50  # redraws to avoid a sentence already generated

# ---------------------------------------------------------------- tagging lexicon
T_NOUNS = ("dax", "wug", "blick", "fep", "zib", "lorp", "mib", "kest", "nuv", "tove")
T_PLURAL = "i"  # dax -> daxi
T_VERBS = ("gorp", "miv", "sloob", "trem", "vash", "plok", "yib", "zorn")
T_FIXED = {
    "DET": ("the", "ze"),
    "ADJ": ("glib", "mome", "rath", "slith"),
    "ADP": ("near", "by", "with", "under"),
    "ADV": ("oft", "anon", "yon", "erst"),
    "REL": ("that",),
    "PUNCT": (".",),
}
T_WORD_TAG = {w: tag for tag, words in T_FIXED.items() for w in words}
T_WORD_TAG.update({n: "NOUN_SG" for n in T_NOUNS})
T_WORD_TAG.update({n + T_PLURAL: "NOUN_PL" for n in T_NOUNS})

# ------------------------------------------------------------ translation lexicon
# source singular, source plural, target singular, target plural
X_ACTORS = (
    ("dog", "dogs", "hund", "hunde"),
    ("cat", "cats", "katz", "katzen"),
    ("bird", "birds", "vogel", "vogeln"),
    ("fox", "foxes", "fuks", "fukse"),
    ("horse", "horses", "ross", "rosse"),
    ("child", "children", "kind", "kinder"),
    ("mouse", "mice", "maus", "mause"),
)
X_PLACES = (
    ("tree", "trees", "baum", "baume"),
    ("house", "houses", "haus", "hauser"),
    ("river", "rivers", "flus", "flusse"),
    ("hill", "hills", "berg", "berge"),
)
# source form (same for both numbers) -> target stem; target adds "t" (sg) / "en" (pl)
X_TRANSITIVE = {"saw": "seh", "chased": "jag", "liked": "mog", "found": "find",
                "heard": "hor", "followed": "folg"}
X_INTRANSITIVE = {"slept": "schlaf", "ran": "lauf", "laughed": "lach", "sang": "sing",
                  "waited": "harr"}
X_ADVERBS = {"often": "oft", "again": "wieder", "quietly": "leise", "never": "nie",
             "soon": "bald"}
X_PREPS = {"near": "bei", "behind": "hinter", "under": "unter", "with": "mit"}
X_DET = {"sg": "de", "pl": "di"}
X_REL = {"sg": "der", "pl": "die"}
X_VERB_SUFFIX = {"sg": "t", "pl": "en"}

Record = Dict[str, object]
Pair = Tuple[List[str], List[str]]


# ------------------------------------------------------------------------ common
def _distance_schedule(n: int, max_distance: int, rng: random.Random) -> List[int]:
    """Return n distances spread evenly over 1..max_distance, in random order.

    With n >= max_distance every distance occurs n // max_distance or one more
    times; with fewer sentences they are spaced evenly across the range.
    """
    if max_distance < 1:
        raise ValueError("max_distance must be >= 1")
    distances = [1 + i * max_distance // n for i in range(n)]
    rng.shuffle(distances)
    return distances


def _rng(seed: int, task: str, split: str) -> random.Random:
    """Return a generator seeded from (seed, task, split), stable across runs."""
    return random.Random(f"spacy-rnn-synthetic:{seed}:{task}:{split}")


def max_depth_for(max_distance: int) -> int:
    """Return the relative-clause nesting limit that can reach max_distance.

    3 levels reach every distance up to 45 in the translation grammar; longer
    distances get one more level per 12 tokens.
    """
    depth = MAX_DEPTH
    while not all(_x_middle_ok(m, depth) for m in range(max_distance)):
        depth += 1
    return depth


def _unique(make, seen: set, key) -> Record:
    """Call ``make()`` until its record's key is not in ``seen`` (bounded)."""
    record = make()
    for _ in range(MAX_TRIES):
        if key(record) not in seen:
            break
        record = make()
    seen.add(key(record))
    return record


# ------------------------------------------------------------------------ tagging
def noun_number(word: str) -> str:
    """Return "SG" or "PL" for a tagging-lexicon noun."""
    return T_WORD_TAG[word].split("_")[1]


def flip_number(word: str) -> str:
    """Return the other-number form of a tagging-lexicon noun (dax <-> daxi)."""
    if T_WORD_TAG.get(word) == "NOUN_PL":
        return word[: -len(T_PLURAL)]
    if T_WORD_TAG.get(word) == "NOUN_SG":
        return word + T_PLURAL
    raise ValueError(f"not a noun: {word!r}")


class _TagBuilder:
    """Builds one tagging sentence token by token, recording agreement links."""

    def __init__(self, rng: random.Random, max_depth: int):
        """Start an empty sentence."""
        self.rng, self.max_depth = rng, max_depth
        self.words: List[str] = []
        self.tags: List[str] = []
        self.links: List[Tuple[int, int]] = []  # (controller, target)

    def add(self, word: str, tag: str) -> int:
        """Append a token and return its index."""
        self.words.append(word)
        self.tags.append(tag)
        return len(self.words) - 1

    def fixed(self, tag: str) -> int:
        """Append a random word of a closed class."""
        return self.add(self.rng.choice(T_FIXED[tag]), tag)

    def noun(self, adjective: bool) -> int:
        """Append [ADJ] NOUN with a random number; return the noun's index."""
        if adjective:
            self.fixed("ADJ")
        stem, number = self.rng.choice(T_NOUNS), self.rng.choice(("SG", "PL"))
        word = stem + T_PLURAL if number == "PL" else stem
        return self.add(word, "NOUN_" + number)

    def clause(self, distance: int, depth: int, adjective: bool) -> None:
        """DET [ADJ] NOUN <middle> VERB, the verb `distance` tokens after the noun."""
        self.fixed("DET")
        subject = self.noun(adjective)
        self.middle(distance - 1, depth)
        number = self.tags[subject].split("_")[1]
        verb = self.add(self.rng.choice(T_VERBS), "VERB_" + number)
        self.links.append((subject, verb))

    def middle(self, size: int, depth: int) -> None:
        """Fill exactly `size` tokens with adverbs, PPs and relative clauses."""
        while size > 0:
            kinds = ["adv"] + ["pp"] * (size >= 2)
            kinds += ["rc"] * (size >= 4 and depth < self.max_depth)
            kind = self.rng.choice(kinds)
            if kind == "adv":
                self.fixed("ADV")
                size -= 1
            elif kind == "pp":
                adjective = size >= 3 and self.rng.random() < 0.5
                self.fixed("ADP")
                self.noun(adjective)
                size -= 2 + adjective
            else:
                size -= self.relative(self.rng.randint(4, size), depth + 1)

    def relative(self, size: int, depth: int) -> int:
        """Append a relative clause of exactly `size` (>= 4) tokens."""
        adjective = size >= 5 and self.rng.random() < 0.5
        self.fixed("REL")
        self.clause(size - 3 - adjective, depth, adjective)
        return size


def tagging_sentence(rng: random.Random, distance: int,
                     max_depth: int = MAX_DEPTH) -> Record:
    """Generate one tagging sentence whose main verb is `distance` after its subject."""
    builder = _TagBuilder(rng, max_depth)
    builder.clause(distance, 0, rng.random() < 0.5)
    if rng.random() < 0.3:
        builder.fixed("ADV")
    if rng.random() < 0.3:
        builder.fixed("ADP")
        builder.noun(False)
    builder.fixed("PUNCT")
    links = sorted(builder.links, key=lambda link: link[1])
    return {
        "words": builder.words,
        "tags": builder.tags,
        "distance": max(t - c for c, t in links),
        "targets": [t for _, t in links],
        "controllers": [c for c, _ in links],
    }


def annotate(words: Sequence[str]) -> Tuple[List[str], List[Tuple[int, int]]]:
    """Tag a tagging-corpus sentence by rule; return (tags, [(controller, target)]).

    The reference solution of the task: closed-class words and nouns are tagged
    by lexicon; a noun whose phrase starts with a determiner is a subject and
    is pushed on a stack; a verb takes the number of the subject it pops.
    """
    tags: List[str] = []
    stack: List[int] = []
    links: List[Tuple[int, int]] = []
    for i, word in enumerate(words):
        if word in T_VERBS:
            subject = stack.pop()
            tags.append("VERB_" + tags[subject].split("_")[1])
            links.append((subject, i))
            continue
        tag = T_WORD_TAG[word]
        previous = [t for t in tags if t != "ADJ"][-1:]
        if tag.startswith("NOUN") and previous == ["DET"]:
            stack.append(i)
        tags.append(tag)
    return tags, links


def generate_tagging(n: int, max_distance: int = DEFAULT_MAX_DISTANCE, seed: int = 0,
                     split: str = "train", seen: Optional[set] = None) -> List[Record]:
    """Generate n tagging records; sentences already in `seen` are redrawn."""
    rng = _rng(seed, "tagging", split)
    seen = set() if seen is None else seen
    depth = max_depth_for(max_distance)
    records = []
    for distance in _distance_schedule(n, max_distance, rng):
        make = lambda: tagging_sentence(rng, distance, depth)  # noqa: E731
        records.append(_unique(make, seen, lambda r: " ".join(r["words"])))
    return records


# -------------------------------------------------------------------- translation
@lru_cache(maxsize=None)
def _x_tail_ok(size: int, depth: int) -> bool:
    """Whether a noun-phrase tail (PPs, then an optional clause) can be `size` long."""
    return any(_x_rest_ok(size - 3 * k, depth) for k in range(MAX_PP + 1) if size >= 3 * k)


def _x_rest_ok(size: int, depth: int) -> bool:
    """Whether `size` tokens can be nothing or one relative clause."""
    return size == 0 or (depth > 0 and _x_rc_ok(size, depth))


@lru_cache(maxsize=None)
def _x_rc_ok(size: int, depth: int) -> bool:
    """Whether a relative clause ("that ADV* V the N <tail>") can be `size` long."""
    return any(_x_tail_ok(size - 4 - a, depth - 1)
               for a in range(MAX_ADV + 1) if size >= 4 + a)


def _x_middle_ok(size: int, depth: int) -> bool:
    """Whether subject tail + main adverbs can be `size` tokens."""
    return any(_x_tail_ok(size - a, depth) for a in range(MAX_ADV + 1) if size >= a)


def _x_noun(rng: random.Random, lexicon) -> Tuple[str, Pair]:
    """Return (number, (["the", N], [det, N'])) for a random noun."""
    src_sg, src_pl, tgt_sg, tgt_pl = rng.choice(lexicon)
    number = rng.choice(("sg", "pl"))
    src, tgt = (src_sg, tgt_sg) if number == "sg" else (src_pl, tgt_pl)
    return number, (["the", src], [X_DET[number], tgt])


def _x_verb(rng: random.Random, verbs: Dict[str, str], number: str) -> Pair:
    """Return a source verb and its target form agreeing with `number`."""
    src = rng.choice(sorted(verbs))
    return [src], [verbs[src] + X_VERB_SUFFIX[number]]


def _x_adverbs(rng: random.Random, count: int) -> Pair:
    """Return `count` random adverbs, source and target."""
    src = [rng.choice(sorted(X_ADVERBS)) for _ in range(count)]
    return src, [X_ADVERBS[a] for a in src]


def _x_np(rng: random.Random, tail: int, depth: int) -> Tuple[str, Pair]:
    """Return (number, pair) for "the N" followed by a tail of exactly `tail` tokens."""
    number, (src, tgt) = _x_noun(rng, X_ACTORS)
    choices = [k for k in range(MAX_PP + 1)
               if tail >= 3 * k and _x_rest_ok(tail - 3 * k, depth)]
    k = rng.choice(choices)
    for _ in range(k):
        prep = rng.choice(sorted(X_PREPS))
        _, (p_src, p_tgt) = _x_noun(rng, X_PLACES)
        src, tgt = src + [prep] + p_src, tgt + [X_PREPS[prep]] + p_tgt
    if tail > 3 * k:
        r_src, r_tgt = _x_relative(rng, tail - 3 * k, depth, number)
        src, tgt = src + r_src, tgt + r_tgt
    return number, (src, tgt)


def _x_relative(rng: random.Random, size: int, depth: int, head: str) -> Pair:
    """Relative clause of `size` tokens on a head of number `head`.

    Source "that ADV* V <object NP>"; target "REL <object NP> ADV* V", with the
    relative pronoun and the verb agreeing with the head noun.
    """
    choices = [a for a in range(MAX_ADV + 1)
               if size >= 4 + a and _x_tail_ok(size - 4 - a, depth - 1)]
    count = rng.choice(choices)
    adv_src, adv_tgt = _x_adverbs(rng, count)
    verb_src, verb_tgt = _x_verb(rng, X_TRANSITIVE, head)
    _, (obj_src, obj_tgt) = _x_np(rng, size - 4 - count, depth - 1)
    src = ["that"] + adv_src + verb_src + obj_src
    return src, [X_REL[head]] + obj_tgt + adv_tgt + verb_tgt


def translation_pair(rng: random.Random, distance: int,
                     max_depth: int = MAX_DEPTH) -> Record:
    """Generate one pair whose main verb is `distance` source tokens after its subject."""
    middle = distance - 1
    counts = [a for a in range(MAX_ADV + 1) if middle >= a and _x_tail_ok(middle - a, max_depth)]
    if not counts:
        raise ValueError(f"distance {distance} unreachable with depth {max_depth}")
    count = rng.choice(counts)
    number, (subj_src, subj_tgt) = _x_np(rng, middle - count, max_depth)
    adv_src, adv_tgt = _x_adverbs(rng, count)
    transitive = rng.random() < 0.5
    verb_src, verb_tgt = _x_verb(rng, X_TRANSITIVE if transitive else X_INTRANSITIVE, number)
    obj_src, obj_tgt = _x_noun(rng, X_ACTORS)[1] if transitive else ([], [])
    src = subj_src + adv_src + verb_src + obj_src + ["."]
    tgt = subj_tgt + verb_tgt + adv_tgt + obj_tgt + ["."]
    return {"source": " ".join(src), "target": " ".join(tgt),
            "distance": len(subj_src) + count - 1}


def generate_translation(n: int, max_distance: int = DEFAULT_MAX_DISTANCE, seed: int = 0,
                         split: str = "train", seen: Optional[set] = None) -> List[Record]:
    """Generate n translation records; sources already in `seen` are redrawn."""
    rng = _rng(seed, "translation", split)
    seen = set() if seen is None else seen
    depth = max_depth_for(max_distance)
    records = []
    for distance in _distance_schedule(n, max_distance, rng):
        make = lambda: translation_pair(rng, distance, depth)  # noqa: E731
        records.append(_unique(make, seen, lambda r: r["source"]))
    return records


# ------------------------------------------------------------------------ writing
def _write_jsonl(path: Path, records: Iterable[Record]) -> None:
    """Write records as compact JSON lines (UTF-8, "\\n" line ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf8", newline="\n") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def _write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write one string per line."""
    with path.open("w", encoding="utf8", newline="\n") as file:
        file.writelines(line + "\n" for line in lines)


def _summary(path: Path, records: List[Record], lengths: List[int]) -> str:
    """One line describing a written file."""
    distances = [r["distance"] for r in records] or [0]
    lengths = lengths or [0]
    return (f"  {path}: {len(records)} items, distance {min(distances)}..{max(distances)}, "
            f"length mean {sum(lengths) / len(lengths):.1f} max {max(lengths)}, "
            f"{path.stat().st_size / 1024:.0f} KB")


def write_tagging(out: Path, seed: int, sizes: Dict[str, int],
                  max_distance: int, docbin: bool = False) -> List[Path]:
    """Write tagging/{split}.jsonl (and .spacy if `docbin`); return the paths."""
    seen: set = set()
    paths = []
    for split in SPLITS:
        records = generate_tagging(sizes[split], max_distance, seed, split, seen)
        path = out / "tagging" / f"{split}.jsonl"
        _write_jsonl(path, records)
        print(_summary(path, records, [len(r["words"]) for r in records]), flush=True)
        paths.append(path)
        if docbin:
            paths.append(path.with_suffix(".spacy"))
            print(f"  {paths[-1]}: {to_docbin(path, paths[-1])} docs", flush=True)
    return paths


def write_translation(out: Path, seed: int, sizes: Dict[str, int],
                      max_distance: int) -> List[Path]:
    """Write translation/{split}.jsonl, .src and .tgt; return the paths."""
    seen: set = set()
    paths = []
    for split in SPLITS:
        records = generate_translation(sizes[split], max_distance, seed, split, seen)
        base = out / "translation" / split
        _write_jsonl(base.with_suffix(".jsonl"), records)
        _write_lines(base.with_suffix(".src"), (r["source"] for r in records))
        _write_lines(base.with_suffix(".tgt"), (r["target"] for r in records))
        lengths = [len(r["source"].split()) for r in records]
        print(_summary(base.with_suffix(".jsonl"), records, lengths), flush=True)
        paths += [base.with_suffix(s) for s in (".jsonl", ".src", ".tgt")]
    return paths


# ----------------------------------------------------------------------- DocBin
def to_docbin(jsonl_path, out_path) -> int:
    """Convert a tagging JSONL file to a spaCy DocBin; return the number of docs.

    Each Doc has the words and ``token.tag_``; ``doc.user_data`` holds
    "distance", "targets" and (when present) "controllers" (the index lists
    come back from a DocBin as tuples). A line that is blank, not JSON or not a
    record with "words" and "tags" lists of equal length raises a ``ValueError``
    naming the file and line.
    """
    from spacy.tokens import Doc, DocBin
    from spacy.vocab import Vocab

    vocab = Vocab()
    docbin = DocBin(attrs=["ORTH", "TAG"], store_user_data=True)
    with Path(jsonl_path).open(encoding="utf8") as file:
        for line_no, line in enumerate(file, start=1):
            record = _tagging_record(line, f"{jsonl_path}, line {line_no}")
            doc = Doc(vocab, words=record["words"], tags=record["tags"])
            for key in ("distance", "targets", "controllers"):
                if key in record:
                    doc.user_data[key] = record[key]
            docbin.add(doc)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    docbin.to_disk(out_path)
    return len(docbin)


def _tagging_record(line: str, where: str) -> Record:
    """One line of a tagging JSONL file as a record; ValueError naming ``where`` if it is
    blank, not JSON, or has no "words" and "tags" lists of the same length."""
    if not line.strip():
        raise ValueError(f"{where}: blank line; every line must hold one JSON record: remove it")
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err.msg} at column {err.colno}): "
                         "fix or remove the line") from err
    words, tags = (record.get(key) if isinstance(record, dict) else None
                   for key in ("words", "tags"))
    if not isinstance(words, list) or not isinstance(tags, list):
        raise ValueError(f'{where}: expected a JSON object with "words" and "tags" lists, '
                         f"got {line.strip()[:60]!r}")
    if len(words) != len(tags):
        raise ValueError(f"{where}: {len(words)} words but {len(tags)} tags: every word needs "
                         "exactly one tag")
    return record


# -------------------------------------------------------------------------- CLI
def _parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m spacy_rnn.synthetic",
        description="Write the synthetic tagging and translation corpora.")
    parser.add_argument("--out", type=Path, default=Path("assets/demo"))
    parser.add_argument("--seed", type=int, default=0)
    for split in SPLITS:
        parser.add_argument(f"--n-{split}", type=int, default=None,
                            help=f"{split} size for every task (default: per task)")
    parser.add_argument("--max-distance", type=int, default=DEFAULT_MAX_DISTANCE)
    parser.add_argument("--tasks", nargs="+", choices=sorted(DEFAULT_SIZES),
                        default=sorted(DEFAULT_SIZES))
    parser.add_argument("--docbin", action="store_true",
                        help="also write tagging/{split}.spacy")
    parser.add_argument("--to-docbin", nargs=2, metavar=("JSONL", "SPACY"),
                        help="only convert a tagging JSONL file to a DocBin")
    return parser


def _sizes(args: argparse.Namespace, task: str) -> Dict[str, int]:
    """Split sizes for a task: the --n-* flags where given, else the task defaults."""
    given = {split: getattr(args, f"n_{split}") for split in SPLITS}
    return {split: DEFAULT_SIZES[task][split] if n is None else n for split, n in given.items()}


def _write_meta(args: argparse.Namespace) -> Path:
    """Write out/meta.json recording how the corpora were generated."""
    meta = {
        "generator": "python -m spacy_rnn.synthetic",
        "seed": args.seed,
        "max_distance": args.max_distance,
        "sizes": {task: _sizes(args, task) for task in args.tasks},
    }
    path = args.out / "meta.json"
    path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf8")
    return path


def main(argv: Optional[Sequence[str]] = None) -> List[Path]:
    """Run the CLI; return the paths written."""
    args = _parser().parse_args(argv)
    if args.to_docbin:
        count = to_docbin(*args.to_docbin)
        print(f"{args.to_docbin[1]}: {count} docs")
        return [Path(args.to_docbin[1])]
    paths = []
    for task in args.tasks:
        sizes = _sizes(args, task)
        print(f"{task}: seed {args.seed}, sizes {sizes}, max distance {args.max_distance}")
        if task == "tagging":
            paths += write_tagging(args.out, args.seed, sizes, args.max_distance, args.docbin)
        else:
            paths += write_translation(args.out, args.seed, sizes, args.max_distance)
    paths.append(_write_meta(args))
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} files, {total / 1024:.0f} KB in total, under {args.out}")
    return paths


if __name__ == "__main__":
    main()
