"""Data sets fetched, verified and cached, offline: a local HTTP server on 127.0.0.1 serves small
files in the real formats (SQuAD JSON, the MultiNLI zip of JSONL files, SentEval probing lines),
and servers that drop the connection half-way or serve wrong bytes."""

import errno
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import urllib.parse
import zipfile

import pytest

from hbert_tf.errors import UserError
from hbert_tf.finetuning import builtin_tasks
from hbert_tf.probing.senteval_format import TASK_NAMES
from hbert_tf.study import fetch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def real_format_files():
    """{cache file name: bytes} for every data set the tiny study reads."""
    files = {}
    for split, (lo, hi) in (("train", (0, 30)), ("dev", (30, 40))):
        squad = builtin_tasks.make_squad(0, hi, lo, "1.1")
        files[f"{split}-v1.1.json"] = json.dumps(squad).encode()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for split in ("train", "dev_matched", "dev_mismatched"):
            rows = builtin_tasks.make_nli(0, 30 if split == "train" else 9)
            lines = [json.dumps(dict(r, pairID=f"{split}{i}")) for i, r in enumerate(rows)]
            z.writestr(f"multinli_1.0/multinli_1.0_{split}.jsonl", "\n".join(lines) + "\n")
    files["multinli_1.0.zip"] = archive.getvalue()
    for i, task in enumerate(TASK_NAMES):
        lines = [f"{split}\t{n % 2}\tthe keeper painted boat number {n + i} .\n"
                 for split, count in (("tr", 30), ("va", 10), ("te", 10)) for n in range(count)]  # fmt: skip
        files[f"probing/{task}.txt"] = "".join(lines).encode()
    return files


class Server:
    """A bounded HTTP server on 127.0.0.1 serving `files` ({cache file: bytes}) at the paths of
    their real URLs, with Range requests. `mode`: "ok", "drop_once" (the first response of each
    file stops half-way), "drop" (every response does) or "wrong" (other bytes). `requests` logs
    (path, Range header)."""

    def __init__(self, files, mode="ok"):
        self.by_path = {urllib.parse.urlparse(fetch.FILES[f].url).path: b for f, b in files.items()}
        self.mode, self.requests, self.dropped = mode, [], set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.by_path.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                if server.mode == "wrong":
                    body = body[::-1]
                start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") else 0
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = server.mode == "drop" or (
                    server.mode == "drop_once" and self.path not in server.dropped
                )
                if cut:  # half of what is left, then the connection closes
                    server.dropped.add(self.path)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.timer = threading.Timer(300, self.httpd.shutdown)  # stops itself
        self.timer.start()

    def close(self):
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def files():
    return real_format_files()


@pytest.fixture
def serve(files):
    servers = []

    def start(mode="ok", served=None):
        servers.append(Server(files if served is None else served, mode))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def pinned(monkeypatch, files):
    """The published checksums of SQuAD and MultiNLI replaced by those of the small files."""
    for name in ("train-v1.1.json", "dev-v1.1.json", "multinli_1.0.zip"):
        digest = hashlib.sha256(files[name]).hexdigest()
        monkeypatch.setitem(fetch.FILES, name, fetch.Remote(fetch.FILES[name].url, len(files[name]), digest))  # fmt: skip


TINY_NAMES = ["squad_v1_train", "squad_v1_dev", "mnli_train", "mnli_dev_matched",
              "mnli_dev_mismatched", "senteval_probing"]  # fmt: skip


def test_fetch_resumes_verifies_unpacks_and_caches(tmp_path, serve, files, pinned, capsys):
    server = serve("drop_once")
    paths = fetch.fetch(TINY_NAMES, str(tmp_path), server.url)
    # Every file was cut half-way once and resumed with a Range request.
    ranges = [r for _, r in server.requests if r]
    assert len(ranges) == len(files) and all(r.startswith("bytes=") for r in ranges)
    assert open(paths["squad_v1_dev"], "rb").read() == files["dev-v1.1.json"]
    assert paths["mnli_dev_matched"].endswith("multinli_1.0/multinli_1.0_dev_matched.jsonl")
    assert os.path.isfile(paths["mnli_dev_matched"])
    assert sorted(os.listdir(paths["senteval_probing"])) == sorted(f"{t}.txt" for t in TASK_NAMES)
    assert not [f for _, _, fs in os.walk(tmp_path) for f in fs if ".part" in f]
    # Unpublished files: size and SHA-256 recorded in the lock file; published ones are not.
    lock = json.loads((tmp_path / fetch.LOCK).read_text())
    assert sorted(lock) == sorted(f for f in files if f.startswith("probing/"))
    body = files["probing/bigram_shift.txt"]
    assert lock["probing/bigram_shift.txt"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert "download train-v1.1.json: " in capsys.readouterr().err  # progress lines
    # A second fetch downloads nothing and gives the same paths.
    count = len(server.requests)
    assert fetch.fetch(TINY_NAMES, str(tmp_path), server.url) == paths
    assert len(server.requests) == count
    # A cached file that changed since its first download fails its next use, and goes.
    changed = tmp_path / "probing" / "bigram_shift.txt"
    changed.write_bytes(b"tr\t0\tother\n")
    with pytest.raises(UserError, match=lock["probing/bigram_shift.txt"]["sha256"]):
        fetch.fetch(["senteval_probing"], str(tmp_path), server.url)
    assert not changed.exists()


def test_bad_downloads_end_in_one_line_and_leave_no_file(tmp_path, serve, pinned, monkeypatch):
    wrong = serve("wrong")
    url = wrong.url + "/SQuAD-explorer/dataset/dev-v1.1.json"
    with pytest.raises(UserError) as e:
        fetch.fetch(["squad_v1_dev"], str(tmp_path / "a"), wrong.url)
    expected = fetch.FILES["dev-v1.1.json"].sha256
    assert str(e.value).startswith(f"{url}: SHA-256 ") and f"the expected {expected}" in str(
        e.value
    )
    assert os.listdir(tmp_path / "a") == []  # the bad file is removed
    with pytest.raises(UserError, match="the connection dropped 3 times .* rerun to resume"):
        fetch.fetch(["squad_v1_dev"], str(tmp_path / "b"), serve("drop").url)
    assert os.listdir(tmp_path / "b") == ["dev-v1.1.json.part"]  # kept to resume, not complete
    closed = serve()
    closed.close()  # nothing listens there any more
    with pytest.raises(UserError) as e:
        fetch.fetch(["squad_v1_dev"], str(tmp_path / "c"), closed.url)
    message = str(e.value)
    assert message.startswith(f"cannot reach {closed.url}/SQuAD-explorer/dataset/dev-v1.1.json")
    assert message.endswith("pass --data squad_v1_dev=PATH")

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fetch.files, "open", full_disk)  # the download's writes
    with pytest.raises(UserError, match=f"^{tmp_path / 'd'}: no space left on the device"):
        fetch.fetch(["squad_v1_dev"], str(tmp_path / "d"), serve().url)


def run_binary(module, *args, catalogue=None):
    """Runs `module`'s `run()` in a fresh interpreter, with `fetch.FILES` entries replaced by
    `catalogue` ({file: [url, size, sha256]}) first (the small files' checksums)."""
    script = (
        "import json, sys\n"
        "from hbert_tf.study import fetch\n"
        "for k, v in json.loads(sys.argv[1]).items(): fetch.FILES[k] = fetch.Remote(*v)\n"
        f"sys.argv = [{module!r}] + sys.argv[2:]\n"
        f"from {module.rsplit('.', 1)[0]} import {module.rsplit('.', 1)[1]} as binary\n"
        "binary.run()\n"
    )
    command = [sys.executable, "-c", script, json.dumps(catalogue or {}), *args]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_hbert_data_fetch_prints_the_data_flags(tmp_path, serve):
    server = serve()
    data_dir = tmp_path / "cache"
    result = run_binary("trainers.fetch_data", "fetch", "senteval_probing",
                        f"--data_dir={data_dir}", f"--mirror={server.url}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == f"--data senteval_probing={data_dir / 'probing'}\n"
    bad = run_binary("trainers.fetch_data", "fetch", "squad_v3", f"--data_dir={data_dir}")
    assert bad.returncode == 1 and bad.stderr.startswith("error: unknown data set(s) squad_v3;")


def test_study_download_fetches_every_named_set_once(tmp_path, serve, files):
    """`--download` with the dry run (the tiny study itself takes minutes): the units listed are
    those of the fetched files, and a second run fetches nothing."""
    from hbert_tf.study import runner, spec, units

    server = serve()
    catalogue = {
        name: [fetch.FILES[name].url, len(body), hashlib.sha256(body).hexdigest()]
        for name, body in files.items()
        if fetch.FILES[name].sha256
    }
    args = ["--study=tiny", f"--output_dir={tmp_path / 'out'}", "--dry_run", "--download",
            f"--data_dir={tmp_path / 'cache'}", f"--mirror={server.url}",
            "--throughput=1"]  # a fixed rate: the measured one varies between runs  # fmt: skip
    first = run_binary("trainers.study", *args, catalogue=catalogue)
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(server.requests) == len(files)
    paths = {n: os.path.join(tmp_path / "cache", fetch.DATA[n][1]) for n in TINY_NAMES}
    expected = runner.describe(units.expand(spec.load_study("tiny"), paths), "")
    assert expected in first.stdout
    assert expected != runner.describe(units.expand(spec.load_study("tiny"), {}), "")
    again = run_binary("trainers.study", *args, catalogue=catalogue)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(server.requests) == len(files) and again.stdout == first.stdout
