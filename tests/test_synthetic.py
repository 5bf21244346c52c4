"""Tests for the synthetic long-distance corpora (spacy_rnn.synthetic)."""
import json
import random
from collections import defaultdict

import pytest

from spacy_rnn import synthetic as syn

N = 240
MAX_D = 40
VERB_TAGS = ("VERB_SG", "VERB_PL")
X_VERBS = {**syn.X_TRANSITIVE, **syn.X_INTRANSITIVE}


@pytest.fixture(scope="module")
def tagging():
    return syn.generate_tagging(N, MAX_D, seed=0)


@pytest.fixture(scope="module")
def translation():
    return syn.generate_translation(N, MAX_D, seed=0)


def recompute_links(tags):
    """Independent re-parse from tags: DET opens a subject, ADP an oblique noun,
    a verb closes the most recent open subject. Returns [(controller, target)]."""
    stack, links, subject_next = [], [], False
    for i, tag in enumerate(tags):
        if tag in ("DET", "ADP"):
            subject_next = tag == "DET"
        elif tag.startswith("NOUN"):
            if subject_next:
                stack.append(i)
            subject_next = False
        elif tag in VERB_TAGS:
            links.append((stack.pop(), i))
    assert not stack, "every subject gets a verb"
    return links


# ------------------------------------------------------------------ determinism
def test_same_seed_same_records_different_seed_different():
    assert syn.generate_tagging(50, MAX_D, seed=3) == syn.generate_tagging(50, MAX_D, seed=3)
    assert syn.generate_tagging(50, MAX_D, seed=3) != syn.generate_tagging(50, MAX_D, seed=4)
    pairs = syn.generate_translation(50, MAX_D, seed=3)
    assert pairs == syn.generate_translation(50, MAX_D, seed=3)
    assert pairs != syn.generate_translation(50, MAX_D, seed=4)


def run_cli(out, seed, *extra):
    args = ["--out", str(out), "--seed", str(seed), "--n-train", "60", "--n-dev", "20",
            "--n-test", "20", *extra]
    return syn.main(args)


def test_cli_files_byte_identical_for_same_seed(tmp_path):
    first = run_cli(tmp_path / "a", 0)
    run_cli(tmp_path / "b", 0)
    run_cli(tmp_path / "c", 1)
    assert first
    for path in first:
        rel = path.relative_to(tmp_path / "a")
        assert path.read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
        if path.suffix != ".json":
            assert path.read_bytes() != (tmp_path / "c" / rel).read_bytes(), rel


# ------------------------------------------------------------------------ tagging
def test_tagging_record_format(tagging):
    for record in tagging:
        assert set(record) == {"words", "tags", "distance", "targets", "controllers"}
        assert len(record["words"]) == len(record["tags"]) > 0
        assert all(isinstance(w, str) and w and " " not in w for w in record["words"])
        assert len(record["words"]) <= MAX_D + 10


def test_tagging_distance_and_targets_match_the_sentence(tagging):
    for record in tagging:
        links = recompute_links(record["tags"])
        assert [t for _, t in links] == record["targets"]
        assert [c for c, _ in links] == record["controllers"]
        assert record["distance"] == max(t - c for c, t in links)
        verbs = [i for i, tag in enumerate(record["tags"]) if tag in VERB_TAGS]
        assert verbs == record["targets"]


def test_tagging_tags_equal_rule_based_reference(tagging):
    for record in tagging:
        tags, links = syn.annotate(record["words"])
        assert tags == record["tags"]
        assert sorted(links, key=lambda link: link[1]) == list(
            zip(record["controllers"], record["targets"]))


def test_flipping_the_controller_flips_only_its_target(tagging):
    for record in tagging[:80]:
        for controller, target in zip(record["controllers"], record["targets"]):
            words = list(record["words"])
            words[controller] = syn.flip_number(words[controller])
            tags, _ = syn.annotate(words)
            changed = {i for i, (a, b) in enumerate(zip(tags, record["tags"])) if a != b}
            assert changed == {controller, target}
            assert tags[target] != record["tags"][target] and tags[target] in VERB_TAGS


def test_flipping_a_noun_that_controls_nothing_changes_no_verb(tagging):
    flipped = 0
    for record in tagging[:80]:
        for i, tag in enumerate(record["tags"]):
            if tag.startswith("NOUN") and i not in record["controllers"]:
                words = list(record["words"])
                words[i] = syn.flip_number(words[i])
                tags, _ = syn.annotate(words)
                assert [t for j, t in enumerate(tags) if j != i] == [
                    t for j, t in enumerate(record["tags"]) if j != i]
                flipped += 1
    assert flipped > 50


def test_verb_form_alone_does_not_reveal_its_tag(tagging):
    seen = defaultdict(set)
    for record in tagging:
        for i in record["targets"]:
            seen[record["words"][i]].add(record["tags"][i])
    assert set(seen) == set(syn.T_VERBS)
    assert all(tags == set(VERB_TAGS) for tags in seen.values())


def test_intervening_nouns_of_the_other_number_occur(tagging):
    """Attractors: a noun of the other number between controller and target."""
    count = 0
    for record in tagging:
        c, t = record["controllers"][-1], record["targets"][-1]
        number = record["tags"][c][-2:]
        count += any(tag.startswith("NOUN") and tag[-2:] != number
                     for tag in record["tags"][c + 1:t])
    assert count > len(tagging) // 4


def test_several_agreements_are_carried_at_once(tagging):
    nested = [r for r in tagging if len(r["targets"]) >= 3]
    assert len(nested) > len(tagging) // 5


def test_distances_cover_the_range_evenly(tagging, translation):
    for records in (tagging, translation):
        counts = defaultdict(int)
        for record in records:
            counts[record["distance"]] += 1
        assert set(counts) == set(range(1, MAX_D + 1))
        assert max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize("max_distance", [1, 7, 60])
def test_other_max_distances(max_distance):
    for records in (syn.generate_tagging(max_distance, max_distance),
                    syn.generate_translation(max_distance, max_distance)):
        assert sorted(r["distance"] for r in records) == list(range(1, max_distance + 1))


# -------------------------------------------------------------------- translation
def source_distance(source):
    """Main subject noun is token 1; the main verb is the last verb."""
    words = source.split()
    last_verb = max(i for i, w in enumerate(words) if w in X_VERBS)
    return last_verb - 1


def target_number(verb):
    return "pl" if verb.endswith(syn.X_VERB_SUFFIX["pl"]) else "sg"


def source_number(noun):
    for src_sg, src_pl, _, _ in syn.X_ACTORS:
        if noun in (src_sg, src_pl):
            return "sg" if noun == src_sg else "pl"
    raise AssertionError(noun)


def target_verbs(target):
    stems = {stem + suffix for stem in X_VERBS.values() for suffix in syn.X_VERB_SUFFIX.values()}
    return [w for w in target.split() if w in stems]


def test_translation_record_format(translation):
    for record in translation:
        assert set(record) == {"source", "target", "distance"}
        assert record["source"].endswith(" .") and record["target"].endswith(" .")
        assert "\n" not in record["source"] + record["target"]
        assert len(record["source"].split()) <= 50


def test_translation_distance_matches_the_source(translation):
    for record in translation:
        assert record["distance"] == source_distance(record["source"])


def test_main_verb_agrees_with_distant_subject(translation):
    for record in translation:
        subject = record["source"].split()[1]
        assert target_number(target_verbs(record["target"])[-1]) == source_number(subject)


def test_clause_verbs_move_to_the_end_in_reverse_order(translation):
    """Source verbs v1 (outer clause) .. vk (inner), main; target vk .. v1, main."""
    for record in translation:
        src_verbs = [X_VERBS[w] for w in record["source"].split() if w in X_VERBS]
        tgt_verbs = target_verbs(record["target"])
        stems = [v[: -len(syn.X_VERB_SUFFIX[target_number(v)])] for v in tgt_verbs]
        assert stems == src_verbs[-2::-1] + src_verbs[-1:]
        words = record["target"].split()
        first = words.index(tgt_verbs[0])
        between = words[first:words.index(tgt_verbs[-1])]
        assert all(w in tgt_verbs or w in syn.X_ADVERBS.values() for w in between)


def test_source_verb_form_does_not_reveal_target_agreement(translation):
    seen = defaultdict(set)
    for record in translation:
        src_main = [w for w in record["source"].split() if w in X_VERBS][-1]
        seen[src_main].add(target_number(target_verbs(record["target"])[-1]))
    assert all(numbers == {"sg", "pl"} for numbers in seen.values())
    assert len(seen) == len(X_VERBS)


def test_translation_is_a_function_of_the_source():
    """Many short pairs, duplicates allowed: one source never gets two targets."""
    rng = random.Random(0)
    mapping = {}
    for i in range(3000):
        record = syn.translation_pair(rng, 1 + i % 12)
        assert mapping.setdefault(record["source"], record["target"]) == record["target"]
    assert len(mapping) < 3000  # there were repeats to compare


# ---------------------------------------------------------------------- files
def test_cli_writes_all_files(tmp_path, capsys):
    paths = run_cli(tmp_path, 0, "--max-distance", "12")
    assert "KB in total" in capsys.readouterr().out
    for split, n in (("train", 60), ("dev", 20), ("test", 20)):
        tagging = [json.loads(line) for line in
                   (tmp_path / "tagging" / f"{split}.jsonl").read_text("utf8").splitlines()]
        assert len(tagging) == n and max(r["distance"] for r in tagging) == 12
        base = tmp_path / "translation" / split
        pairs = [json.loads(line) for line in base.with_suffix(".jsonl").open(encoding="utf8")]
        assert base.with_suffix(".src").read_text("utf8").splitlines() == [
            p["source"] for p in pairs]
        assert base.with_suffix(".tgt").read_text("utf8").splitlines() == [
            p["target"] for p in pairs]
        assert len(pairs) == n
    assert (tmp_path / "meta.json") in paths
    assert json.loads((tmp_path / "meta.json").read_text())["seed"] == 0


def test_splits_do_not_share_sentences(tmp_path):
    run_cli(tmp_path, 0, "--tasks", "tagging")
    sentences = {}
    for split in syn.SPLITS:
        path = tmp_path / "tagging" / f"{split}.jsonl"
        sentences[split] = {" ".join(json.loads(line)["words"]) for line in path.open()}
    assert not sentences["train"] & (sentences["dev"] | sentences["test"])


def test_to_docbin_round_trip(tmp_path):
    import spacy
    from spacy.tokens import DocBin

    run_cli(tmp_path, 0, "--tasks", "tagging")
    src = tmp_path / "tagging" / "dev.jsonl"
    records = [json.loads(line) for line in src.open(encoding="utf8")]
    out = tmp_path / "dev.spacy"
    assert syn.to_docbin(src, out) == len(records)
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("xx").vocab))
    assert len(docs) == len(records)
    for doc, record in zip(docs, records):
        assert [t.text for t in doc] == record["words"]
        assert [t.tag_ for t in doc] == record["tags"]
        assert doc.user_data["distance"] == record["distance"]
        # msgpack hands lists back as tuples
        assert list(doc.user_data["targets"]) == record["targets"]
        assert list(doc.user_data["controllers"]) == record["controllers"]


def test_cli_to_docbin_and_docbin_flag(tmp_path):
    run_cli(tmp_path, 0, "--tasks", "tagging", "--docbin")
    assert (tmp_path / "tagging" / "train.spacy").exists()
    out = tmp_path / "converted.spacy"
    syn.main(["--to-docbin", str(tmp_path / "tagging" / "test.jsonl"), str(out)])
    assert out.read_bytes() == (tmp_path / "tagging" / "test.spacy").read_bytes()


def test_module_does_not_import_torch():
    """The generator is plain Python: it imports neither torch nor the package's torch layers."""
    from test_layout import imported_modules

    with open(syn.__file__, encoding="utf8") as file:
        imported = set(imported_modules(file.read(), "spacy_rnn"))
    assert not {m for m in imported if m.split(".")[0] == "torch"
                or m.startswith(("spacy_rnn.torch", "spacy_rnn.architectures"))}, imported


@pytest.mark.parametrize("bad_line,message", [
    ("", "blank line; every line must hold one JSON record: remove it"),
    ('{"words": ["dax"], "tags": ["NOUN_SG"]', "not valid JSON (Expecting ',' delimiter at column"),
    ('["dax", "NOUN_SG"]', 'expected a JSON object with "words" and "tags" lists, got'),
    ('{"words": ["ze", "dax"]}', 'expected a JSON object with "words" and "tags" lists, got'),
    ('{"words": ["ze", "dax"], "tags": ["DET"]}', "2 words but 1 tags: every word needs exactly"),
], ids=["blank", "bad_json", "not_an_object", "no_tags", "lengths_differ"])
def test_to_docbin_names_file_and_line_of_a_bad_line(tmp_path, bad_line, message):
    good = json.dumps({"words": ["ze", "dax", "."], "tags": ["DET", "NOUN_SG", "PUNCT"]})
    src = tmp_path / "train.jsonl"
    src.write_text(f"{good}\n{good}\n{bad_line}\n{good}\n", encoding="utf8")
    with pytest.raises(ValueError) as info:
        syn.to_docbin(src, tmp_path / "train.spacy")
    assert str(info.value).startswith(f"{src}, line 3: {message}")
    assert not (tmp_path / "train.spacy").exists()
