"""Tests for src.download against a local HTTP server (no internet).

The server serves a temp folder holding small fake archives under the real file names, logs
every request, and either honours `Range: bytes=N-` (206) or ignores it (200).
"""
import hashlib
import http.server
import io
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from src import download, errors

REPO_ROOT = Path(__file__).resolve().parents[1]
REVIEW_TEXT = b"A wonderful film, I loved every minute.\n"
GLOVE_TEXT = b"the 0.1 0.2 0.3\nfilm 0.4 0.5 0.6\n"


class RangeHandler(http.server.BaseHTTPRequestHandler):
    honour_range = True

    def do_GET(self):
        path = self.server.root / self.path.lstrip("/")
        range_header = self.headers.get("Range")
        if not path.is_file():
            self.server.log.append((self.path, range_header, 404, 0))
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if self.honour_range and range_header:
            start = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
            if start >= len(data):
                self.server.log.append((self.path, range_header, 416, 0))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.server.log.append((self.path, range_header, 206 if start else 200, len(body)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class IgnoreRangeHandler(RangeHandler):
    honour_range = False


class HangUpHandler(RangeHandler):
    """Announces the whole file but hangs up halfway, like a dropped connection."""

    def do_GET(self):
        data = (self.server.root / self.path.lstrip("/")).read_bytes()
        self.server.log.append((self.path, self.headers.get("Range"), 200, len(data) // 2))
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.close_connection = True


def make_tar_gz(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_zip(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


IMDB_TAR = make_tar_gz({"aclImdb/train/pos/0_9.txt": REVIEW_TEXT})
GLOVE_ZIP = make_zip({"glove.6B.50d.txt": GLOVE_TEXT})
IMDB_NAME = "aclImdb_v1.tar.gz"
GLOVE_NAME = "glove.6B.zip"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # A proxy from the environment must not intercept requests to the local server.
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                     "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def start_server(root, handler):
    (root / IMDB_NAME).write_bytes(IMDB_TAR)
    (root / GLOVE_NAME).write_bytes(GLOVE_ZIP)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.root, server.log = root, []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval keeps shutdown() (and so each test) fast.
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


@pytest.fixture
def server(tmp_path):
    (tmp_path / "served").mkdir()
    server = start_server(tmp_path / "served", RangeHandler)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def ignoring_server(tmp_path):
    (tmp_path / "served_ignore").mkdir()
    server = start_server(tmp_path / "served_ignore", IgnoreRangeHandler)
    yield server
    server.shutdown()
    server.server_close()


def leftovers(folder):
    return [path.name for path in folder.iterdir() if path.name.startswith(".extract-")]


def test_fetch_verifies_and_extracts(server, tmp_path):
    dest = tmp_path / "data"
    tar_path = download.fetch(f"{server.url}/{IMDB_NAME}", dest / IMDB_NAME,
                              sha256=sha256(IMDB_TAR), progress=False)
    zip_path = download.fetch(f"{server.url}/{GLOVE_NAME}", dest / GLOVE_NAME,
                              sha256=sha256(GLOVE_ZIP), progress=False)

    assert tar_path.read_bytes() == IMDB_TAR and zip_path.read_bytes() == GLOVE_ZIP
    assert not list(dest.glob("*.part"))
    download.extract(tar_path, dest)
    download.extract(zip_path, dest, into="glove")
    assert (dest / "aclImdb/train/pos/0_9.txt").read_bytes() == REVIEW_TEXT
    assert (dest / "glove/glove.6B.50d.txt").read_bytes() == GLOVE_TEXT
    assert leftovers(dest) == []


def test_fetch_without_known_hash_reports_digest(server, tmp_path, capsys):
    download.fetch(f"{server.url}/{IMDB_NAME}", tmp_path / IMDB_NAME, progress=False)
    err = capsys.readouterr().err
    assert sha256(IMDB_TAR) in err and "not verified" in err


def test_resume_sends_range_and_appends(server, tmp_path):
    half = len(IMDB_TAR) // 2
    (tmp_path / (IMDB_NAME + ".part")).write_bytes(IMDB_TAR[:half])

    result = download.fetch(f"{server.url}/{IMDB_NAME}", tmp_path / IMDB_NAME,
                            sha256=sha256(IMDB_TAR), progress=False)

    assert server.log == [(f"/{IMDB_NAME}", f"bytes={half}-", 206, len(IMDB_TAR) - half)]
    assert result.read_bytes() == IMDB_TAR
    assert not (tmp_path / (IMDB_NAME + ".part")).exists()


def test_dropped_connection_keeps_part_for_resume(server, tmp_path):
    (tmp_path / "served_hangup").mkdir()
    flaky = start_server(tmp_path / "served_hangup", HangUpHandler)
    dest = tmp_path / "data"
    try:
        with pytest.raises(errors.UserError, match="re-run to resume"):
            download.fetch(f"{flaky.url}/{IMDB_NAME}", dest / IMDB_NAME,
                           sha256=sha256(IMDB_TAR), progress=False)
    finally:
        flaky.shutdown()
        flaky.server_close()
    half = len(IMDB_TAR) // 2
    assert (dest / (IMDB_NAME + ".part")).read_bytes() == IMDB_TAR[:half]
    assert not (dest / IMDB_NAME).exists()

    result = download.fetch(f"{server.url}/{IMDB_NAME}", dest / IMDB_NAME,
                            sha256=sha256(IMDB_TAR), progress=False)
    assert server.log == [(f"/{IMDB_NAME}", f"bytes={half}-", 206, len(IMDB_TAR) - half)]
    assert result.read_bytes() == IMDB_TAR


def test_complete_part_is_verified_without_body(server, tmp_path):
    # The .part already holds every byte (crash before the rename): the server answers 416.
    (tmp_path / (IMDB_NAME + ".part")).write_bytes(IMDB_TAR)
    result = download.fetch(f"{server.url}/{IMDB_NAME}", tmp_path / IMDB_NAME,
                            sha256=sha256(IMDB_TAR), progress=False)
    assert [entry[2] for entry in server.log] == [416]
    assert result.read_bytes() == IMDB_TAR


def test_server_ignoring_range_restarts_from_zero(ignoring_server, tmp_path):
    # Bytes that would corrupt the result if they were kept and appended to.
    (tmp_path / (IMDB_NAME + ".part")).write_bytes(b"x" * 40)

    result = download.fetch(f"{ignoring_server.url}/{IMDB_NAME}", tmp_path / IMDB_NAME,
                            sha256=sha256(IMDB_TAR), progress=False)

    assert ignoring_server.log == [(f"/{IMDB_NAME}", "bytes=40-", 200, len(IMDB_TAR))]
    assert result.read_bytes() == IMDB_TAR


def test_sha256_mismatch_leaves_no_file(server, tmp_path):
    with pytest.raises(errors.UserError, match="sha256 mismatch"):
        download.fetch(f"{server.url}/{IMDB_NAME}", tmp_path / IMDB_NAME, sha256="0" * 64,
                       progress=False)
    assert list(tmp_path.iterdir()) == [tmp_path / "served"]


def test_verified_file_is_not_fetched_again(server, tmp_path):
    for _ in range(2):
        download.fetch(f"{server.url}/{IMDB_NAME}", tmp_path / IMDB_NAME,
                       sha256=sha256(IMDB_TAR), progress=False)
    assert len(server.log) == 1


def test_http_and_network_errors_are_user_errors(server, tmp_path):
    with pytest.raises(errors.UserError, match="HTTP 404"):
        download.fetch(f"{server.url}/missing.zip", tmp_path / "missing.zip", progress=False)
    closed = http.server.HTTPServer(("127.0.0.1", 0), RangeHandler)
    port = closed.server_address[1]
    closed.server_close()
    with pytest.raises(errors.UserError, match="cannot reach"):
        download.fetch(f"http://127.0.0.1:{port}/x.zip", tmp_path / "x.zip", progress=False)


@pytest.mark.parametrize("name, data", [
    (IMDB_NAME, IMDB_TAR[: len(IMDB_TAR) // 2]),
    (GLOVE_NAME, GLOVE_ZIP[: len(GLOVE_ZIP) // 2]),
    (IMDB_NAME, b"not an archive at all"),
], ids=["truncated_tar", "truncated_zip", "not_an_archive"])
def test_corrupt_archive_is_user_error(tmp_path, name, data):
    archive = tmp_path / name
    archive.write_bytes(data)
    dest = tmp_path / "out"
    with pytest.raises(errors.UserError, match="corrupt"):
        download.extract(archive, dest)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("name, data", [
    (IMDB_NAME, make_tar_gz({"../evil.txt": b"gotcha"})),
    (IMDB_NAME, make_tar_gz({"/tmp/evil.txt": b"gotcha"})),
    (GLOVE_NAME, make_zip({"../evil.txt": b"gotcha"})),
], ids=["tar_parent", "tar_absolute", "zip_parent"])
def test_path_traversal_is_refused(tmp_path, name, data):
    archive = tmp_path / name
    archive.write_bytes(data)
    dest = tmp_path / "out"
    with pytest.raises(errors.UserError, match="unsafe member"):
        download.extract(archive, dest)
    assert not (tmp_path / "evil.txt").exists()
    assert list(dest.iterdir()) == []


def test_tar_symlink_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        link = tarfile.TarInfo("aclImdb/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    archive_path = tmp_path / IMDB_NAME
    archive_path.write_bytes(buffer.getvalue())
    with pytest.raises(errors.UserError, match="not a regular file"):
        download.extract(archive_path, tmp_path / "out")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "src.download", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_cli_downloads_and_unpacks_both(server, tmp_path):
    dest = tmp_path / "data"
    # One override by data set name, one by archive file name: both spellings are accepted.
    args = ["--dest", str(dest), "--base-url", server.url,
            "--sha256", f"aclimdb={sha256(IMDB_TAR)}",
            "--sha256", f"{GLOVE_NAME}={sha256(GLOVE_ZIP)}"]

    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert (dest / "aclImdb/train/pos/0_9.txt").read_bytes() == REVIEW_TEXT
    assert (dest / "glove/glove.6B.50d.txt").read_bytes() == GLOVE_TEXT
    assert leftovers(dest) == []

    # A second run finds everything in place and asks the server for nothing.
    requests_after_first = len(server.log)
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert len(server.log) == requests_after_first == 2


def test_cli_wrong_hash_exits_2_with_one_error_line(server, tmp_path):
    dest = tmp_path / "data"
    result = run_cli("--dest", str(dest), "--what", "aclimdb", "--base-url", server.url,
                     "--sha256", f"aclimdb={'0' * 64}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: sha256 mismatch"), result.stderr
    assert not (dest / IMDB_NAME).exists() and not (dest / "aclImdb").exists()
