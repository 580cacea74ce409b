"""The study's data sets fetched, verified and cached: `hbert-data fetch NAME... --data_dir=DIR`
and `python -m trainers.study --download`.

Every file is downloaded into the cache folder under a temporary name (`<file>.part`, resumed
with an HTTP Range request after a dropped connection or an interrupted run), checked, then
renamed, so a file under its final name is always complete and verified. Checks: the size and
SHA-256 published for it (pinned below, copied from the checksum files TensorFlow Datasets ships:
`tensorflow_datasets/datasets/squad/checksums.tsv`, `url_checksums/multi_nli.txt`), or, for a
file nobody publishes a checksum for, the size and SHA-256 recorded in the cache's lock file
(`hbert-data.lock.json`) at its first download. Every later use checks the file again. Archives
are unpacked once (a `<archive>.unpacked` marker says it finished).

`mirror` (`--mirror=URL`) fetches every file from `URL` + the original URL's path: an internal
mirror, or a local server in the tests.
"""

import dataclasses
import errno
import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile

from hbert_tf import console, files
from hbert_tf.errors import UserError
from hbert_tf.files import write_json_atomic
from hbert_tf.finetuning import tasks
from hbert_tf.probing.senteval_format import TASK_NAMES


@dataclasses.dataclass(frozen=True)
class Remote:
    """A file to download: its URL, and its published size and SHA-256 (None: unpublished)."""

    url: str
    size: int | None = None
    sha256: str | None = None


SQUAD = "https://rajpurkar.github.io/SQuAD-explorer/dataset/"
SENTEVAL = "https://raw.githubusercontent.com/facebookresearch/SentEval/main/data/probing/"
# cache file name -> Remote. Pinned values: TensorFlow Datasets' checksum files (module doc).
FILES = {
    "train-v1.1.json": Remote(SQUAD + "train-v1.1.json", 30288272,
                              "3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955"),
    "dev-v1.1.json": Remote(SQUAD + "dev-v1.1.json", 4854279,
                            "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9"),
    "train-v2.0.json": Remote(SQUAD + "train-v2.0.json", 42123633,
                              "68dcfbb971bd3e96d5b46c7177b16c1a4e7d4bdef19fb204502738552dede002"),
    "dev-v2.0.json": Remote(SQUAD + "dev-v2.0.json", 4370528,
                            "80a5225e94905956a6446d296ca1093975c4d3b3260f1d6c8f68bc2ab77182d8"),
    "multinli_1.0.zip": Remote("https://cims.nyu.edu/~sbowman/multinli/multinli_1.0.zip", 226850426,
                               "049f507b9e36b1fcb756cfd5aeb3b7a0cfcb84bf023793652987f7e7e0957822"),
    "wikitext-2-raw-v1.zip": Remote(
        "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip"),
    "wiki-news-300d-1M.vec.zip": Remote(
        "https://dl.fbaipublicfiles.com/fasttext/vectors-english/wiki-news-300d-1M.vec.zip"),
    **{f"probing/{task}.txt": Remote(f"{SENTEVAL}{task}.txt") for task in TASK_NAMES},
}  # fmt: skip
# --data name -> (the cache files it needs, the path --data gets, relative to the cache)
DATA = {
    "wikitext": (("wikitext-2-raw-v1.zip",), "wikitext-2-raw"),
    "squad_v1_train": (("train-v1.1.json",), "train-v1.1.json"),
    "squad_v1_dev": (("dev-v1.1.json",), "dev-v1.1.json"),
    "squad_v2_train": (("train-v2.0.json",), "train-v2.0.json"),
    "squad_v2_dev": (("dev-v2.0.json",), "dev-v2.0.json"),
    "mnli_train": (("multinli_1.0.zip",), "multinli_1.0/multinli_1.0_train.jsonl"),
    "mnli_dev_matched": (("multinli_1.0.zip",), "multinli_1.0/multinli_1.0_dev_matched.jsonl"),
    "mnli_dev_mismatched": (
        ("multinli_1.0.zip",), "multinli_1.0/multinli_1.0_dev_mismatched.jsonl"),
    "senteval_probing": (tuple(f"probing/{task}.txt" for task in TASK_NAMES), "probing"),
    "fasttext": (("wiki-news-300d-1M.vec.zip",), "wiki-news-300d-1M.vec"),
}  # fmt: skip
LOCK = "hbert-data.lock.json"
TRIES = 3  # connections per file (each resumes where the last one stopped)
CHUNK = 1 << 20


def study_data_names(study):
    """The --data names a study reads (its corpora, tasks, probing and baselines), in order."""
    names = ["wikitext"] if "wikitext" in study.corpora else []
    if "squad" in study.corpora:  # the corpus of SQuAD's paragraphs
        names += ["squad_v1_train", "squad_v1_dev"]
    for task in tasks.STUDY_NAMES:  # the tasks' files this module knows (GLUE: TFDS or built-in)
        if task in study.tasks:
            keys = [key for _, key in tasks.study_task(task).data_keys[task] if key in DATA]
            names += [key for key in keys if key not in names]
    if study.probing_tasks:
        names.append("senteval_probing")
    if "bilstm" in study.baselines:
        names.append("fasttext")
    return names


def fetch(names, data_dir, mirror=None):
    """Makes every data set of `names` ready in `data_dir` (downloading what is missing);
    returns {name: path} for `--data`. UserError (one line) for a bad name, a network failure,
    a checksum mismatch or a full disk."""
    unknown = [name for name in names if name not in DATA]
    if unknown:
        raise UserError(f"unknown data set(s) {', '.join(unknown)}; expected {', '.join(DATA)}")
    files.makedirs(data_dir)
    paths = {}
    for name in names:
        names_of_files, path = DATA[name]
        for file in names_of_files:
            _ready(file, data_dir, mirror, name)
        paths[name] = os.path.join(data_dir, path)
    return paths


def _ready(file, data_dir, mirror, name):
    """Downloads (unless present) and checks `file`, and unpacks it once if it is an archive."""
    path = os.path.join(data_dir, file)
    remote = FILES[file]
    url = (
        remote.url
        if mirror is None
        else mirror.rstrip("/") + urllib.parse.urlparse(remote.url).path
    )
    if not files.isfile(path):
        files.makedirs(os.path.dirname(path))
        _download(url, path, name, data_dir)
        _verify(file, path, remote, url, data_dir, first=True)
        files.replace(path + ".part", path)
    else:
        _verify(file, path, remote, url, data_dir, first=False)
    if file.endswith(".zip") and not files.isfile(path + ".unpacked"):
        _unpack(path, data_dir)


def _download(url, path, name, data_dir):
    """Downloads `url` into `path.part`, resuming it with Range requests; TRIES connections."""
    part = path + ".part"
    for _ in range(TRIES):
        have = files.size(part) if files.isfile(part) else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                if have and response.status != 206:  # the server ignored Range: start again
                    have = 0
                length = response.headers.get("Content-Length")
                total = have + int(length) if length is not None else None
                _copy(response, part, have, total, os.path.basename(path), data_dir)
            if total is None or files.size(part) == total:
                return
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # Range past the end: the part is complete
                return
            raise UserError(f"{url}: HTTP {e.code} {e.reason}; download it yourself and pass "
                            f"--data {name}=PATH") from None  # fmt: skip
        except urllib.error.URLError as e:
            raise UserError(f"cannot reach {url} ({e.reason}); check the network, or download "
                            f"it yourself and pass --data {name}=PATH") from None  # fmt: skip
        except (http.client.IncompleteRead, ConnectionError, TimeoutError):
            pass  # the connection dropped: the next try resumes from what arrived
    size = files.size(part) if files.isfile(part) else 0
    raise UserError(f"{url}: the connection dropped {TRIES} times ({size} bytes kept in {part}); "
                    f"rerun to resume, or pass --data {name}=PATH")  # fmt: skip


def _copy(response, part, have, total, label, data_dir):
    progress = console.Progress(total or 0, f"download {label}", "bytes", done=have,
                                min_seconds=5, scale=(2**20, "MiB"))  # fmt: skip
    try:
        with files.open(part, "ab" if have else "wb") as f:
            done = have
            while chunk := response.read(CHUNK):
                f.write(chunk)
                done += len(chunk)
                if total:
                    progress.update(done)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise UserError(f"{data_dir}: no space left on the device while writing {part}; "
                            "free some space (a rerun resumes) or choose another --data_dir"
                            ) from None  # fmt: skip
        raise


def sha256_of(path):
    digest = hashlib.sha256()
    with files.open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(file, path, remote, url, data_dir, first):
    """Checks size and SHA-256 against the published values or the lock file (recording them
    there at the first download of an unpublished file). A mismatch removes the file."""
    checked = path + ".part" if first else path
    lock_path = os.path.join(data_dir, LOCK)
    lock = {}
    if files.isfile(lock_path):
        lock = files.read_json(lock_path)
    expected = (remote.size, remote.sha256) if remote.sha256 else (
        (lock[file]["size"], lock[file]["sha256"]) if file in lock else (None, None)
    )  # fmt: skip
    size, digest = files.size(checked), sha256_of(checked)
    if expected[1] is None:  # first download of an unpublished file: record it
        lock[file] = {"url": url, "size": size, "sha256": digest}
        write_json_atomic(lock_path, lock)
        return
    if (size, digest) != expected:
        files.remove(checked)
        raise UserError(f"{url}: SHA-256 {digest} ({size} bytes) does not match the expected "
                        f"{expected[1]} ({expected[0]} bytes); removed {checked}")  # fmt: skip


def _unpack(archive, data_dir):
    """Extracts a zip into `data_dir` through a temporary folder; then writes the marker."""
    tmp = os.path.join(data_dir, f".unpack-{os.getpid()}")
    files.rmtree(tmp, ignore_errors=True)
    with files.open(archive, "rb") as f, zipfile.ZipFile(f) as z:
        for member in z.namelist():
            if member.startswith("/") or ".." in member.split("/"):
                raise UserError(f"{archive}: unsafe path {member!r} in the archive")
        for member in z.infolist():
            target = os.path.join(tmp, member.filename)
            files.makedirs(target if member.is_dir() else os.path.dirname(target))
            if not member.is_dir():
                with z.open(member) as source, files.open(target, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
    for entry in files.listdir(tmp):
        target = os.path.join(data_dir, entry)
        if files.isdir(target):
            files.rmtree(target)
        files.replace(os.path.join(tmp, entry), target)
    files.rmtree(tmp)
    with files.open(archive + ".unpacked", "w") as f:
        f.write("done\n")
