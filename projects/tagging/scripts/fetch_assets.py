"""Put the project's assets in place and verify their md5 checksums.

python scripts/fetch_assets.py project.yml --data-dir ../../../shared/data
python scripts/fetch_assets.py project.yml --data-dir ""      # after `spacy project assets`

With a data dir, each asset of project.yml is copied from the local folder (the layout of the
asset's `dest` under assets/, e.g. ud_en_ewt/train.conllu, or the name of its URL in the same
folder); a --fallback names another local file (with its own md5) to use when neither exists.
Without one, the assets must already be in place (`python -m spacy project assets` downloads
them). Every file is checked against its expected md5 before it is used: a mismatch is refused
(exit 1) and nothing is copied. --checksums FILE (JSON: local name or dest -> md5) overrides
the expected checksums, for example for small test corpora. assets/provenance.json records
where each asset came from and its md5.
"""
import argparse
import hashlib
import shutil
import sys
from pathlib import Path

import srsly
from wasabi import msg

PROVENANCE = "assets/provenance.json"


def md5sum(path):
    digest = hashlib.md5()
    with open(path, "rb") as file_:
        for chunk in iter(lambda: file_.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_fallbacks(items):
    """["assets/x/train.iob2=x/train.draft.iob2:MD5", ...] -> {dest: (local name, md5)}"""
    fallbacks = {}
    for item in items:
        dest, _, rest = item.partition("=")
        name, _, checksum = rest.partition(":")
        if not dest or not name:
            msg.fail(f"Bad --fallback {item!r}: use DEST=LOCAL_NAME[:MD5]", exits=1)
        fallbacks[dest] = (name, checksum or None)
    return fallbacks


def read_checksums(path):
    """The checksum override file (JSON: local name or dest -> md5); {} without one."""
    if not path:
        return {}
    fix = "fix --vars.checksums, or set it to \"\" to check the checksums of project.yml"
    if not Path(path).is_file():
        msg.fail(f"Checksum override file {path} not found (working directory {Path.cwd()})",
                 fix, exits=1)
    try:
        overrides = srsly.read_json(path)
        problem = None if isinstance(overrides, dict) else f"a JSON {type(overrides).__name__}"
    except ValueError as err:
        problem = f"not valid JSON: {err}"
    if problem:
        msg.fail(f"Cannot read the checksum override file {path} ({problem})",
                 f"it must be a JSON object {{\"folder/file\": \"<md5>\", ...}}; {fix}", exits=1)
    return overrides


def local_names(asset):
    """Names under the data dir that may hold this asset: dest without assets/, then the URL's name."""
    dest = Path(asset["dest"])
    relative = dest.relative_to("assets") if dest.parts[0] == "assets" else dest
    names = [relative.as_posix()]
    if asset.get("url"):
        by_url = (relative.parent / asset["url"].rsplit("/", 1)[-1]).as_posix()
        names += [by_url] if by_url not in names else []
    return names


def expectation(keys, overrides, default, default_from):
    """(expected md5, where it comes from): the override file (by any of keys) or the default."""
    for key in keys:
        if key in overrides:
            return overrides[key], "checksum override file"
    return default, default_from if default else None


def candidates(asset, fallbacks, overrides):
    """(local name, (expected md5, its origin), is_fallback) in order of preference."""
    dest = asset["dest"]
    found = [(name, expectation([name, dest], overrides, asset.get("checksum"), "project.yml"), False)
             for name in local_names(asset)]
    if dest in fallbacks:
        name, checksum = fallbacks[dest]
        found.append((name, expectation([name], overrides, checksum, "--fallback"), True))
    return found


def verify(path, expected, origin):
    """The md5 of path; exits with a clear message when it is not the expected one."""
    actual = md5sum(path)
    if expected and actual != expected.lower():
        msg.fail(f"Checksum mismatch, refusing {path}",
                 f"expected md5 {expected}, actual md5 {actual}. The file is corrupt, truncated "
                 f"or another version. Replace it with a fresh copy of {origin or 'the original file'} "
                 f"(or delete it and rerun); if you use a different file on purpose, put its md5 "
                 f"in a checksum override file (--vars.checksums FILE).", exits=1)
    if not expected:
        msg.warn(f"No checksum declared for {path}: not verified (md5 {actual})")
    return actual


def from_data_dir(asset, data_dir, fallbacks, overrides):
    """Verify and copy the first local candidate of an asset into its dest."""
    tried = []
    for name, (expected, expected_from), is_fallback in candidates(asset, fallbacks, overrides):
        source = data_dir / name
        tried.append(str(source))
        if source.is_file():
            origin = "the original file" if is_fallback else asset.get("url")
            actual = verify(source, expected, origin)
            Path(asset["dest"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, asset["dest"])
            note = " (fallback: not the file of the URL)" if is_fallback else ""
            msg.good(f"Copied {source} -> {asset['dest']}{note}")
            return record(str(source), actual, expected, expected_from, is_fallback, asset)
    msg.fail(f"No local copy of {asset['dest']} in {data_dir}", "looked for: " + ", ".join(tried) +
             ". Fix --vars.data_dir, or set it to \"\" and run `python -m spacy project assets`.",
             exits=1)


def in_place(asset, fallbacks, overrides):
    """Verify an asset that `spacy project assets` (or an earlier fetch) put in place."""
    dest = Path(asset["dest"])
    if not dest.is_file():
        msg.fail(f"Missing asset {dest}",
                 "run `python -m spacy project assets` first (it downloads the assets from their "
                 "URLs), or pass --vars.data_dir FOLDER with local copies of the corpora.", exits=1)
    keys = [asset["dest"], local_names(asset)[0]]
    expected, expected_from = expectation(keys, overrides, asset.get("checksum"), "project.yml")
    fallback, fallback_md5 = fallbacks.get(asset["dest"], (None, None))
    if not expected and fallback_md5 and fallback_md5 == md5sum(dest):  # copied by an earlier fetch
        msg.good(f"Verified {dest}: it is the fallback {fallback}, not the file of the URL")
        return record(fallback, fallback_md5, fallback_md5, "--fallback", True, asset)
    actual = verify(dest, expected, asset.get("url"))
    msg.good(f"Verified {dest}" if expected else f"Found {dest}")
    return record(asset.get("url"), actual, expected, expected_from, False, asset)


def record(source, actual, expected, expected_from, is_fallback, asset):
    return {"source": source, "md5": actual, "expected_md5": expected,
            "expected_from": expected_from, "verified": bool(expected), "fallback": is_fallback,
            "url": asset.get("url")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", help="project.yml, whose assets list the files")
    parser.add_argument("--data-dir", default="",
                        help="local folder with the corpora; \"\" = check the assets in place")
    parser.add_argument("--checksums", default="", help="JSON file: local name or dest -> expected md5")
    parser.add_argument("--fallback", action="append", default=[], help="DEST=LOCAL_NAME[:MD5]")
    args = parser.parse_args()
    assets = srsly.read_yaml(args.project).get("assets", [])
    overrides = read_checksums(args.checksums)
    fallbacks = parse_fallbacks(args.fallback)
    data_dir = Path(args.data_dir) if args.data_dir else None
    if data_dir is not None and not data_dir.is_dir():
        msg.fail(f"--data-dir {data_dir} is not a folder (working directory {Path.cwd()})", exits=1)
    provenance = {a["dest"]: (from_data_dir(a, data_dir, fallbacks, overrides) if data_dir
                              else in_place(a, fallbacks, overrides)) for a in assets}
    srsly.write_json(PROVENANCE, provenance)
    msg.good(f"{len(provenance)} assets ready; provenance in {PROVENANCE}")


if __name__ == "__main__":
    sys.exit(main())
