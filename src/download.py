"""Download and unpack the IMDB review corpus and the GloVe 6B word vectors.

    python -m src.download --dest DIR [--what aclimdb glove] [--base-url URL]
                           [--sha256 NAME=HEX ...]

Each archive is fetched into DIR (resuming an interrupted `<name>.part` with an HTTP Range
request), checked against its known sha256, and only then renamed to its final name. It is
then unpacked: aclImdb_v1.tar.gz into DIR/aclImdb, glove.6B.zip into DIR/glove. Anything
already present is reused, so re-running the command is cheap and safe.

--base-url fetches `<URL>/<archive file name>` instead of the official location (a mirror, or
a local test server). --sha256 NAME=HEX replaces the expected checksum of one archive (NAME is
`aclimdb`, `glove`, or the archive file name); it is meant for mirrors that serve other bytes.
"""
import argparse
import hashlib
import http.client
import os
import posixpath
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

from tqdm import tqdm

from src import errors

# "into": the folder of DEST the archive is unpacked into (None: DEST itself, because the tar
# already has its own top folder). "target": the path that exists once unpacking is complete.
DATASETS = {
    "aclimdb": {
        "url": "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        "sha256": "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
        "into": None,
        "target": "aclImdb",
    },
    "glove": {
        "url": "https://nlp.stanford.edu/data/glove.6B.zip",
        # 862,182,613 bytes; the same digest is pinned by several independent public projects.
        "sha256": "617afb2fe6cbd085c235baf7a465b96f4112bd7f7ccb2b2cbd649fed9cbcf2fb",
        "into": "glove",
        "target": "glove",
    },
}

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60


def file_name(url):
    return posixpath.basename(urllib.parse.urlparse(url).path)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url, dest_path, sha256=None, progress=True):
    """Download url to dest_path unless a verified copy is already there; return dest_path.

    With sha256=None nothing can be verified: the computed digest is printed instead.
    """
    dest_path = Path(dest_path)
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    name = dest_path.name

    if dest_path.exists():
        if sha256 is None:
            _warn(f"{name} already present; not verified (no known sha256)")
            return dest_path
        if file_sha256(dest_path) == sha256:
            return dest_path
        # It was verified when written, so the table changed or the disk copy is damaged.
        _warn(f"{dest_path} does not match its sha256; downloading it again")
        dest_path.unlink()

    part_path = dest_path.with_name(name + ".part")
    _download(url, part_path, progress)

    actual = file_sha256(part_path)
    if sha256 is None:
        _warn(f"{name} sha256 is {actual}; not verified (no known sha256)")
    elif actual != sha256:
        part_path.unlink()
        raise errors.UserError(
            f"sha256 mismatch for {name} from {url}: expected {sha256}, got {actual} "
            f"(bad file deleted; re-run to download again)")
    # Rename only after verification, so a final name always means a good file.
    os.replace(part_path, dest_path)
    return dest_path


def _download(url, part_path, progress):
    """Fill part_path with the body of url, continuing from what it already holds."""
    offset = part_path.stat().st_size if part_path.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Nothing lies past our offset: the .part is already whole (or too long, which the
            # sha256 check will catch and clean up).
            return
        raise errors.UserError(f"download failed: HTTP {error.code} {error.reason} for {url}")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise errors.UserError(f"download failed: cannot reach {url} ({reason})")

    with response:
        if offset and response.status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                raise errors.UserError(
                    f"download failed: {url} answered a resume request with the wrong range; "
                    f"delete {part_path} and re-run")
            mode = "ab"
        else:
            # A 200 carries the whole file, whether or not we asked for a range.
            offset, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None

        try:
            with open(part_path, mode) as handle, tqdm(
                    total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=part_path.name[:-len(".part")], disable=None if progress else True,
            ) as bar:
                received = offset
                while chunk := response.read(CHUNK_BYTES):
                    handle.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            raise errors.UserError(
                f"download of {url} interrupted ({error}); re-run to resume") from None

    # read() just stops when the server hangs up early, so compare against the announced size.
    if total is not None and received < total:
        raise errors.UserError(
            f"download of {url} stopped at {received} of {total} bytes; re-run to resume")


def _content_range_start(header):
    match = re.match(r"bytes (\d+)-", header or "")
    return int(match.group(1)) if match else None


def extract(archive_path, dest_dir, into=None):
    """Unpack a .tar.gz or .zip under dest_dir; return the paths it created.

    Members land in dest_dir (or in dest_dir/into, when given). Everything is unpacked into a
    temp folder inside dest_dir first and then renamed into place, so a crash mid-way never
    leaves a half-filled folder under its final name. Entries that already exist are kept.
    """
    archive_path, dest_dir = Path(archive_path), Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    temp_dir = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
    try:
        # A plain subfolder, because mkdtemp's private 0700 mode must not reach the result.
        unpacked = temp_dir / "unpacked"
        unpacked.mkdir()
        _unpack(archive_path, unpacked)
        if into is not None:
            moves = [(unpacked, dest_dir / into)]
        else:
            moves = [(entry, dest_dir / entry.name) for entry in sorted(unpacked.iterdir())]
        created = []
        for source, target in moves:
            if not target.exists():
                os.rename(source, target)
                created.append(target)
        return created
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def _unpack(archive_path, out_dir):
    name = archive_path.name

    def safe_member(member, path):
        _check_member_path(name, member.name)
        if not (member.isfile() or member.isdir()):
            # Links and devices could point outside out_dir; the corpus has none.
            raise errors.UserError(
                f"{name}: refusing to extract {member.name!r} (not a regular file)")
        return tarfile.data_filter(member, path)

    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(archive_path) as archive:
                for member in archive.namelist():
                    _check_member_path(name, member)
                archive.extractall(out_dir)
        else:
            with tarfile.open(archive_path, "r:*") as archive:
                archive.extractall(out_dir, filter=safe_member)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise errors.UserError(
            f"{name} is corrupt or truncated ({error}); delete it and re-run") from None
    except OSError as error:
        raise errors.UserError(f"cannot extract {name}: {error}") from None


def _check_member_path(archive_name, member):
    # Archives come from the network: a member must not escape the folder it is unpacked in.
    parts = member.replace("\\", "/").split("/")
    if member.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", member) or ".." in parts:
        raise errors.UserError(f"{archive_name}: refusing unsafe member path {member!r}")


def prepare(name, dest, base_url=None, sha256=None, progress=True):
    """Download (if needed) and unpack one entry of DATASETS; return the unpacked path."""
    spec = DATASETS[name]
    dest = Path(dest)
    target = dest / spec["target"]
    if target.exists():
        print(f"{name}: already unpacked at {target}")
        return target

    url = spec["url"]
    if base_url:
        url = f"{base_url.rstrip('/')}/{file_name(url)}"
    expected = sha256 if sha256 is not None else spec["sha256"]
    archive = fetch(url, dest / file_name(url), sha256=expected, progress=progress)
    extract(archive, dest, into=spec["into"])
    if not target.exists():
        raise errors.UserError(f"{archive.name} did not contain {spec['target']}/")
    print(f"{name}: ready at {target}")
    return target


def _sha256_override(text):
    name, _, digest = text.partition("=")
    digest = digest.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise argparse.ArgumentTypeError(f"expected NAME=<64 hex digits>, got {text!r}")
    by_file = {file_name(spec["url"]): key for key, spec in DATASETS.items()}
    key = by_file.get(name, name)
    if key not in DATASETS:
        raise argparse.ArgumentTypeError(
            f"unknown name {name!r}; use one of {', '.join([*DATASETS, *by_file])}")
    return key, digest


def _warn(message):
    print(f"warning: {message}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m src.download",
        description="Download and unpack the IMDB corpus and GloVe 6B vectors.")
    parser.add_argument("--dest", required=True, type=Path, help="folder to download into")
    parser.add_argument("--what", nargs="+", choices=list(DATASETS), default=list(DATASETS),
                        help="which data sets to fetch (default: all)")
    parser.add_argument("--base-url", help="fetch <URL>/<archive file name> instead")
    parser.add_argument("--sha256", action="append", type=_sha256_override, default=[],
                        metavar="NAME=HEX",
                        help="expected sha256 of one archive; NAME is aclimdb, glove or the "
                             "archive file name (repeatable)")
    args = parser.parse_args(argv)

    overrides = dict(args.sha256)
    for name in dict.fromkeys(args.what):
        prepare(name, args.dest, base_url=args.base_url, sha256=overrides.get(name))


if __name__ == "__main__":
    errors.run_main(main)
