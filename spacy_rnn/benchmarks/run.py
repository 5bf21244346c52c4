"""Speed benchmark: spaCy encoders vs ``spacy-rnn.RNNEncoder.v1``, and the translator.

One process measures, on the same generated data (or a given ``.spacy`` file):

1. Tagger encoders: spaCy ``tok2vec`` (``spacy.Tok2Vec.v2`` with
   ``spacy.MultiHashEmbed.v2``) plus a listening spaCy ``tagger``, where the
   tok2vec ``encode`` is spaCy's CNN (``spacy.MaxoutWindowEncoder.v2``),
   ``spacy.TorchBiLSTMEncoder.v1`` or ``spacy-rnn.RNNEncoder.v1`` (lstm, gru,
   rnn; bidirectional). Training words/s of ``nlp.update`` over fixed batches
   (the first few batches are a warm-up and not timed) and inference words/s
   of ``nlp.pipe`` over fixed docs, with ratios against
   ``spacy.TorchBiLSTMEncoder.v1``; also the ``encode`` layer alone on the same
   batches (forward+backward and forward words/s, and its share of the pipeline
   time, which bounds what a faster encoder can gain end to end).
2. Translator: ``rnn_translator`` (LSTM with Bahdanau and with Luong attention;
   with ``--mt-preset reference``, the ~15M-parameter size of common RNN NMT
   recipes: 2-layer bi-LSTM encoder and 2-layer 512 LSTM decoder, Bahdanau,
   with and without input feeding; with ``--mt-preset vocabulary``, the LSTM
   with Luong attention of ``configs/translator_lstm_luong.cfg`` with a shared 8k,
   a shared 4k and separate 4k SentencePiece vocabularies) on generated parallel
   data or on the ``--mt-data`` files: training target pieces/s and pairs/s
   (the same pairs for every model, however each segments them), greedy and beam-5
   decoding sentences/s (EOS suppressed, every sentence decodes source pieces + 1
   steps, so the work does not depend on how far the short training got), peak
   memory (process max RSS; ``torch.cuda.max_memory_allocated`` on GPU).

The architectures take turns within each of ``--repeats`` rounds and the median
round is reported, so load changes on a shared machine hit all of them alike.
Everything runs on CPU, and again on GPU when ``torch.cuda.is_available()``
(thinc needs cupy for that; a failure is reported in the results, not raised).

Usage::

    python -m spacy_rnn.benchmarks.run --out bench.json
    python -m spacy_rnn.benchmarks.run --quick --skip-translator
    python -m spacy_rnn.benchmarks.run --data en_ewt-ud-train.spacy --batches 30
    python -m spacy_rnn.benchmarks.run --skip-taggers --mt-preset reference \
        --mt-data train.en.gz train.de.gz
    python -m spacy_rnn.benchmarks.run --skip-taggers --mt-preset vocabulary --mt-bf16 \
        --mt-data train.en.gz train.de.gz
"""
import argparse
import json
import os
import platform
import random
import resource
import sys
import time
import warnings
from statistics import median
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import spacy
import thinc
import torch
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import SGD, fix_random_seed, require_cpu, require_gpu

import spacy_rnn
from spacy_rnn.architectures.sentencepiece import load_sentencepiece
from spacy_rnn.architectures.translator import torch_module
from spacy_rnn.readers import make_translation_example
from spacy_rnn.stats import cpu_model, vector_extensions
from spacy_rnn.torch.precision import bf16_supported

BASELINE = "spacy.TorchBiLSTMEncoder.v1"
RNN_CELLS = ("lstm", "gru", "rnn")
TAGS = ("NOUN", "VERB", "ADJ", "ADV", "DET", "ADP", "PRON", "PROPN", "NUM", "CCONJ",
        "SCONJ", "AUX", "PART", "PUNCT", "INTJ", "SYM", "X")
EMBED_ROWS = [5000, 1000, 2500, 2500]
TRAIN_DROPOUT = 0.1
FULL = dict(words_per_batch=1000, warmup=3, infer_words=20000, infer_batch=64, vocab=4000,
            mt_emb=128, mt_hidden=256, mt_vocab=8000, mt_pairs=3000, mt_batch=64,
            mt_batches=5, mt_decode=64, mt_max_len=30)
QUICK = dict(words_per_batch=150, warmup=1, infer_words=300, infer_batch=16, vocab=300,
             mt_emb=16, mt_hidden=32, mt_vocab=120, mt_pairs=80, mt_batch=8,
             mt_batches=2, mt_decode=6, mt_max_len=10)
# The size of common RNN NMT recipes (~15M parameters with an 8k shared vocabulary): bi-LSTM 2 x 256
# per direction, 2 x 512 LSTM decoder, Bahdanau attention, emb 256; batches of ~4k target pieces.
REFERENCE = dict(mt_emb=256, mt_hidden=512, mt_vocab=8000, mt_pairs=29000, mt_batch=256,
                 mt_batches=3, mt_decode=64, mt_max_len=30)
# The size of configs/translator_lstm_luong.cfg (emb 128, hidden 256, batches of ~2,000 source
# words, about 150 Multi30k pairs; tests/test_benchmark.py checks emb and hidden against the
# config); SentencePiece trained on 29k pairs, as on Multi30k's train set.
VOCABULARY = dict(mt_emb=128, mt_hidden=256, mt_pairs=29000, mt_batch=150, mt_batches=5,
                  mt_decode=64, mt_max_len=30)
PRESET_SIZES = {"reference": REFERENCE, "vocabulary": VOCABULARY}


# ----- command line and settings ---------------------------------------------------------------

def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spacy_rnn.benchmarks.run",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--batches", type=int, default=None,
                        help="timed training batches per tagger (default 30; 2 with --quick)")
    parser.add_argument("--width", type=int, default=None, help="encoder width W (default 96)")
    parser.add_argument("--depth", type=int, default=None, help="recurrent depth D (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timing rounds; the median is reported (default 3; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for tests")
    parser.add_argument("--skip-translator", action="store_true")
    parser.add_argument("--skip-taggers", action="store_true")
    parser.add_argument("--mt-preset", choices=("default", "reference", "vocabulary"),
                        default="default",
                        help="translator sizes: default (the harness's small LSTM models), "
                             "reference (~15M parameters, with/without input feeding) or "
                             "vocabulary (LSTM + Luong with shared 8k, shared 4k and separate "
                             "4k SentencePiece vocabularies)")
    parser.add_argument("--mt-bf16", action="store_true",
                        help="also time each translator trained with train_precision = bfloat16 "
                             "(left out, with a note, where the device has no bf16 kernels)")
    parser.add_argument("--mt-data", type=Path, nargs=2, default=None, metavar=("SOURCE", "TARGET"),
                        help="parallel text files for the translator (default: generated pairs)")
    parser.add_argument("--data", type=Path, default=None,
                        help=".spacy file with tagged docs (token.tag_, else token.pos_)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def make_settings(args: argparse.Namespace) -> Dict:
    sizes = dict(QUICK if args.quick else FULL)
    if args.mt_preset in PRESET_SIZES and not args.quick:
        sizes.update(PRESET_SIZES[args.mt_preset])
    default_w, default_d, default_b = (16, 1, 2) if args.quick else (96, 2, 30)
    sizes.update(width=args.width or default_w, depth=args.depth or default_d,
                 batches=args.batches or default_b,
                 repeats=args.repeats or (1 if args.quick else 3), threads=args.threads, seed=args.seed,
                 quick=args.quick, data=str(args.data) if args.data else None,
                 skip_taggers=args.skip_taggers, mt_preset=args.mt_preset, mt_bf16=args.mt_bf16,
                 mt_data=[str(p) for p in args.mt_data or []],
                 train_dropout=TRAIN_DROPOUT)
    if sizes["width"] % 2:
        raise SystemExit("--width must be even (a bidirectional encoder splits it in two)")
    return sizes


def machine_info(threads: int) -> Dict:
    info = dict(platform=platform.platform(), processor=cpu_model(), vector_extensions=vector_extensions(),
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                requested_threads=threads, python=platform.python_version(),
                spacy=spacy.__version__, thinc=thinc.__version__, torch=torch.__version__,
                spacy_rnn=spacy_rnn.__version__, cuda_available=torch.cuda.is_available(),
                env={k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                    "MKL_NUM_THREADS")})
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


# ----- generated data --------------------------------------------------------------------------

def made_up_words(rng: random.Random, n: int) -> List[str]:
    """n distinct pronounceable nonsense words, a few capitalized or with digits."""
    onsets, vowels, codas = "bdfgklmnprstvz", "aeiou", ["", "", "n", "s", "r", "k", "st"]
    words, seen = [], set()
    while len(words) < n:
        word = "".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas)
                       for _ in range(rng.randint(1, 4)))
        word = word.capitalize() if rng.random() < 0.1 else word
        word = word + str(rng.randint(0, 99)) if rng.random() < 0.02 else word
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf_sampler(rng: random.Random, vocab: List[str]) -> Callable[[int], List[str]]:
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    return lambda k: rng.choices(vocab, weights=weights, k=k)


def generate_tagged(n_words: int, vocab_size: int, seed: int) -> List[Tuple[List[str], List[str]]]:
    """Sentences of 5-40 Zipf-sampled made-up words, each word with a fixed random tag."""
    rng = random.Random(seed)
    vocab = made_up_words(rng, vocab_size)
    tag_of = {word: rng.choice(TAGS) for word in vocab}
    sample, sents, total = zipf_sampler(rng, vocab), [], 0
    while total < n_words:
        words = sample(rng.randint(5, 40))
        sents.append((words, [tag_of[w] for w in words]))
        total += len(words)
    return sents


def load_tagged(path: Path) -> List[Tuple[List[str], List[str]]]:
    """(words, tags) of each doc of a .spacy file: token.tag_, or token.pos_ without tags."""
    nlp = spacy.blank("en")
    docs = [doc for doc in DocBin().from_disk(path).get_docs(nlp.vocab) if len(doc)]
    attr = "tag_" if any(t.tag_ for d in docs for t in d) else "pos_"
    return [([t.text for t in d], [getattr(t, attr) or "X" for t in d]) for d in docs]


def tagger_data(sizes: Dict) -> Tuple[List[List], List]:
    """(training batches of ~words_per_batch words, warm-up ones first; inference sentences)."""
    n_batches = sizes["warmup"] + sizes["batches"]
    need = n_batches * sizes["words_per_batch"] + sizes["infer_words"]
    if sizes["data"]:
        sents = load_tagged(Path(sizes["data"]))
        sents = sents * (need // max(1, sum(len(w) for w, _ in sents)) + 1)
    else:
        sents = generate_tagged(need + 200, sizes["vocab"], sizes["seed"])
    batches, rest = word_batches(sents, sizes["words_per_batch"], n_batches)
    return batches, take_words(rest, sizes["infer_words"])


def word_batches(sents: List, size: int, n: int) -> Tuple[List[List], List]:
    """n batches of consecutive sentences with at least ``size`` words each, and the rest."""
    batches, current, count, i = [], [], 0, 0
    while len(batches) < n and i < len(sents):
        current.append(sents[i])
        count, i = count + len(sents[i][0]), i + 1
        if count >= size:
            batches.append(current)
            current, count = [], 0
    return batches, sents[i:]


def take_words(sents: List, n_words: int) -> List:
    out, total = [], 0
    for sent in sents:
        if total >= n_words:
            break
        out.append(sent)
        total += len(sent[0])
    return out


# ----- timing helpers --------------------------------------------------------------------------

def sync(device: str) -> None:
    if device == "gpu":
        torch.cuda.synchronize()


def timed(device: str, fn: Callable) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def gpu_peak_mib(device: str) -> Optional[float]:
    return torch.cuda.max_memory_allocated() / 2**20 if device == "gpu" else None


def reset_gpu_peak(device: str) -> None:
    if device == "gpu":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


# ----- tagger encoders -------------------------------------------------------------------------

def encoder_configs(width: int, depth: int) -> Dict[str, Dict]:
    """Architecture name -> the tok2vec ``encode`` config."""
    configs = {
        "spacy.MaxoutWindowEncoder.v2 (CNN)": {
            "@architectures": "spacy.MaxoutWindowEncoder.v2", "width": width, "depth": 4,
            "window_size": 1, "maxout_pieces": 3},
        BASELINE: {"@architectures": BASELINE, "width": width, "depth": depth, "dropout": 0.0},
    }
    for cell in RNN_CELLS:
        configs[f"spacy-rnn.RNNEncoder.v1 {cell}"] = {
            "@architectures": "spacy-rnn.RNNEncoder.v1", "width": width, "depth": depth,
            "cell": cell, "bidirectional": True, "dropout": 0.0}
    return configs


def tagger_pipeline(encode: Dict, width: int) -> Language:
    nlp = spacy.blank("en")
    embed = {"@architectures": "spacy.MultiHashEmbed.v2", "width": width, "rows": EMBED_ROWS,
             "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "include_static_vectors": False}
    nlp.add_pipe("tok2vec", config={"model": {
        "@architectures": "spacy.Tok2Vec.v2", "embed": embed, "encode": encode}})
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": width, "upstream": "*"}
    nlp.add_pipe("tagger", config={"model": {
        "@architectures": "spacy.Tagger.v2", "nO": None, "normalize": False, "tok2vec": listener}})
    return nlp


def to_examples(nlp: Language, sents: List) -> List[Example]:
    return [Example(Doc(nlp.vocab, words=w), Doc(nlp.vocab, words=w, tags=t)) for w, t in sents]


class TaggerRun:
    """One tok2vec + tagger pipeline, initialized and warmed up, then timed round by round
    (the runs of all architectures take turns, so slow drifts of the machine hit all alike).
    Each round times the whole pipeline and the tok2vec ``encode`` layer alone (on
    precomputed embeddings, gradients discarded), on the same batches and docs."""

    def __init__(self, name: str, encode: Dict, data: Tuple[List, List], sizes: Dict,
                 device: str):
        fix_random_seed(sizes["seed"])
        batches, self.infer = data
        self.name, self.encode, self.sizes, self.device = name, encode, sizes, device
        self.nlp = tagger_pipeline(encode, sizes["width"])
        train = [to_examples(self.nlp, batch) for batch in batches]
        self.optimizer = self.nlp.initialize(lambda: [eg for batch in train for eg in batch])
        self.train = train[sizes["warmup"]:]
        self.times: Dict[str, List[float]] = {
            key: [] for key in ("train", "infer", "enc_train", "enc_infer")}
        self.losses: Dict[str, float] = {}
        self.update(train[:sizes["warmup"]])
        self.pipe(self.docs(self.infer[:sizes["infer_batch"]]))
        self.encoder_inputs = self.embed_batches()

    def update(self, batches: List[List[Example]]) -> None:
        for batch in batches:
            self.losses.clear()
            self.nlp.update(batch, sgd=self.optimizer, drop=TRAIN_DROPOUT, losses=self.losses)

    def docs(self, sents: List) -> List[Doc]:
        return [Doc(self.nlp.vocab, words=words) for words, _ in sents]

    def pipe(self, docs: List[Doc]) -> None:
        list(self.nlp.pipe(docs, batch_size=self.sizes["infer_batch"]))

    def embed_batches(self) -> Tuple[List, List]:
        """The encoder's inputs: embeddings of the training and the inference batches."""
        embed = self.nlp.get_pipe("tok2vec").model.get_ref("embed")
        docs, size = self.docs(self.infer), self.sizes["infer_batch"]
        return ([embed.predict([eg.predicted for eg in batch]) for batch in self.train],
                [embed.predict(docs[i:i + size]) for i in range(0, len(docs), size)])

    def encoder_pass(self, train: bool) -> None:
        encode = self.nlp.get_pipe("tok2vec").model.get_ref("encode")
        for Xs in self.encoder_inputs[0 if train else 1]:
            if train:
                Ys, backprop = encode.begin_update(Xs)
                backprop([y.copy() for y in Ys])
            else:
                encode.predict(Xs)

    def time_round(self) -> None:
        self.times["train"].append(timed(self.device, lambda: self.update(self.train)))
        docs = self.docs(self.infer)
        self.times["infer"].append(timed(self.device, lambda: self.pipe(docs)))
        self.times["enc_train"].append(timed(self.device, lambda: self.encoder_pass(True)))
        # apply the encoder-only gradients with learn rate 0: drops them, weights unchanged
        self.nlp.get_pipe("tok2vec").model.finish_update(SGD(0.0, use_averages=False))
        self.times["enc_infer"].append(timed(self.device, lambda: self.encoder_pass(False)))

    def row(self) -> Dict:
        n_train = sum(len(eg) for batch in self.train for eg in batch)
        n_infer = sum(len(words) for words, _ in self.infer)
        row = dict(architecture=self.name, encode=self.encode, train_words=n_train,
                   infer_words=n_infer, final_loss=self.losses.get("tagger"),
                   seconds_per_round=self.times)
        for key, times in self.times.items():
            row[f"{key}_seconds"] = median(times)
            row[f"{key}_wps"] = (n_infer if key.endswith("infer") else n_train) / median(times)
        row["encoder_share_train"] = row["enc_train_seconds"] / row["train_seconds"]
        row["encoder_share_infer"] = row["enc_infer_seconds"] / row["infer_seconds"]
        return row


def add_ratios(rows: List[Dict]) -> None:
    base = next((r for r in rows if r["architecture"] == BASELINE), None)
    for row in rows:
        for key in ("train", "infer", "enc_train", "enc_infer"):
            row[f"{key}_ratio"] = row[f"{key}_wps"] / base[f"{key}_wps"] if base else None


def run_taggers(sizes: Dict, device: str, data) -> List[Dict]:
    """Median words/s over ``repeats`` rounds; in each round every architecture trains on
    the same batches and tags the same docs, one architecture after the other."""
    runs = [TaggerRun(name, encode, data, sizes, device)
            for name, encode in encoder_configs(sizes["width"], sizes["depth"]).items()]
    for i in range(sizes["repeats"]):
        for run in runs:
            run.time_round()
            log(f"[{device}] round {i + 1} {run.name}: "
                + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in run.times.items()))
    rows = [run.row() for run in runs]
    add_ratios(rows)
    return rows


# ----- translator ------------------------------------------------------------------------------

def generate_parallel(n: int, sizes: Dict, seed: int) -> List[Tuple[str, str]]:
    """Made-up source sentences (5..mt_max_len words) and a word-by-word "translation"
    into another made-up lexicon, with the last two words swapped (some reordering)."""
    rng = random.Random(seed + 1)
    source_vocab = made_up_words(rng, sizes["vocab"])
    target_of = dict(zip(source_vocab, made_up_words(rng, sizes["vocab"])))
    sample, pairs = zipf_sampler(rng, source_vocab), []
    for _ in range(n):
        words = sample(rng.randint(5, sizes["mt_max_len"]))
        target = [target_of[w].lower() for w in words]
        target[-2:] = target[-2:][::-1]
        pairs.append((" ".join(words), " ".join(target)))
    return pairs


def read_pairs(paths: List[str], n: int) -> List[Tuple[str, str]]:
    """The first ``n`` non-empty pairs of two parallel text files."""
    from spacy_rnn.readers import read_parallel

    pairs = []
    for _, source, target in read_parallel(*paths):
        if source and target:
            pairs.append((source, target))
        if len(pairs) == n:
            break
    return pairs


def translator_variants(preset: str = "default", bf16: bool = False) -> Dict[str, Dict]:
    """Model settings by row name; with ``bf16`` each also trained under bfloat16 autocast."""
    variants = _preset_variants(preset)
    if bf16:
        variants.update({f"{name}, bf16 training": dict(variant, train_precision="bfloat16")
                         for name, variant in variants.items()})
    return variants


def _preset_variants(preset: str) -> Dict[str, Dict]:
    if preset == "reference":
        deep = {"cell": "lstm", "attention": "bahdanau", "encoder_depth": 2, "decoder_depth": 2}
        return {"rnn_translator 2+2-layer lstm + bahdanau + input feeding":
                dict(deep, input_feeding=True),
                "rnn_translator 2+2-layer lstm + bahdanau": dict(deep, input_feeding=False)}
    if preset == "vocabulary":
        luong = {"cell": "lstm", "attention": "luong"}
        return {f"rnn_translator lstm + luong, {label} {size // 1000}k":
                dict(luong, vocab_size=size, shared_vocab=label == "shared")
                for label, size in (("shared", 8000), ("shared", 4000), ("separate", 4000))}
    return {f"rnn_translator lstm + {att}": {"cell": "lstm", "attention": att}
            for att in ("bahdanau", "luong")}


def translator_pipeline(variant: Dict, sizes: Dict) -> Language:
    nlp = spacy.blank("en")
    defaults = dict(emb_size=sizes["mt_emb"], hidden=sizes["mt_hidden"],
                    vocab_size=sizes["mt_vocab"], dropout=0.1)
    model = {**defaults, **variant}  # a variant's own settings (such as vocab_size) win
    nlp.add_pipe("rnn_translator", config={"model": model, "beam_size": 1})
    return nlp


class TranslatorRun:
    """One ``rnn_translator`` pipeline, initialized (SentencePiece trained) and warmed up;
    timed round by round in turn with the other variants, like :class:`TaggerRun`."""

    def __init__(self, name: str, variant: Dict, pairs: List, sizes: Dict, device: str):
        fix_random_seed(sizes["seed"])
        self.name, self.variant, self.device = name, variant, device
        self.nlp = translator_pipeline(variant, sizes)
        self.translator = self.nlp.get_pipe("rnn_translator")
        examples = [make_translation_example(self.nlp, s, t) for s, t in pairs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SentencePiece vocab-size cap on tiny data
            self.optimizer = self.nlp.initialize(lambda: examples)
        size = sizes["mt_batch"]
        self.batches = [examples[i * size:(i + 1) * size] for i in range(1, sizes["mt_batches"] + 1)]
        self.sources = [s for s, _ in pairs[-sizes["mt_decode"]:]]
        self.searches = decode_searches(device)
        self.times: Dict[str, List[float]] = {"train": [], **{k: [] for k in self.searches}}
        self.gpu_peak = 0.0
        self.update([examples[:size]])

    def update(self, batches: List[List[Example]]) -> None:
        for batch in batches:
            self.nlp.update(batch, sgd=self.optimizer)

    def timed(self, key: str, fn: Callable) -> None:
        reset_gpu_peak(self.device)
        self.times[key].append(timed(self.device, fn))
        self.gpu_peak = max(self.gpu_peak, gpu_peak_mib(self.device) or 0.0)

    def time_training(self) -> None:
        self.timed("train", lambda: self.update(self.batches))

    def time_decoding(self) -> None:
        for label, (beam, quantize) in self.searches.items():
            self.translator.cfg.update(beam_size=beam, quantize=quantize)
            list(self.nlp.pipe(self.sources[:2]))  # untimed: builds the int8 copy if needed
            docs = [self.nlp.make_doc(s) for s in self.sources]
            self.timed(label, lambda: list(self.nlp.pipe(docs, batch_size=len(docs))))

    def force_length(self) -> None:
        """Make every decoding run exactly (source pieces + 1) steps: suppress EOS and set
        the length limit to ratio 1.0, constant 1. A briefly trained model would otherwise
        stop at once or run to the default limit (1.5 x source + 10); this fixes the work
        per sentence at about a real translation's length."""
        self.translator.cfg.update(max_length_ratio=1.0, max_length_constant=1)
        module = torch_module(self.translator.model.get_ref("core"))
        with torch.no_grad():
            module.generator.bias[module.eos_id] = -1e4
        list(self.nlp.pipe(self.sources[:2]))

    def pieces(self, texts: List[str], side: str) -> int:
        """SentencePiece pieces of the texts, + 1 each for the end of sentence."""
        spm = load_sentencepiece(self.translator.model.get_ref("core").attrs[f"spm_{side}"])
        return sum(len(spm.encode(text)) + 1 for text in texts)

    def row(self) -> Dict:
        tokens = self.pieces([eg.reference._.translation for b in self.batches for eg in b], "target")
        steps = self.pieces(self.sources, "source")
        row = dict(model=self.name, config=self.variant, train_target_pieces=tokens,
                   parameters=count_torch_parameters(self.translator),
                   target_pieces_per_batch=tokens / len(self.batches),
                   decode_sentences=len(self.sources), decode_steps_per_beam=steps,
                   seconds_per_round=self.times, peak_rss_mib=peak_rss_mib(),
                   gpu_peak_mib=self.gpu_peak if self.device == "gpu" else None)
        row["train_seconds"] = median(self.times["train"])
        row["train_tokens_per_s"] = tokens / row["train_seconds"]
        # the same pairs for every variant, however each segments them
        row["train_pairs_per_s"] = sum(len(b) for b in self.batches) / row["train_seconds"]
        for label in self.searches:
            row[f"{label}_seconds"] = seconds = median(self.times[label])
            row[f"{label}_sents_per_s"] = len(self.sources) / seconds
            row[f"{label}_pieces_per_s"] = steps / seconds
        for label in ("greedy", "beam5"):
            if f"{label}_int8" in self.searches:
                row[f"{label}_int8_speedup"] = row[f"{label}_seconds"] / row[f"{label}_int8_seconds"]
        return row


def count_torch_parameters(translator) -> int:
    return sum(p.numel() for p in torch_module(translator.model.get_ref("core")).parameters())


def decode_searches(device: str) -> Dict[str, Tuple[int, Optional[str]]]:
    """The timed searches: label -> (beam size, quantize); int8 exists on CPU only."""
    searches = {"greedy": (1, None), "beam5": (5, None)}
    if device == "cpu":
        searches.update(greedy_int8=(1, "int8"), beam5_int8=(5, "int8"))
    return searches


def translator_pairs(sizes: Dict) -> List[Tuple[str, str]]:
    """The ``--mt-data`` pairs (enough for the batches and the decoding, else exit saying so),
    or generated ones."""
    if not sizes.get("mt_data"):
        return generate_parallel(sizes["mt_pairs"], sizes, sizes["seed"])
    pairs = read_pairs(sizes["mt_data"], sizes["mt_pairs"])
    needed = (sizes["mt_batches"] + 1) * sizes["mt_batch"] + sizes["mt_decode"]
    if len(pairs) < needed:
        raise SystemExit(f"--mt-data {' '.join(sizes['mt_data'])}: {len(pairs)} non-empty "
                         f"pairs, the translator benchmark needs at least {needed} "
                         f"({sizes['mt_batches']} + 1 batches of {sizes['mt_batch']} and "
                         f"{sizes['mt_decode']} to decode).")
    return pairs


def run_translators(sizes: Dict, device: str, bf16: bool = False) -> List[Dict]:
    """Median over ``repeats`` rounds of training, then of greedy and beam-5 decoding;
    with ``bf16`` each model also trained in bfloat16."""
    pairs = translator_pairs(sizes)
    runs = [TranslatorRun(name, variant, pairs, sizes, device)
            for name, variant in translator_variants(sizes.get("mt_preset", "default"),
                                                      bf16).items()]
    for _ in range(sizes["repeats"]):
        for run in runs:
            run.time_training()
    for run in runs:
        run.force_length()
    for _ in range(sizes["repeats"]):
        for run in runs:
            run.time_decoding()
    rows = [run.row() for run in runs]
    for row in rows:
        log(f"[{device}] {row['model']} ({row['parameters']:,} parameters, "
            f"{row['target_pieces_per_batch']:,.0f} target pieces per batch): "
            f"train {row['train_tokens_per_s']:.0f} tok/s ({row['train_pairs_per_s']:.1f} pairs/s), greedy "
            f"{row['greedy_sents_per_s']:.1f} sent/s, beam5 {row['beam5_sents_per_s']:.1f} sent/s, "
            f"int8 beam5 {int8_cell(row, 'beam5')}")
    return rows


# ----- devices, output -------------------------------------------------------------------------

def run_device(device: str, sizes: Dict, skip_translator: bool, data) -> Dict:
    if device == "gpu":
        require_gpu()
    else:
        require_cpu()
    result = {}
    if not sizes.get("skip_taggers"):
        result.update(tagger=run_taggers(sizes, device, data),
                      peak_rss_mib_after_taggers=peak_rss_mib())
    if not skip_translator:
        bf16 = sizes.get("mt_bf16", False)
        if bf16 and not bf16_supported("cuda" if device == "gpu" else "cpu"):
            bf16 = False
            why = " (an x86 CPU needs AVX512-BF16 or AMX)" if device == "cpu" else ""
            result["translator_note"] = (f"--mt-bf16: this {device} has no bfloat16 kernels{why}, "
                                         "so no bf16-trained rows")
            log(result["translator_note"])
        result["translator"] = run_translators(sizes, device, bf16)
    return result


def run_gpu(sizes: Dict, skip_translator: bool, data) -> Dict:
    if not torch.cuda.is_available():
        return {"skipped": "torch.cuda.is_available() is False: no GPU measurement"}
    try:
        return run_device("gpu", sizes, skip_translator, data)
    except Exception as err:  # e.g. thinc needs cupy for require_gpu()
        return {"skipped": f"GPU run failed: {type(err).__name__}: {err}"}
    finally:
        require_cpu()


def tagger_table(rows: List[Dict]) -> List[str]:
    lines = ["| encoder | train words/s | infer words/s | train x BiLSTM | infer x BiLSTM |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['architecture']} | {r['train_wps']:,.0f} | {r['infer_wps']:,.0f} | "
                     f"{fmt_ratio(r['train_ratio'])} | {fmt_ratio(r['infer_ratio'])} |")
    return lines


def encoder_table(rows: List[Dict]) -> List[str]:
    lines = ["| encoder | fwd+bwd words/s | fwd words/s | fwd+bwd x BiLSTM | fwd x BiLSTM "
             "| share of train time | share of infer time |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['architecture']} | {r['enc_train_wps']:,.0f} | "
                     f"{r['enc_infer_wps']:,.0f} | {fmt_ratio(r['enc_train_ratio'])} | "
                     f"{fmt_ratio(r['enc_infer_ratio'])} | {r['encoder_share_train']:.0%} | "
                     f"{r['encoder_share_infer']:.0%} |")
    return lines


def translator_table(rows: List[Dict]) -> List[str]:
    lines = ["| model | parameters | train target pieces/s | train pairs/s | greedy sents/s | greedy pieces/s | beam-5 sents/s "
             "| int8 greedy sents/s (x) | int8 beam-5 sents/s (x) | peak RSS MiB | GPU peak MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        gpu = "-" if r["gpu_peak_mib"] is None else f"{r['gpu_peak_mib']:,.0f}"
        lines.append(f"| {r['model']} | {r['parameters']:,} | {r['train_tokens_per_s']:,.0f} | "
                     f"{r['train_pairs_per_s']:,.1f} | "
                     f"{r['greedy_sents_per_s']:,.1f} | {r['greedy_pieces_per_s']:,.0f} | "
                     f"{r['beam5_sents_per_s']:,.1f} | {int8_cell(r, 'greedy')} | "
                     f"{int8_cell(r, 'beam5')} | {r['peak_rss_mib']:,.0f} | {gpu} |")
    return lines


def int8_cell(row: Dict, label: str) -> str:
    if f"{label}_int8_sents_per_s" not in row:
        return "-"
    return (f"{row[f'{label}_int8_sents_per_s']:,.1f} "
            f"({fmt_ratio(row[f'{label}_int8_speedup'])})")


def fmt_ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_report(results: Dict) -> str:
    lines = format_header(results["machine"], results["settings"])
    for device, result in results["devices"].items():
        lines += [f"\n== {device} =="] + format_device(result, results["settings"])
    return "\n".join(lines)


def format_header(m: Dict, s: Dict) -> List[str]:
    gpu = f", GPU {m['gpu']} (CUDA {m['cuda']})" if m.get("gpu") else ", no GPU"
    return [f"machine: {m['platform']}, {m['processor']}, {m['cpu_count']} CPUs{gpu}",
            f"python {m['python']}, spacy {m['spacy']}, thinc {m['thinc']}, torch {m['torch']}, "
            f"torch threads {m['torch_threads']}",
            f"width {s['width']}, depth {s['depth']}, {s['batches']} timed batches of "
            f"~{s['words_per_batch']} words ({s['warmup']} warm-up), inference "
            f"{s['infer_words']} words in batches of {s['infer_batch']} docs, median of "
            f"{s['repeats']} rounds, data: {s['data'] or 'generated'}"]


def format_device(result: Dict, s: Dict) -> List[str]:
    if "skipped" in result:
        return [result["skipped"]]
    lines = []
    if "tagger" in result:
        lines += ["", "Tagger (tok2vec + tagger; process peak RSS "
                  f"{result['peak_rss_mib_after_taggers']:,.0f} MiB):"] + tagger_table(result["tagger"])
        lines += ["", "The encode layer alone (same batches, on precomputed embeddings):"]
        lines += encoder_table(result["tagger"])
    if "translator" in result:
        lines += ["", f"Translator ({s['mt_batches']} timed batches of {s['mt_batch']} pairs "
                  f"({' + '.join(s.get('mt_data') or []) or 'generated'}); "
                  f"decoding {s['mt_decode']} sentences in one batch, each exactly "
                  f"source pieces + 1 steps; median of {s['repeats']} rounds; peak RSS "
                  f"is the process peak):"]
        lines += translator_table(result["translator"])
        if "translator_note" in result:
            lines.append(result["translator_note"])
    return lines


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = make_settings(args)
    data = None if args.skip_taggers else tagger_data(sizes)
    results = {"machine": machine_info(args.threads), "settings": sizes, "devices": {}}
    results["devices"]["cpu"] = run_device("cpu", sizes, args.skip_translator, data)
    results["devices"]["gpu"] = run_gpu(sizes, args.skip_translator, data)
    print(format_report(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf8")
    return results


if __name__ == "__main__":
    main()
