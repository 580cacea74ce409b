"""The downstream task interface: what every downstream task defines (registry: `tasks.TASKS`).

A downstream task is one object (`DownstreamTask`) that holds everything that is the task's own;
the generic run (`hbert_tf.finetuning.run.run_finetune`), the exports and `predict`
(`hbert_tf.serving`) and the study (`hbert_tf.study`) read it and hold no task switches:

| part of a task                | attribute / method                                              |
|-------------------------------|-----------------------------------------------------------------|
| its run settings and flags    | `config_class` (a `run_config.FinetuneConfig`), `study_names`   |
| reading (files, TFDS, built-in) | `read(config)`, `write_builtin(out_dir, seed, documents, name)` |
| features, model and read-out  | `train_texts`, `build_model`, `train_features`, `losses`        |
| metrics and prediction files  | `evaluate(model, data, tokenizer, config, predict)`             |
| text-in SavedModel, predict   | `read_out` ("span" / "classifier"), `serving_inputs`, `labels`, `predict_rows` |
| the study's unit and report   | `study_names`, `data_splits`, `file_fields`, `record_values`, `chance_values`, `report` |

Importing this module (and the task modules) loads no TensorFlow: the study's spec reads it.
A new task is a module defining a `DownstreamTask` subclass and one line in `TASKS`.
"""

import collections

# A report table of a task: title and (study name, metrics) columns (`hbert_tf.study.report`).
ReportTable = collections.namedtuple("ReportTable", "name title columns")


class DownstreamTask:
    """A downstream task. Subclasses set the attributes and implement the methods.

    Attributes:
        name: str. The config's `task` value (`--task` of the study's units, finetune_config.json).
        config_class: the task's `FinetuneConfig` subclass (flags of its binary).
        study_names: dict {study task name: {config field: value}}: the names a study file lists
            in `downstream.tasks` and the settings each fixes (SQuAD's version).
        titles: {study task name: its label in the report}.
        read_out: "span" (token start/end logits) or "classifier" (one decision per input).
        serving_inputs: tuple of str. String inputs of the exported signature.
        labels: tuple of str. Class names of a classifier (the exported `label` output).
        data_splits: tuple of (split, config field): the files a study's task data gives a run.
        data_keys: {study name: ((split, --data name), ...)}: the study's --data names.
        metrics: tuple of str. A study record's main metrics (select_by, report columns).
        metric_labels: {metric: column label} of the report.
        primary_metrics: tuple of str. Metrics a sweep plot and the findings read.
        concat_cross: bool. Whether a study crosses the fine-tuning --concat (token read-outs);
            a sentence-level task fine-tunes with --concat=none only.
        in_paper: bool. One of the paper's tasks (a study's default `downstream.tasks`).
        report: `ReportTable` of the task's own report table, or None (the paper's tables).
    """

    name = None
    config_class = None
    study_names = {}
    titles = {}
    read_out = "classifier"
    serving_inputs = ()
    labels = ()
    data_splits = ()
    data_keys = {}
    metrics = ()
    metric_labels = {}
    primary_metrics = ()
    concat_cross = False
    in_paper = False
    report = None

    # --- data ---
    def read(self, config):
        """The run's examples: an object `train_texts`, `train_features`, `evaluate` read."""
        raise NotImplementedError

    def write_builtin(self, out_dir, seed, documents, study_name):
        """Writes the built-in set; returns {split: path} (splits of `data_splits`)."""
        raise NotImplementedError

    def train_texts(self, data):
        """list of str: the training text (vectors of the BiLSTM baseline)."""
        raise NotImplementedError

    # --- model and training ---
    def build_model(self, backbone, read_out, dropout):
        """The Keras model of the task (`hbert_tf.modeling.downstream`)."""
        raise NotImplementedError

    def sentence_classifier(self, backbone, read_out, dropout, name):
        """A `SentenceClassifier` over `self.labels` (the model of every classification task)."""
        from hbert_tf.modeling import downstream

        return downstream.SentenceClassifier(
            backbone.encoder, read_out, len(self.labels), backbone.pooler_head, dropout, name=name
        )

    def train_features(self, data, tokenizer, config):
        """`(inputs, labels, num_examples, stats)` for training, or None without training data."""
        raise NotImplementedError

    def losses(self):
        """dict with `losses` and optionally `metrics`, `loss_weights` (Keras' compile)."""
        raise NotImplementedError

    def evaluate(self, model, data, tokenizer, config, predict):
        """Evaluates on the dev split(s), writes prediction files; returns metrics (dict)."""
        raise NotImplementedError

    def metrics_task(self, config):
        """The `task` value of metrics.json."""
        return self.name

    # --- predict ---
    def predict_rows(self, path):
        """`(id_key, ids, columns)` of a file to classify: columns by `serving_inputs`."""
        raise NotImplementedError

    # --- study ---
    def record_values(self, metrics, study_name):
        """A study record's metrics (percent) from the run's metrics.json values."""
        raise NotImplementedError

    def chance_values(self, files, study_name):
        """The chance record's metrics for the dev files of a study's task data."""
        raise NotImplementedError

    def describe_file(self, study_name, split):
        """What the file of `split` is (the study's `--data` help)."""
        raise NotImplementedError

    def check_file(self, path, study_name, split):
        """Reads the file of `split` as a run would; UserError (or DataError) when it cannot."""
        raise NotImplementedError

    def count_train_examples(self, path, documents, study_name):
        """Training examples in `path`, or in the built-in set of `documents` when path is None
        (the study's compute plan)."""
        raise NotImplementedError
