"""Run a training or a command once per seed: weasel has no loops, so project.yml calls this.

python -m spacy_rnn.seeds train CONFIG OUTPUT --seeds 0 1 2 --preset converge --patience 1600
    --max-minutes 120 --quick-minutes 10 -- [spacy train overrides, e.g. --paths.train X]
python -m spacy_rnn.seeds each --seeds 0 1 2 -- python scripts/evaluate.py --model OUTPUT/seed{seed} ...

`train` runs `spacy train CONFIG --output OUTPUT/seed<N> --system.seed <N>` with the JSONL log at
OUTPUT/seed<N>/log.jsonl and the preset's budget: "converge" trains until the dev score has not
improved for --patience steps (--max-minutes is only a safety limit), "quick" trains for
--quick-minutes. A seed whose run finished with the same command and the same input files
(seed<N>/seeds.json records both) is skipped, so adding a seed trains only the new one.
`each` runs the command after `--` once per seed, with {seed} replaced by the seed.
"""
import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import srsly
from wasabi import msg

LOGGER = "spacy-rnn.JSONLLogger.v1"
STAMP = "seeds.json"


def budget(args):
    """The spacy train overrides of the preset (the knobs come from project.yml's vars)."""
    if args.preset == "converge":
        return ["--training.patience", str(args.patience),
                "--training.batcher.max_minutes", str(args.max_minutes)]
    return ["--training.patience", "0", "--training.batcher.max_minutes", str(args.quick_minutes)]


def seed_dir(args, seed):
    """Where a seed's run goes: OUTPUT/seed<N> (the pipelines, log.jsonl and seeds.json)."""
    return Path(args.output) / f"seed{seed}"


def train_command(args, seed, overrides):
    out = seed_dir(args, seed)
    return [sys.executable, "-m", "spacy", "train", args.config, "--output", str(out),
            "--system.seed", str(seed), "--training.logger.@loggers", LOGGER,
            "--training.logger.path", str(out / "log.jsonl"), *budget(args), *overrides]


def fingerprint(command):
    """md5 of the command and of the content of every file it names (config, corpora)."""
    digest = hashlib.md5(" ".join(command[1:]).encode("utf8"))  # not the interpreter's path
    for word in command[1:]:
        if Path(word).is_file():
            digest.update(Path(word).read_bytes())
    return digest.hexdigest()


def is_done(out, checkpoint, stamp):
    """True if out holds a finished run (its checkpoint) of the same command and inputs."""
    recorded = out / STAMP
    return ((out / checkpoint).is_dir() and recorded.is_file()
            and srsly.read_json(recorded) == stamp)


def run(command):
    """Run command; exit with its code if it fails."""
    code = subprocess.run(command).returncode
    if code != 0:
        msg.fail(f"Failed (exit code {code}): {' '.join(command)}", exits=code)


def train(args, overrides):
    for seed in args.seeds:
        command, out = train_command(args, seed, overrides), seed_dir(args, seed)
        stamp = {"command": command[1:], "fingerprint": fingerprint(command)}
        if is_done(out, args.checkpoint, stamp):
            msg.info(f"Skipping seed {seed}: {out} holds a finished run of the same command and inputs")
            continue
        msg.divider(f"{args.config} | seed {seed} | preset {args.preset}")
        shutil.rmtree(out, ignore_errors=True)  # no file of an older run stays beside the new one
        run(command)
        srsly.write_json(out / STAMP, stamp)


def each(seeds, command):
    if not command:
        msg.fail("Nothing to run: put the command after --, with {seed} where the seed goes", exits=1)
    program = [sys.executable] if command[0] == "python" else command[:1]  # this environment's python
    for seed in seeds:
        run(program + [word.replace("{seed}", str(seed)) for word in command[1:]])


def parser():
    main = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    sub = main.add_subparsers(dest="mode", required=True)
    grid = sub.add_parser("train", help="spacy train once per seed", allow_abbrev=False)
    grid.add_argument("config")
    grid.add_argument("output", help="the runs go to OUTPUT/seed<N>")
    grid.add_argument("--preset", choices=["converge", "quick"], required=True)
    grid.add_argument("--patience", type=int, required=True, help="converge: spaCy's [training] patience")
    grid.add_argument("--max-minutes", type=float, required=True, help="converge: wall-clock limit per run")
    grid.add_argument("--quick-minutes", type=float, required=True, help="quick: wall-clock budget per run")
    grid.add_argument("--checkpoint", default="model-best", help="the saved pipeline a finished run has")
    for mode in (grid, sub.add_parser("each", help="a command once per seed", allow_abbrev=False)):
        mode.add_argument("--seeds", type=int, nargs="+", required=True)
    return main


def main(argv):
    """Options before --; after it the command (each) or the spacy train overrides (train)."""
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser().parse_args(argv[:split])
    if args.mode == "each":
        each(args.seeds, argv[split + 1:])
    else:
        train(args, argv[split + 1:])


if __name__ == "__main__":
    main(sys.argv[1:])
