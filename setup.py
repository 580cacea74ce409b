"""hbert_tf: hierarchical multitask pre-training for BERT (Keras 3 / TensorFlow 2)."""

from setuptools import find_packages, setup

# The stack is fixed by tf-models-official 2.20, which pins TensorFlow and tensorflow-text 2.20.
INSTALL_REQUIRES = [
    "tensorflow>=2.20,<2.21",
    "tensorflow-text>=2.20,<2.21",
    "keras>=3.10,<4",
    "keras-hub>=0.32,<0.33",
    "keras-nlp>=0.32,<0.33",
    "tf-models-official>=2.20,<2.21",
    "tensorflow-datasets>=4.9,<5",
    "absl-py>=1.4",
    "safetensors>=0.4",
    "matplotlib>=3.7",
    "psutil>=5.9",
    # The study's units and the data generator's shards as Ray tasks (local embedded by default,
    # or a cluster); [default] brings what `ray start` and the ray:// client use.
    "ray[default]>=2.40,<3",
]

# The data tools (tfrecords/) and the binaries (trainers/) are top-level folders of the checkout
# (`python -m tfrecords.X`, `python -m trainers.X` from the repository root), but they are
# installed as hbert_tf.tfrecords and hbert_tf.trainers: "tfrecords" is also an unrelated package
# on PyPI and "trainers" a generic name, so installing hbert_tf must not claim either top-level
# name. Inside each folder imports are relative, so both spellings work. See BUILD_NOTES.md.
PACKAGE_DIR = {"hbert_tf.tfrecords": "tfrecords", "hbert_tf.trainers": "trainers"}

BINARIES = {
    "hbert-study": "hbert_tf.trainers.study:run",
    "hbert-build-vocab": "hbert_tf.tfrecords.build_vocab:run",
    "hbert-create-pretraining-data": "hbert_tf.tfrecords.create_pretraining_data:run",
    "hbert-pretrain": "hbert_tf.trainers.pretrain:run",
    "hbert-export": "hbert_tf.trainers.export:run",
    "hbert-predict": "hbert_tf.trainers.predict:run",
    "hbert-finetune-squad": "hbert_tf.trainers.finetune_squad:run",
    "hbert-finetune-mnli": "hbert_tf.trainers.finetune_mnli:run",
    "hbert-finetune-glue": "hbert_tf.trainers.finetune_glue:run",
    "hbert-probe": "hbert_tf.trainers.probe:run",
    "hbert-probing-tasks": "hbert_tf.tfrecords.probing_tasks:run",
    "hbert-data": "hbert_tf.trainers.fetch_data:run",
}

setup(
    name="hbert_tf",
    version="0.1.0",
    description="Hierarchical multitask pre-training for BERT in Keras 3 / TensorFlow 2",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["hbert_tf", "hbert_tf.*"]) + list(PACKAGE_DIR),
    package_dir=PACKAGE_DIR,
    package_data={"hbert_tf.study": ["studies/*.json", "studies/encoders/*.json"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # jax[cpu]: the models' tests under Keras' JAX backend and the JAX MFU bench's CPU run
        # (tests/test_backends.py, tests/test_bench_jax_mfu.py); about 15 s and 380 MB more.
        "test": [
            "pytest>=8,<9",
            "pytest-xdist>=3.5",
            "ruff>=0.6",
            "gensim>=4.3",
            "jax[cpu]>=0.10,<0.11",
        ],
        "baselines": ["gensim>=4.3"],
    },
    entry_points={"console_scripts": [f"{name}={target}" for name, target in BINARIES.items()]},
)
