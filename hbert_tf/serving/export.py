"""SavedModel and Hugging Face exports of pre-training and fine-tuning runs.

| run (`run_kind`)          | SavedModel signatures                                                  |
|---------------------------|------------------------------------------------------------------------|
| pre-training              | `serving_default` (token ids -> every layer); TensorFlow alone loads it |
|                           | `preprocessor/` (a SavedModel of its own): strings -> token ids         |
| SQuAD 1.1 / 2.0 fine-tune | `serving_default`: `question`, `context` -> answer text and offsets    |
| MultiNLI fine-tune        | `serving_default`: `premise`, `hypothesis` -> `label`, `probabilities` |
| any classifier task       | `serving_default`: the task's `serving_inputs` -> `label`, `probabilities` |

The string signatures tokenise, window and decode in the graph (`hbert_tf.serving.signatures`), so the
SavedModel runs with TensorFlow and tensorflow-text alone (`import tensorflow_text` registers
the tokeniser's ops before `tf.saved_model.load`). The encoder keeps its string side in
`preprocessor/`, so a program with TensorFlow alone (a serving stack without text ops, a
converter) loads the encoder itself. Every export is written to a temporary
folder and renamed, refuses a non-empty `export_dir` unless `overwrite`, and carries the run's
configuration and vocabulary under `assets.extra/`.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from hbert_tf import files, names
from hbert_tf.config import EncoderConfig
from hbert_tf.finetuning import tasks
from hbert_tf.finetuning.run import Backbone
from hbert_tf.modeling import baselines, downstream
from hbert_tf.modeling.encoder import HBertEncoder
from hbert_tf.modeling.heads import NextSentenceHead
from hbert_tf.serving import signatures as serving
from hbert_tf.text.tokenization import fast_bert_tokenizer, infer_do_lower_case
from hbert_tf.text.vocab import load_vocab
from hbert_tf.variants import HeadLayout
from hbert_tf.weights.model_dir import (
    FINETUNE_CONFIG,
    RUN_CONFIG,
    VOCAB,
    latest_checkpoint,
    load_pretrainer,
    vocab_file,
)

NSP_CLS_VECTOR = "nsp_cls_vector"
NSP_POOLED_OUTPUT = "nsp_pooled_output"
KINDS = ("pretraining", *tasks.BY_NAME)
FORMATS = ("saved_model", "huggingface")
# Our `hidden_act` -> Hugging Face's name of the same function (BUILD_NOTES: GELU).
HF_ACTIVATIONS = {"gelu": "gelu_new", "gelu_exact": "gelu", "relu": "relu"}


# --- Atomic folders -----------------------------------------------------------------------------
def check_export_dir(export_dir, overwrite=False):
    """Raises naming --export_dir when it is a file, or a non-empty folder without `overwrite`."""
    if files.isfile(export_dir):
        raise ValueError(f"--export_dir={export_dir} is a file")
    if files.isdir(export_dir) and files.listdir(export_dir) and not overwrite:
        raise ValueError(
            f"--export_dir={export_dir} is not empty; choose a new folder or pass --overwrite"
        )


def write_folder_atomically(export_dir, write, overwrite=False):
    """Calls `write(tmp)` on a temporary sibling folder, then renames it to `export_dir`.

    A failed `write` leaves `export_dir` as it was; a non-empty `export_dir` is replaced only
    with `overwrite`. (On object stores, gs:// and s3://, a folder rename is a copy of each
    file then a delete: a reader may see the folder before the last file has arrived.)
    """
    export_dir = str(export_dir).rstrip("/")
    check_export_dir(export_dir, overwrite)
    tmp = f"{export_dir}.tmp-{os.getpid()}"
    files.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
    except BaseException:
        files.rmtree(tmp, ignore_errors=True)
        raise
    old = f"{export_dir}.old-{os.getpid()}"
    if files.isdir(export_dir):
        files.replace(export_dir, old)
    files.replace(tmp, export_dir)
    files.rmtree(old, ignore_errors=True)
    return export_dir


def _write_archive(archive, tmp, extra_files):
    archive.write_out(tmp, verbose=False)
    files.makedirs(os.path.join(tmp, "assets.extra"))
    for path in extra_files:
        files.copy(path, os.path.join(tmp, "assets.extra", os.path.basename(path)))


def _string_specs(*keys):
    return [tf.TensorSpec([None], tf.string, name=key) for key in keys]


# --- Runs ---------------------------------------------------------------------------------------
def run_kind(model_dir):
    """ "pretraining" or the fine-tuning task's name ("squad", "mnli", ...): what `model_dir`
    holds (BiLSTM runs included)."""
    if files.isfile(os.path.join(str(model_dir), RUN_CONFIG)):
        return "pretraining"
    path = os.path.join(str(model_dir), FINETUNE_CONFIG)
    if not files.isfile(path):
        raise ValueError(
            f"--model_dir={model_dir}: neither {RUN_CONFIG} (pre-training) nor "
            f"{FINETUNE_CONFIG} (fine-tuning) found"
        )
    task = files.read_json(path).get("settings", {}).get("task")
    if task not in tasks.BY_NAME:
        raise ValueError(f"{path}: unknown task {task!r}")
    return task


def read_finetune_config(model_dir):
    path = os.path.join(str(model_dir), FINETUNE_CONFIG)
    with files.open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None


def load_finetuned(model_dir, checkpoint=None):
    """Rebuilds a fine-tuned SQuAD / MultiNLI model from its model_dir and restores its weights.

    The architecture comes from finetune_config.json (encoder or BiLSTM sizes, the pre-training
    layout, the read-out); the weights from `checkpoint` (default: the latest).

    Returns: `(model, finetune_config_dict)`; model is a `SpanModel` or `SentenceClassifier`.
    """
    values = read_finetune_config(model_dir)
    settings = values["settings"]
    read_out = downstream.ReadOut(**values["read_out"])
    vocab = load_vocab(os.path.join(str(model_dir), VOCAB))
    if settings["model"] == "bilstm":
        sizes = values["encoder"]
        encoder = baselines.BiLSTMEncoder(
            np.zeros((len(vocab), sizes["embedding_dim"]), np.float32),
            lstm_units=sizes["lstm_units"],
            num_layers=sizes["lstm_layers"],
            name="bilstm_encoder",
        )
        nsp_head = pooler_head = None
    else:
        config = EncoderConfig.from_dict(values["encoder"], source=FINETUNE_CONFIG)
        encoder = HBertEncoder.from_config_object(config)
        layout = HeadLayout.from_dict(values["layout"]) if values.get("layout") else None
        nsp_head = None
        if layout is not None and layout.has_nsp:
            nsp_head = NextSentenceHead(config.hidden_size, name="nsp_head")
        # A keras-hub / Hugging Face start brings a pre-trained pooler; a random start has none.
        pooler_head = nsp_head
        if layout is None and settings.get("init_from") not in (None, "none"):
            pooler_head = NextSentenceHead(config.hidden_size, name="nsp_head")
        for head in {id(h): h for h in (nsp_head, pooler_head) if h is not None}.values():
            head.build((None, config.hidden_size))
    backbone = Backbone(encoder, nsp_head, pooler_head, None, values["encoder"])
    model = tasks.task_named(settings["task"]).build_model(backbone, read_out, 0.1)
    checkpoint = checkpoint or latest_checkpoint(model_dir)
    if checkpoint is None:
        raise ValueError(f"--model_dir={model_dir}: no fine-tuned checkpoint under checkpoints/")
    status = tf.train.Checkpoint(model=model).restore(checkpoint)
    status.expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ValueError(f"{checkpoint}: does not match {FINETUNE_CONFIG} ({e})") from None
    return model, values


# --- Pre-trained encoder ------------------------------------------------------------------------
def serving_outputs(pretrainer, inputs):
    """Every named layer output plus the NSP-level [CLS] vector, as a flat dict.

    Args:
        pretrainer: `HBertPretrainer`.
        inputs: dict of int32 `input_ids`, `input_mask`, `segment_ids` `[batch, seq]`.

    Returns: dict with `embedding_output`, `layer_0` ... `layer_{L-1}`, `sequence_output`
    (each `[batch, seq, hidden]`), `nsp_cls_vector` `[batch, hidden]` (the [CLS] vector of the
    NSP layer; the last layer for a model without NSP) and, with an NSP head,
    `nsp_pooled_output` `[batch, hidden]`.
    """
    outputs = pretrainer.encoder(inputs, training=False)
    flat = {
        names.EMBEDDING_OUTPUT: outputs[names.EMBEDDING_OUTPUT],
        names.SEQUENCE_OUTPUT: outputs[names.SEQUENCE_OUTPUT],
        **outputs[names.HIDDEN_STATES],
    }
    sentence_key = names.layer_key(pretrainer.layout.sentence_layer)
    flat[NSP_CLS_VECTOR] = outputs[names.HIDDEN_STATES][sentence_key][:, 0, :]
    if pretrainer.nsp_head is not None:
        flat[NSP_POOLED_OUTPUT] = pretrainer.nsp_head(flat[NSP_CLS_VECTOR])["pooled"]
    return flat


def export_encoder(pretrainer, export_dir, vocab_path, extra_files=(), overwrite=False):
    """Writes a SavedModel of a pre-trained encoder, and its preprocessor in `preprocessor/`.

    `export_dir`: `serving_default` takes `input_ids`, `input_mask`, `segment_ids` (int32
    `[batch, seq]`) and returns `serving_outputs`; it holds no text ops, so `import tensorflow`
    alone loads and runs it.

    `export_dir/preprocessor`: `serving_default` takes strings `text_a`, `text_b` (`[batch]`; an
    empty `text_b` gives the single segment `[CLS] a [SEP]`), tokenises them with the vocabulary
    `vocab_path` (casing inferred from it) into `[CLS] a [SEP] b [SEP]` padded to the batch's
    longest (at most `max_position_embeddings`, the longer side trimmed first) and returns the
    three id inputs; it needs `import tensorflow_text` first (`names.ENCODER_PREPROCESSOR`).

    `vocab_path` and `extra_files` (run_config.json) are copied into `assets.extra/`.
    """
    vocab = load_vocab(vocab_path)
    max_length = pretrainer.encoder.max_position_embeddings
    archive = keras.export.ExportArchive()
    archive.track(pretrainer)

    def serve(input_ids, input_mask, segment_ids):
        inputs = {
            names.INPUT_IDS: input_ids,
            names.INPUT_MASK: input_mask,
            names.SEGMENT_IDS: segment_ids,
        }
        return serving_outputs(pretrainer, inputs)

    spec = tf.TensorSpec([None, None], tf.int32)
    archive.add_endpoint(
        "serving_default",
        tf.function(serve),
        input_signature=[tf.TensorSpec.from_spec(spec, name=key) for key in names.ENCODER_INPUTS],
    )
    files = [vocab_path, *extra_files]
    preprocessor = _preprocessor_archive(vocab, max_length)

    def write(tmp):
        _write_archive(archive, tmp, files)
        _write_archive(preprocessor, os.path.join(tmp, names.ENCODER_PREPROCESSOR), [vocab_path])

    return write_folder_atomically(export_dir, write, overwrite)


def _preprocessor_archive(vocab, max_length):
    """The ExportArchive of `export_encoder`'s preprocessor (strings -> the three id inputs)."""
    tokenizer = fast_bert_tokenizer(vocab.tokens, infer_do_lower_case(vocab))
    archive = keras.export.ExportArchive()
    archive.track(tokenizer)

    def preprocess(text_a, text_b):
        return serving.pack_pairs(tokenizer, text_a, text_b, vocab.cls_id, vocab.sep_id, max_length)

    archive.add_endpoint(
        "serving_default",
        tf.function(preprocess),
        input_signature=_string_specs("text_a", "text_b"),
    )
    return archive


# --- Fine-tuned models --------------------------------------------------------------------------
def export_finetuned(
    model_dir, export_dir, checkpoint=None, overwrite=False, null_score_diff_threshold=None
):
    """Exports a fine-tuning run as a string-in SavedModel (see module doc): by the task's read-out,
    a span signature (SQuAD) or a classifier's (every classification task).

    SQuAD `serving_default`: `question`, `context` (string `[batch]`) -> `answer_text`,
    `answer_start`, `answer_end` (character offsets into the context, -1 for no answer),
    `score`, and for 2.0 `is_impossible` and `null_score_diff`; windows, n-best size, maximum
    answer length and null threshold are the run's settings. A classifier's `serving_default`:
    the task's `serving_inputs` (MultiNLI: `premise`, `hypothesis`) -> `label` (string) and
    `probabilities` `[batch, classes]`.
    `null_score_diff_threshold` replaces the run's (e.g. metrics.json's `best_f1_thresh`).
    """
    model, values = load_finetuned(model_dir, checkpoint)
    settings = dict(values["settings"])
    if null_score_diff_threshold is not None:
        if settings.get("version") != "2.0":
            raise ValueError("--null_score_diff_threshold applies to SQuAD 2.0 runs only")
        settings["null_score_diff_threshold"] = float(null_score_diff_threshold)
    vocab_path = os.path.join(str(model_dir), VOCAB)
    vocab = load_vocab(vocab_path)
    tokenizer = fast_bert_tokenizer(vocab.tokens, values["do_lower_case"])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(tokenizer)
    task = tasks.task_named(settings["task"])
    if task.read_out == "span":
        fn = serving.squad_function(
            model, tokenizer, vocab.cls_id, vocab.sep_id, settings, settings["version"] == "2.0"
        )
    else:
        fn = serving.classifier_function(
            model, tokenizer, vocab.cls_id, vocab.sep_id, settings["max_seq_length"], task
        )
    specs = _string_specs(*task.serving_inputs)
    archive.add_endpoint("serving_default", tf.function(fn), input_signature=specs)
    files = [vocab_path, os.path.join(str(model_dir), FINETUNE_CONFIG)]
    return write_folder_atomically(
        export_dir, lambda tmp: _write_archive(archive, tmp, files), overwrite
    )


# --- Hugging Face -------------------------------------------------------------------------------
def huggingface_tensors(encoder, pooler=None):
    """Hugging Face `BertModel` weight names -> float32 arrays of our encoder (and pooler).

    The inverse of keras-hub's `convert_bert.convert_weights` (Dense kernels transposed to
    `[out, in]`, attention kernels flattened from `[hidden, heads, head_size]`).
    """

    def weight(layer):
        return np.asarray(keras.ops.convert_to_numpy(layer), np.float32)

    def linear(prefix, dense, flat_in):
        kernel = weight(dense.kernel)
        kernel = kernel.reshape(flat_in, -1) if flat_in else kernel.reshape(-1, kernel.shape[-1])
        return {f"{prefix}.weight": kernel.T, f"{prefix}.bias": weight(dense.bias).reshape(-1)}

    def norm(prefix, layer):
        return {f"{prefix}.weight": weight(layer.gamma), f"{prefix}.bias": weight(layer.beta)}

    hidden = encoder.hidden_size
    out = {
        "embeddings.word_embeddings.weight": weight(encoder.token_embedding.embeddings),
        "embeddings.position_embeddings.weight": weight(
            encoder.position_embedding.position_embeddings
        ),
        "embeddings.token_type_embeddings.weight": weight(encoder.segment_embedding.embeddings),
        **norm("embeddings.LayerNorm", encoder.embeddings_layer_norm),
    }
    for i, block in enumerate(encoder.transformer_layers):
        p = f"encoder.layer.{i}"
        attention = block._self_attention_layer
        for name in ("query", "key", "value"):
            out.update(
                linear(f"{p}.attention.self.{name}", getattr(attention, f"{name}_dense"), hidden)
            )
        out.update(linear(f"{p}.attention.output.dense", attention.output_dense, 0))
        out.update(norm(f"{p}.attention.output.LayerNorm", block._self_attention_layer_norm))
        out.update(linear(f"{p}.intermediate.dense", block._feedforward_intermediate_dense, 0))
        out.update(linear(f"{p}.output.dense", block._feedforward_output_dense, 0))
        out.update(norm(f"{p}.output.LayerNorm", block._feedforward_layer_norm))
    if pooler is not None:
        out.update(linear("pooler.dense", pooler, 0))
    return {key: np.ascontiguousarray(value) for key, value in out.items()}


def huggingface_config(config, layout=None):
    """config.json of a Hugging Face `BertModel` for an `EncoderConfig`."""
    values = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        **config.to_dict(),
        "hidden_act": HF_ACTIVATIONS[config.hidden_act],
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
    }
    if layout is not None and layout.has_nsp:
        # Hugging Face pools the last layer's [CLS]; ours was trained on this block's.
        values["hbert_nsp_layer"] = layout.nsp_layer
    return values


def export_huggingface(pretrainer, export_dir, vocab_path, overwrite=False):
    """Writes a pre-trained encoder (and its NSP pooler) as a Hugging Face BERT directory.

    Files: config.json (`hidden_act` as Hugging Face names our activation: "gelu_new" for our
    tanh "gelu", "gelu" for "gelu_exact"), model.safetensors (BertModel names; `pooler.dense.*`
    only when the model has an NSP head), vocab.txt, tokenizer_config.json.
    """
    from safetensors.numpy import save

    vocab = load_vocab(vocab_path)
    pooler = pretrainer.nsp_head.pooler if pretrainer.nsp_head is not None else None
    tensors = huggingface_tensors(pretrainer.encoder, pooler)
    config = huggingface_config(pretrainer.encoder.config, pretrainer.layout)
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": infer_do_lower_case(vocab),
        "model_max_length": pretrainer.encoder.max_position_embeddings,
        "unk_token": names.UNK,
        "sep_token": names.SEP,
        "pad_token": names.PAD,
        "cls_token": names.CLS,
        "mask_token": names.MASK,
    }

    def write(tmp):
        files.makedirs(tmp)
        with files.open(os.path.join(tmp, "model.safetensors"), "wb") as f:
            f.write(save(tensors, metadata={"format": "pt"}))
        for name, values in (("config.json", config), ("tokenizer_config.json", tokenizer_config)):
            with files.open(os.path.join(tmp, name), "w") as f:
                json.dump(values, f, indent=2, sort_keys=True)
        files.copy(vocab_path, os.path.join(tmp, "vocab.txt"))

    return write_folder_atomically(export_dir, write, overwrite)


# --- Any run ----------------------------------------------------------------------------------
def export_run(
    model_dir,
    export_dir,
    checkpoint=None,
    format="saved_model",
    overwrite=False,
    null_score_diff_threshold=None,
):
    """Exports whatever `model_dir` holds (`run_kind`); returns `(kind, export_dir)`.

    Pre-training runs: `export_encoder`, or `export_huggingface` with `format="huggingface"`.
    Fine-tuning runs: `export_finetuned` (SavedModel only).
    """
    if format not in FORMATS:
        raise ValueError(f"--format={format}: expected one of {FORMATS}")
    kind = run_kind(model_dir)
    check_export_dir(export_dir, overwrite)  # before the (slow) model loading
    if kind != "pretraining":
        if format == "huggingface":
            raise ValueError(
                f"--format=huggingface exports pre-trained encoders; {model_dir} is a {kind} "
                "fine-tuning run"
            )
        return kind, export_finetuned(
            model_dir, export_dir, checkpoint, overwrite, null_score_diff_threshold
        )
    if null_score_diff_threshold is not None:
        raise ValueError("--null_score_diff_threshold applies to SQuAD 2.0 runs only")
    pretrainer, _ = load_pretrainer(model_dir, checkpoint)
    vocab = vocab_file(model_dir)
    if format == "huggingface":
        return kind, export_huggingface(pretrainer, export_dir, vocab, overwrite)
    run_config = os.path.join(model_dir, RUN_CONFIG)
    return kind, export_encoder(pretrainer, export_dir, vocab, [run_config], overwrite)
