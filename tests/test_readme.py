"""The table of registered names (docs/REFERENCE.md, linked from the README) states the
defaults the code has: each `name=value` in its arguments column is checked against the
function's signature (architectures, readers, scorers, ...) or the factory's default_config (components), so the defaults are defined once, in
the code, and the README cannot drift from them."""
import ast
import inspect
import re
from pathlib import Path

import pytest
from spacy.language import Language
from spacy.util import registry

import spacy_rnn  # noqa: F401  (registers the names)

README = Path(__file__).parent.parent / "docs" / "REFERENCE.md"
REGISTRIES = {"architecture": registry.architectures, "reader": registry.readers,
              "scorer": registry.scorers, "batcher": registry.batchers,
              "logger": registry.loggers, "callback": registry.callbacks}


def table_rows():
    """(name, kind, {argument: default}, argument cell) for each row of the README's registered-names table."""
    text = README.read_text(encoding="utf8")
    section = text.split("# Registered names", 1)[1]
    for line in section.splitlines():
        match = re.match(r"\| `([^`]+)` \| (\w+)[^|]* \| (.*) \|$", line)
        if match:
            name, kind, arguments = match.groups()
            yield name, kind, dict(re.findall(r"`(\w+)=([^`]+)`", arguments)), arguments


def argument_names(arguments: str):
    """The argument each top-level item of an arguments cell starts with (`name` or
    `name=default`), up to the first top-level ";" or "->" (what follows describes other things)."""
    items, depth, current = [], 0, ""
    for i, char in enumerate(arguments):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if depth == 0 and (char == ";" or arguments.startswith("->", i)):
            break
        if depth == 0 and char == ",":
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [m.group(1) for m in (re.match(r"\s*`(\w+)(?:=[^`]*)?`", item) for item in items) if m]


def parse(value: str):
    try:
        return ast.literal_eval(value.replace("true", "True").replace("false", "False")
                                .replace("null", "None"))
    except (ValueError, SyntaxError):
        return value  # e.g. CharEmbed.v1(): not a literal, not checked


ROWS = list(table_rows())


def test_argument_names_stop_where_the_arguments_end():
    assert argument_names("`path`, `console=True` (a, `b`), `x`: y; `sentencepiece_model`") == ["path", "console", "x"]
    assert argument_names("`lowercase=False` -> `bleu`, `chrf`") == ["lowercase"]


def test_the_table_was_found():
    assert len(ROWS) >= 12
    assert {"spacy-rnn.Seq2SeqTranslator.v1", "rnn_translator", "rnn_tagger"} <= {r[0] for r in ROWS}


@pytest.mark.parametrize("name,kind,defaults,arguments", [r for r in ROWS if r[1] in REGISTRIES],
                         ids=[r[0] for r in ROWS if r[1] in REGISTRIES])
def test_registered_function_defaults(name, kind, defaults, arguments):
    signature = inspect.signature(REGISTRIES[kind].get(name))
    for argument in argument_names(arguments):  # also those listed without a default
        assert argument in signature.parameters, f"{name}: README names no such argument {argument}"
    for argument, value in defaults.items():
        assert argument in signature.parameters, f"{name}: README names no such argument {argument}"
        expected = parse(value)
        if isinstance(expected, str) and expected.endswith("()"):
            continue
        assert signature.parameters[argument].default == expected, (name, argument)


@pytest.mark.parametrize("name,kind,defaults,arguments", [r for r in ROWS if r[1] == "factory"],
                         ids=[r[0] for r in ROWS if r[1] == "factory"])
def test_factory_defaults(name, kind, defaults, arguments):
    config = Language.get_factory_meta(name).default_config
    for argument in argument_names(arguments):
        assert argument in config, f"{name}: README names no such setting {argument}"
    for argument, value in defaults.items():
        assert argument in config, f"{name}: README names no such setting {argument}"
        assert config[argument] == parse(value), (name, argument)


def test_translator_factory_model_matches_the_architecture_signature():
    """The factory's default model config and the architecture's own defaults are the same values."""
    model = Language.get_factory_meta("rnn_translator").default_config["model"]
    signature = inspect.signature(registry.architectures.get(model["@architectures"]))
    for argument, value in model.items():
        if not argument.startswith("@"):
            assert signature.parameters[argument].default == value, argument


def decoding_rows():
    """(setting, default) for each setting of the translator's decoding-settings table."""
    section = README.read_text(encoding="utf8").split("## Decoding settings of `rnn_translator`", 1)[1]
    for line in section.splitlines():
        match = re.match(r"\| (`\w+`(?:, `\w+`)*) \| ([^|]+) \|", line)
        if match:
            names = re.findall(r"`(\w+)`", match.group(1))
            yield from zip(names, [v.strip() for v in match.group(2).split(",")], strict=True)


def test_translator_decoding_settings_table_matches_the_factory():
    config = Language.get_factory_meta("rnn_translator").default_config
    rows = dict(decoding_rows())
    assert {"beam_size", "length_penalty", "n_best", "quantize"} <= set(rows)
    for setting, value in rows.items():
        assert config[setting] == parse(value), setting
