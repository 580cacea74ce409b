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
]

BINARIES = {
    "hbert-demo": "trainers.demo:run",
    "hbert-build-vocab": "tfrecords.build_vocab:run",
    "hbert-create-pretraining-data": "tfrecords.create_pretraining_data:run",
    "hbert-pretrain": "trainers.pretrain:run",
    "hbert-export": "trainers.export:run",
    "hbert-predict": "trainers.predict:run",
    "hbert-finetune-squad": "trainers.finetune_squad:run",
    "hbert-finetune-mnli": "trainers.finetune_mnli:run",
    "hbert-probe": "trainers.probe:run",
    "hbert-probing-tasks": "tfrecords.probing_tasks:run",
}

setup(
    name="hbert_tf",
    version="0.1.0",
    description="Hierarchical multitask pre-training for BERT in Keras 3 / TensorFlow 2",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["hbert_tf", "hbert_tf.*", "trainers", "tfrecords"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "test": ["pytest>=8", "ruff>=0.6", "gensim>=4.3"],
        "baselines": ["gensim>=4.3"],
    },
    entry_points={"console_scripts": [f"{name}={target}" for name, target in BINARIES.items()]},
)
