"""The package boundary: hbert_tf imports neither tfrecords nor trainers; data tools stay light."""

import ast
import os
import subprocess
import sys

import pytest

from hbert_tf import names
from hbert_tf.pretraining import features

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The documented layer order of hbert_tf (README, "Layout"): a module may import its own layer
# and the layers below it, never one above. The three task layers are peers that do not import
# each other. Layer 0 is configuration: it loads no TensorFlow.
LAYERS = (
    (
        "console",
        "errors",
        "files",
        "run_lock",
        "names",
        "flops",
        "config",
        "tasks",
        "variants",
        "run_config",
        "run_flags",
    ),
    ("text",),
    ("modeling",),
    ("runtime", "optimization", "ray_executor"),
    ("weights",),
    ("pretraining", "finetuning", "probing"),
    ("serving",),
    ("study",),
)
RANK = {part: rank for rank, layer in enumerate(LAYERS) for part in layer}
PEERS = {"pretraining", "finetuning", "probing"}


def _imported_modules(path, top_level_only=False):
    """The absolute module names `path` imports (`from a import b` also yields `a.b`)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _library_modules():
    """{module name: path} of every module of hbert_tf."""
    modules = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "hbert_tf")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                modules[module.removesuffix(".__init__")] = path
    return modules


def _layer_part(module):
    """'hbert_tf.probing.features' -> 'probing'; None outside hbert_tf or for the package."""
    parts = module.split(".")
    return parts[1] if parts[0] == "hbert_tf" and len(parts) > 1 else None


def test_every_library_module_has_a_layer():
    parts = {_layer_part(module) for module in _library_modules()} - {None}
    assert parts - set(RANK) == set(), "a new module or folder needs a place in LAYERS"


def test_no_module_imports_a_layer_above_it_or_a_peer():
    bad = []
    for module, path in _library_modules().items():
        mine = _layer_part(module)
        for imported in _imported_modules(path):
            if imported.split(".")[0] in ("tfrecords", "trainers"):
                bad.append(f"{module} -> {imported}")
            theirs = _layer_part(imported)
            if mine is None or theirs not in RANK or theirs == mine:
                continue
            peer = mine in PEERS and theirs in PEERS
            if RANK[theirs] > RANK[mine] or peer:
                bad.append(f"{module} ({mine}) -> {imported} ({theirs})")
    assert bad == []


def test_no_import_cycles_between_modules():
    modules = _library_modules()
    graph = {
        module: {m for m in _imported_modules(path, top_level_only=True) if m in modules} - {module}
        for module, path in modules.items()
    }
    done, on_path, cycles = set(), [], []

    def visit(module):
        if module in on_path:
            cycles.append(on_path[on_path.index(module) :] + [module])
            return
        if module in done:
            return
        on_path.append(module)
        for other in sorted(graph[module]):
            visit(other)
        on_path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    # A package's __init__ imported by its own modules is not a cycle of code.
    cycles = [c for c in cycles if not any(m == c[0].rsplit(".", 1)[0] for m in c)]
    assert cycles == []


# What the models may not import, directly or through the hbert_tf modules they import: they run
# on every Keras backend (tests/test_backends.py runs them under JAX without TensorFlow).
TENSORFLOW_PACKAGES = ("tensorflow", "tensorflow_text", "tf_keras", "official")
# Modules that import TensorFlow only on a path that needs it, with the reason.
TENSORFLOW_WHEN_NEEDED = {
    "hbert_tf.files": "tf.io.gfile for a path with a scheme (gs://, ram://); local paths take "
    "plain Python (tests/test_files.py checks that no TensorFlow is imported for them)",
}


def test_modeling_imports_no_tensorflow():
    modules = _library_modules()
    todo = [module for module in modules if _layer_part(module) == "modeling"]
    seen, bad = set(), []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for imported in _imported_modules(modules[module]):  # function-level imports too
            if imported.split(".")[0] in TENSORFLOW_PACKAGES:
                if module not in TENSORFLOW_WHEN_NEEDED:
                    bad.append(f"{module} -> {imported}")
            elif imported in modules:
                todo.append(imported)
    assert "hbert_tf.variants" in seen and "hbert_tf.text.word_vectors" in seen
    assert bad == []


def test_configuration_loads_no_tensorflow():
    code = (
        "import sys, hbert_tf.run_config, hbert_tf.run_flags, hbert_tf.config, hbert_tf.variants, "
        "hbert_tf.tasks, hbert_tf.study.spec; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_data_tools_do_not_import_the_study():
    folder = os.path.join(ROOT, "tfrecords")
    bad = [
        f"{name}: {module}"
        for name in sorted(os.listdir(folder))
        if name.endswith(".py")
        for module in _imported_modules(os.path.join(folder, name))
        if module.startswith("hbert_tf.study")
    ]
    assert bad == []


@pytest.mark.parametrize(
    "module",
    [
        "tfrecords.probing_tasks",
        "tfrecords.create_pretraining_data",
        "tfrecords.build_vocab",
        "hbert_tf.probing.senteval_format",
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
    # Every head's label features are in the schema (with every optional task's labels).
    full = features.pretraining_schema(8, 3, labelled=features.LABEL_FEATURES)
    assert set(features.LABEL_FEATURES.values()) <= set(full)


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
