"""keras-hub-style checks for a Keras layer or model: config round trip, serialisation, one step.

`run_layer_test(instance, args)` checks, in order:
1. config round trip: `from_config(get_config())` rebuilds an object whose config is the same and
   which, given the original's weights, computes the same outputs;
2. serialisation: `keras.saving.serialize_keras_object` / `deserialize_keras_object` give back an
   object of the same class that computes the same outputs (weights copied);
3. a `.keras` file round trip (models; `save_keras_file=False` to skip): same outputs after load;
4. one training step: `fit` for a compiled model (`fit_data=(x, y[, sample_weight])`), else one
   SGD step on the mean square of the float outputs: the loss is finite and weights move.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops


def _outputs(obj, args):
    return [np.asarray(ops.convert_to_numpy(x)) for x in keras.tree.flatten(obj(*args))]


def _assert_same_outputs(original, copy, args, what):
    expected, got = _outputs(original, args), _outputs(copy, args)
    assert len(expected) == len(got), what
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=what)


def _copy_weights(original, copy, args):
    copy(*args)  # builds
    assert len(copy.weights) == len(original.weights), "rebuilt object has other weights"
    copy.set_weights(original.get_weights())


def _comparable(config):
    """The config with nested objects made comparable (serialised form)."""
    return keras.tree.map_structure(lambda v: v, keras.saving.serialize_keras_object(config))


def _train_step(obj, args):
    """One SGD step on the mean square of the float outputs; returns the loss."""
    variables = obj.trainable_variables
    before = [np.array(v.numpy()) for v in variables]
    with tf.GradientTape() as tape:
        outputs = keras.tree.flatten(obj(*args, training=True))
        loss = sum(ops.mean(ops.square(x)) for x in outputs if "float" in str(x.dtype))
    grads = tape.gradient(loss, variables)
    pairs = [(g, v) for g, v in zip(grads, variables) if g is not None]
    assert pairs, "no trainable variable gets a gradient"
    keras.optimizers.SGD(0.1).apply([g for g, _ in pairs], [v for _, v in pairs])
    moved = sum(not np.allclose(b, v.numpy()) for b, v in zip(before, variables))
    assert moved > 0, "one training step changed no weight"
    return float(loss)


def run_layer_test(instance, args, tmp_path=None, fit_data=None, save_keras_file=True):
    """Runs the checks above on `instance` called as `instance(*args)`.

    Args:
        instance: a built or unbuilt Keras layer or model.
        args: tuple of call arguments (arrays or dicts of arrays).
        tmp_path: folder for the `.keras` file (a model, unless `save_keras_file` is False).
        fit_data: tuple `(x, y[, sample_weight])` for `fit` of a compiled model, or None.
        save_keras_file: bool. Do the `.keras` round trip.
    """
    cls = type(instance)
    instance(*args)  # build
    config = instance.get_config()

    # 1. Config round trip.
    rebuilt = cls.from_config(config)
    assert type(rebuilt) is cls
    _copy_weights(instance, rebuilt, args)
    assert _comparable(rebuilt.get_config()) == _comparable(config), "config changed on a trip"
    _assert_same_outputs(instance, rebuilt, args, "from_config(get_config())")

    # 2. keras.saving serialize / deserialize.
    serialized = keras.saving.serialize_keras_object(instance)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is cls
    _copy_weights(instance, revived, args)
    _assert_same_outputs(instance, revived, args, "serialize / deserialize")

    # 3. `.keras` file.
    if save_keras_file and isinstance(instance, keras.Model):
        assert tmp_path is not None, "a .keras round trip needs tmp_path"
        path = str(tmp_path / f"{cls.__name__}.keras")
        instance.save(path)
        loaded = keras.saving.load_model(path, compile=False)
        assert type(loaded) is cls
        _assert_same_outputs(instance, loaded, args, ".keras save / load")

    # 4. One training step.
    if fit_data is not None:
        fit_args = dict(zip(("x", "y", "sample_weight"), fit_data))
        history = instance.fit(**fit_args, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][-1])
    else:
        assert np.isfinite(_train_step(instance, args))
