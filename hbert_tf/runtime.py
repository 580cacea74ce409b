"""The runtime that pre-training, fine-tuning and probing share: the tf.distribute strategy, the
Keras dtype policy, and building a compiled model before `model.fit`."""

import contextlib

import keras
import tensorflow as tf

from hbert_tf.errors import UserError
from hbert_tf.run_config import STRATEGIES


@contextlib.contextmanager
def dtype_policy(mixed_precision):
    """Keras' dtype policy set to `mixed_precision` ("none" = float32) for the layers built inside
    the block, and put back afterwards, so runs in one process (tests, a study) do not leak their
    precision."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if mixed_precision == "none" else mixed_precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def build_for_fit(model, element_spec):
    """Creates the optimizer slots and the loss and metric trackers of a compiled `model` before
    `model.fit`, from a batch of zeros shaped like `element_spec` ((inputs, labels) specs).

    Without a tf.distribute strategy Keras creates them inside the first trace of its train
    step, and TensorFlow traces a function that created variables a second time: 2-5 s per
    trace of a small BERT on CPU. Fit resets the trackers, so the zeros leave no trace.
    """
    if not tf.distribute.has_strategy():  # under a strategy Keras builds all this itself
        x, y = tf.nest.map_structure(
            lambda spec: tf.zeros([1] + spec.shape[1:].as_list(), spec.dtype), element_spec
        )
        y_pred = model(x, training=False)
        model.compute_loss(x, y, y_pred)
        model.compute_metrics(x, y, y_pred)
    model.optimizer.build(model.trainable_variables)


def numpy_batches(arrays, batch_size, shuffle_seed=None):
    """A `tf.data.Dataset` of batches of `arrays` (numpy, any nest; first axis = examples): in
    order, or reshuffled every epoch from `shuffle_seed`.

    Give Keras' fit / predict this rather than the arrays: Keras batches arrays with a parallel
    map, which deterministic runs (`enable_op_determinism`) rewrite into a sequential map that
    lacks one of its attributes, and TensorFlow prints an "E ... use_unbounded_threadpool" line.
    """
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle_seed is not None:
        size = len(tf.nest.flatten(arrays)[0])
        dataset = dataset.shuffle(size, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size)


def make_strategy(name, tpu_address="", cpu_devices=0):
    """A tf.distribute strategy by name.

    Args:
        name: str. One of STRATEGIES. "multi_worker_mirrored" reads the cluster from TF_CONFIG;
            "tpu" connects to `tpu_address` ("" = the local TPU VM).
        cpu_devices: int. With no GPU, split the CPU into this many logical devices so that
            "mirrored" has several replicas (for tests and debugging). Must be set before any op.
    """
    if name not in STRATEGIES:
        raise ValueError(f"--strategy={name!r}: expected one of {STRATEGIES}")
    gpus = tf.config.list_physical_devices("GPU")
    if cpu_devices and cpu_devices > 1 and not gpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        if len(tf.config.get_logical_device_configuration(cpu) or ()) != cpu_devices:
            # Only before TensorFlow runs an op; a second run in the process keeps the split.
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
            )
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def check_batch_sizes(strategy, strategy_name, **batch_sizes):
    """Refuses, before any work, a global batch the strategy cannot split evenly.

    Every global batch is split over `strategy.num_replicas_in_sync` replicas; one smaller than
    that, or not a multiple of it, leaves a replica an empty or a short share (TensorFlow then
    fails inside the step). Partial last batches cannot occur: training data repeats, pre-training
    batches drop the remainder, and Keras' predict splits a short last batch itself.

    Args:
        strategy: the run's tf.distribute strategy.
        strategy_name: str. The --strategy value (for the message).
        **batch_sizes: flag name -> global batch size.

    Raises:
        UserError: naming the flag, the replicas and what to pass instead.
    """
    replicas = strategy.num_replicas_in_sync
    for flag, size in batch_sizes.items():
        if size % replicas:
            raise UserError(
                f"--{flag}={size}: --strategy={strategy_name} splits each global batch over "
                f"{replicas} replicas; expected a multiple of {replicas} (e.g. "
                f"--{flag}={max(replicas, size // replicas * replicas)}), or one replica for a "
                "batch this small"
            )


def is_chief(strategy):
    """True on the worker that writes checkpoints, summaries and reports."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0)
