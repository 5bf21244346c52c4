"""Translator training speed against OpenNMT-py's RNN model, same size, same batches, one process.

OpenNMT-py is the reference RNN NMT toolkit for the translator's training-speed target: a
bi-LSTM encoder (2 layers, 256 units per direction), a 2-layer 512-unit LSTM decoder with
Bahdanau ("mlp") attention, with and without input feeding, embeddings of 256 and 8,000-piece
vocabularies (``--mt-preset reference`` of ``python -m spacy_rnn.benchmarks.run``). This command
builds that model with OpenNMT-py's own model builder and the ``rnn_translator``'s
``Seq2Seq`` with the same settings, and times training steps of both on the same batches:

- the pairs are the ``--mt-data`` files (default: generated pairs), SentencePiece-encoded
  by an ``rnn_translator`` initialized on them, in batches of ``--batch`` pairs (256,
  about 4,250 target pieces on Multi30k, close to the common 4,096-token batches);
- each batch is sorted by target length and run as sub-batches of ``--group`` pairs (64, the
  translator's ``train_group_size``; OpenNMT-py's trainer also batches length-sorted pairs),
  the same padded tensors for both models;
- a step is the forward pass, the summed cross-entropy over the batch's target pieces
  divided by their number (each toolkit's own way: the translator's output layer sees the
  real target positions only and its decoder little padding, OpenNMT-py's trainer runs its
  decoder and generator on the padded positions too and ignores them in the loss), the
  backward pass and one ``torch.optim.Adam`` step, with dropout 0.1 in both. Module level on both sides: no data loading, no SentencePiece, no logging, so
  OpenNMT-py's trainer overheads are not counted against it.

The two models take turns within each of ``--repeats`` rounds; medians are reported.

OpenNMT-py 3.5 pins torch < 2.3, so install it next to your torch without its dependencies::

    pip install --no-deps OpenNMT-py==3.5.1 configargparse pyonmttok pyahocorasick rapidfuzz fasttext-wheel
    python -m spacy_rnn.benchmarks.onmt --mt-data train.en.gz train.de.gz --out onmt.json
"""
import argparse
import json
import time
import warnings
from statistics import median
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from . import run as harness
from ..architectures.sentencepiece import PAD_ID
from ..architectures.translator import training_batch, training_pieces, length_groups, torch_module
from ..torch.seq2seq import sequence_loss

INSTALL = ("pip install --no-deps OpenNMT-py==3.5.1 configargparse pyonmttok pyahocorasick "
           "rapidfuzz fasttext-wheel")
Group = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m spacy_rnn.benchmarks.onmt",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--mt-data", nargs=2, metavar=("SOURCE", "TARGET"),
                        help="parallel text files (default: generated pairs)")
    parser.add_argument("--batch", type=int, default=256, help="pairs per optimizer step")
    parser.add_argument("--group", type=int, default=64, help="pairs per sub-batch")
    parser.add_argument("--batches", type=int, default=3, help="timed batches per round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for tests")
    parser.add_argument("--out", help="write the results as JSON here")
    return parser.parse_args(argv)


def import_onmt():
    """OpenNMT-py's model builder and options, or exit saying how to install it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its FutureWarnings about torch.cuda.amp
            import onmt
            import onmt.opts
            from onmt.model_builder import build_base_model
            from onmt.utils.parse import ArgumentParser
    except ImportError as err:
        raise SystemExit(f"OpenNMT-py is needed for this comparison and could not be imported "
                         f"({err}). Install it next to your torch with:\n    {INSTALL}") from err
    return onmt, build_base_model, ArgumentParser


class _Vocab:
    """What OpenNMT-py's model builder reads from a vocabulary: its size and padding id."""

    def __init__(self, size: int):
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, token: str) -> int:
        return PAD_ID


def onmt_options(sizes: Dict, input_feeding: bool) -> List[str]:
    """OpenNMT-py command-line options for the model of ``sizes`` (see the module docstring)."""
    hidden, emb = str(sizes["mt_hidden"]), str(sizes["mt_emb"])
    return ["-encoder_type", "brnn", "-decoder_type", "rnn", "-rnn_type", "LSTM",
            "-enc_layers", "2", "-dec_layers", "2", "-enc_hid_size", hidden, "-dec_hid_size", hidden,
            "-word_vec_size", emb, "-global_attention", "mlp", "-input_feed", str(int(input_feeding)),
            "-dropout", str(harness.TRAIN_DROPOUT), "-model_type", "text"]


def build_onmt(sizes: Dict, vocabs: Tuple[int, int], input_feeding: bool) -> torch.nn.Module:
    """OpenNMT-py's NMTModel (with its generator) for the options of :func:`onmt_options`."""
    onmt, build_base_model, ArgumentParser = import_onmt()
    parser = ArgumentParser()
    onmt.opts.model_opts(parser)
    onmt.opts._add_train_general_opts(parser)
    opt = parser.parse_args(onmt_options(sizes, input_feeding))
    ArgumentParser.update_model_opts(opt)
    ArgumentParser.validate_model_opts(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_base_model(opt, {"src": _Vocab(vocabs[0]), "tgt": _Vocab(vocabs[1])})


def pair_groups(core, batches: List[List], group: int) -> List[List[Group]]:
    """Per batch of examples, its sub-batches as the translator's training builds them:
    (src, src_lengths, tgt_in, tgt_out), sorted by target length."""
    out = []
    for batch in batches:
        sources = [eg.reference.text for eg in batch]
        targets = [eg.reference._.translation for eg in batch]
        src_rows, tgt_rows = training_pieces(core, sources, targets)
        out.append([training_batch(core, [src_rows[i] for i in g], [tgt_rows[i] for i in g])
                    for g in length_groups([len(r) for r in tgt_rows], group)])
    return out


def target_pieces(groups: List[Group]) -> int:
    """Real target positions (pieces and EOS) of the groups."""
    return sum(int((g[3] != PAD_ID).sum()) for g in groups)


def ours_loss(model, group: Group) -> torch.Tensor:
    """The summed loss as the translator's training computes it (``Seq2Seq.loss``)."""
    return model.loss(*group)[0]


def onmt_loss(model, group: Group) -> torch.Tensor:
    """The summed loss as OpenNMT-py's trainer computes it: its generator on every target
    position, cross-entropy ignoring padding. Its model takes (B, S, 1) sources and the whole
    (B, T + 1, 1) target, BOS first."""
    src, src_lengths, tgt_in, tgt_out = group
    tgt = torch.cat([tgt_in[:, :1], tgt_out], dim=1)
    dec_out, _ = model(src.unsqueeze(-1), tgt.unsqueeze(-1), src_lengths)
    if dec_out.shape[:2] != tgt_out.shape:
        raise RuntimeError(f"OpenNMT-py decoder output {tuple(dec_out.shape)} does not match the "
                           f"targets {tuple(tgt_out.shape)} (batch first expected)")
    return sequence_loss(model.generator(dec_out), tgt_out, PAD_ID)[0]


class Trainer:
    """A model, its summed-loss function and an Adam optimizer; :meth:`step` trains on one batch."""

    def __init__(self, model: torch.nn.Module, loss_fn, learn_rate: float = 1e-3):
        self.model, self.loss_fn = model.train(), loss_fn
        self.optimizer = torch.optim.Adam(model.parameters(), lr=learn_rate)

    def step(self, groups: List[Group]) -> float:
        n_tokens = target_pieces(groups)
        total = 0.0
        for group in groups:
            loss = self.loss_fn(self.model, group) / n_tokens
            loss.backward()
            total += float(loss.detach())
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def make_trainers(sizes: Dict, pairs: List, variant: Dict):
    """The translator pipeline (initialized on the pairs), its batches' groups, and both trainers."""
    run = harness.TranslatorRun("ours", variant, pairs, sizes, "cpu")
    core = run.translator.model.get_ref("core")
    module = torch_module(core)
    vocabs = (module.config["src_vocab"], module.config["tgt_vocab"])
    trainers = {"spacy-rnn": Trainer(module, ours_loss),
                "OpenNMT-py": Trainer(build_onmt(sizes, vocabs, variant["input_feeding"]), onmt_loss)}
    return pair_groups(core, run.batches, sizes["group"]), trainers


def time_model(sizes: Dict, pairs: List, variant: Dict) -> Dict:
    """Training target pieces/s of both models, median of the rounds, and their ratio."""
    input_feeding = variant["input_feeding"]
    batches, trainers = make_trainers(sizes, pairs, variant)
    for trainer in trainers.values():
        trainer.step(batches[0])  # warm-up
    timed = batches[1:]
    pieces = sum(target_pieces(groups) for groups in timed)
    seconds: Dict[str, List[float]] = {name: [] for name in trainers}
    for r in range(sizes["repeats"]):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            for groups in timed:
                trainer.step(groups)
            seconds[name].append(time.perf_counter() - start)
            harness.log(f"input feeding {input_feeding}, round {r + 1}: {name} {seconds[name][-1]:.2f} s")
    row = {"input_feeding": input_feeding, "target_pieces": pieces, "seconds": seconds}
    for name, trainer in trainers.items():
        row[name] = {"parameters": trainer.parameters(), "pieces_per_s": pieces / median(seconds[name])}
    row["ratio"] = row["spacy-rnn"]["pieces_per_s"] / row["OpenNMT-py"]["pieces_per_s"]
    return row


def settings(args: argparse.Namespace) -> Dict:
    preset = ["--mt-preset", "reference"] + (["--quick"] if args.quick else [])
    sizes = harness.make_settings(harness.parse_args(preset))
    sizes.update(mt_batch=args.batch, mt_batches=args.batches + 1, repeats=args.repeats,
                 group=args.group, mt_data=list(args.mt_data or []))
    if args.quick:
        sizes.update(mt_batch=min(args.batch, 8), group=min(args.group, 4))
    needed = (sizes["mt_batches"] + 1) * sizes["mt_batch"] + sizes["mt_decode"]
    sizes["mt_pairs"] = max(sizes["mt_pairs"], needed)
    return sizes


def report(results: Dict) -> str:
    m, s = results["machine"], results["settings"]
    lines = [f"machine: {m['platform']}, {m['processor']}, torch threads {m['torch_threads']}",
             f"torch {m['torch']}, OpenNMT-py {results['onmt_version']}; batches of {s['mt_batch']} pairs "
             f"in sub-batches of {s['group']}, {s['mt_batches'] - 1} timed, median of {s['repeats']} rounds, "
             f"data: {' '.join(s['mt_data']) or 'generated'}", "",
             "| model | parameters spacy-rnn / OpenNMT-py | spacy-rnn target pieces/s | "
             "OpenNMT-py target pieces/s | ratio |", "| --- | ---: | ---: | ---: | ---: |"]
    for row in results["rows"]:
        ours, onmt = row["spacy-rnn"], row["OpenNMT-py"]
        name = "2+2-layer lstm + bahdanau" + (" + input feeding" if row["input_feeding"] else "")
        lines.append(f"| {name} | {ours['parameters']:,} / {onmt['parameters']:,} | "
                     f"{ours['pieces_per_s']:,.0f} | {onmt['pieces_per_s']:,.0f} | {row['ratio']:.2f}x |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    args = parse_args(argv)
    onmt = import_onmt()[0]
    torch.set_num_threads(args.threads)
    sizes = settings(args)
    pairs = harness.translator_pairs(sizes)
    variants = harness.translator_variants("reference").values()  # with, without input feeding
    results = {"machine": harness.machine_info(args.threads),
               "onmt_version": getattr(onmt, "__version__", "unknown"), "settings": sizes,
               "rows": [time_model(sizes, pairs, variant) for variant in variants]}
    print(report(results))
    if args.out:
        with open(args.out, "w", encoding="utf8") as file:
            file.write(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
