"""The package boundary: hbert_tf imports neither tfrecords nor trainers; data tools stay light."""

import ast
import os
import subprocess
import sys

import pytest

from hbert_tf import features, names

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imported_modules(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_library_imports_neither_tfrecords_nor_trainers():
    folder = os.path.join(ROOT, "hbert_tf")
    bad = [
        f"{name}: {module}"
        for name in sorted(os.listdir(folder))
        if name.endswith(".py")
        for module in _imported_modules(os.path.join(folder, name))
        if module.split(".")[0] in ("tfrecords", "trainers")
    ]
    assert bad == []


@pytest.mark.parametrize(
    "module",
    [
        "tfrecords.probing_tasks",
        "tfrecords.create_pretraining_data",
        "tfrecords.build_vocab",
        "hbert_tf.senteval_format",
    ],
)
def test_data_tools_load_neither_tensorflow_nor_keras(module):
    code = (
        f"import sys, {module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'keras_hub', 'tensorflow_text')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_one_schema_for_writer_manifest_and_reader():
    tf = pytest.importorskip("tensorflow")
    from tfrecords import instances, tfrecord_io

    schema = features.pretraining_schema(8, 3, with_bigram_shift=True)
    assert list(schema)[: len(names.ORIGINAL_BERT_FEATURES)] == list(names.ORIGINAL_BERT_FEATURES)
    assert features.manifest_features(schema)[names.MASKED_LM_WEIGHTS] == ["float", 3]
    encoder = tfrecord_io.ExampleEncoder(8, 3, 300, with_bigram_shift=True)
    assert encoder.schema == schema
    instance = instances.Instance(
        [2, 290, 3, 150, 151, 3], [0, 0, 0, 1, 1, 1], [1, 4], [17, 299], 1, [0, 1, 0, 1, 1, 0]
    )
    parsed = tf.io.parse_single_example(encoder.encode(instance), features.parsing_spec(schema))
    assert set(parsed) == set(schema)
    for name, (kind, length) in schema.items():
        assert parsed[name].shape == (length,)
        assert parsed[name].dtype == (tf.float32 if kind == features.FLOAT else tf.int64)
    assert parsed[names.MASKED_LM_WEIGHTS].numpy().tolist() == [1.0, 1.0, 0.0]
    no_swaps = features.pretraining_schema(8, 3, with_bigram_shift=False)
    assert names.BIGRAM_SHIFT_LABELS not in no_swaps
    only = features.parsing_spec(schema, only=[names.INPUT_IDS])
    assert list(only) == [names.INPUT_IDS]
    # Every head's label features are in the schema (with bigram shift).
    assert set(features.LABEL_FEATURES.values()) <= set(schema)


def test_installed_layout_claims_no_generic_top_level_name(tmp_path):
    """setup.py installs tfrecords/ and trainers/ as hbert_tf.tfrecords and hbert_tf.trainers;
    every console script's module imports there (relative imports inside each folder)."""
    build = tmp_path / "build"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    assert sorted(os.listdir(build)) == ["hbert_tf"]
    assert {"tfrecords", "trainers"} <= set(os.listdir(build / "hbert_tf"))
    code = (
        "import importlib, importlib.util, re\n"
        f"setup_py = open({os.path.join(ROOT, 'setup.py')!r}).read()\n"
        'targets = re.findall(r\'"hbert-[\\w-]+": "([\\w.]+):(\\w+)"\', setup_py)\n'
        "assert len(targets) >= 10, targets\n"
        "for module, function in targets:\n"
        "    spec = importlib.util.find_spec(module)\n"
        f"    assert spec.origin.startswith({str(build)!r}), spec.origin\n"
        "    if module.endswith(('build_vocab', 'create_pretraining_data')):  # no flags on import\n"
        "        assert callable(getattr(importlib.import_module(module), function)), module\n"
        "study_data = importlib.import_module('hbert_tf.trainers.study_data')\n"
        "from hbert_tf.study import spec\n"
        f"assert spec.STUDIES_DIR.startswith({str(build)!r}), spec.STUDIES_DIR\n"
        "assert spec.load_study('tiny').num_layers == 3  # package data: studies and encoders\n"
        "print(study_data._data_tool('readers').__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=str(tmp_path),
        env={**os.environ, "PYTHONPATH": str(build), "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "hbert_tf.tfrecords.readers"
