"""The optimiser: one Adam + AMSGrad step with L2 or decoupled weight decay against NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hbert_tf.optimization import AdamL2, make_optimizer

LR, WD, EPS = 0.1, 0.05, 1e-7  # Keras' Adam epsilon
BETA_1, BETA_2 = 0.9, 0.999  # Adam's default betas (the paper's)


def adam_amsgrad_steps(weight, gradients, decayed, form):
    """NumPy Adam with AMSGrad from zero moments; `form` "l2" adds WD * w to the gradient,
    "decoupled" subtracts LR * WD * w before the step (Keras' order), "none" neither."""
    m = v = v_hat = np.zeros_like(weight)
    for t, gradient in enumerate(gradients, 1):
        if decayed and form == "l2":
            gradient = gradient + WD * weight
        if decayed and form == "decoupled":
            weight = weight - LR * WD * weight
        m = BETA_1 * m + (1 - BETA_1) * gradient
        v = BETA_2 * v + (1 - BETA_2) * gradient**2
        v_hat = np.maximum(v_hat, v)
        alpha = LR * np.sqrt(1 - BETA_2**t) / (1 - BETA_1**t)
        weight = weight - alpha * m / (np.sqrt(v_hat) + EPS)
    return weight


@pytest.mark.parametrize("form", ["l2", "decoupled"])
def test_one_step_of_each_weight_decay_form_matches_numpy(form):
    rng = np.random.default_rng(0)
    kernel0 = rng.normal(size=(3, 2)).astype("float32")
    bias0 = rng.normal(size=(2,)).astype("float32")
    kernel = keras.Variable(kernel0, name="kernel")
    bias = keras.Variable(bias0, name="bias")  # biases are never decayed
    optimizer = make_optimizer(learning_rate=LR, weight_decay=WD, weight_decay_type=form)
    assert optimizer.amsgrad and (optimizer.beta_1, optimizer.beta_2) == (BETA_1, BETA_2)
    assert isinstance(optimizer, AdamL2) == (form == "l2")
    gradients = [rng.normal(size=(3, 2)).astype("float32") for _ in range(3)]
    bias_gradients = [rng.normal(size=(2,)).astype("float32") for _ in range(3)]
    # Step 1 alone, then two more (AMSGrad's running maximum takes over).
    optimizer.apply_gradients([(gradients[0], kernel), (bias_gradients[0], bias)])
    np.testing.assert_allclose(
        kernel.numpy(), adam_amsgrad_steps(kernel0, gradients[:1], True, form), rtol=1e-5, atol=2e-6
    )
    np.testing.assert_allclose(
        bias.numpy(),
        adam_amsgrad_steps(bias0, bias_gradients[:1], False, form),
        rtol=1e-5,
        atol=2e-6,
    )
    for gradient, bias_gradient in zip(gradients[1:], bias_gradients[1:]):
        optimizer.apply_gradients([(gradient, kernel), (bias_gradient, bias)])
    np.testing.assert_allclose(
        kernel.numpy(), adam_amsgrad_steps(kernel0, gradients, True, form), rtol=1e-5, atol=2e-6
    )
    np.testing.assert_allclose(
        bias.numpy(), adam_amsgrad_steps(bias0, bias_gradients, False, form), rtol=1e-5, atol=2e-6
    )
    # The two forms really differ (and differ from no decay at all).
    other = "decoupled" if form == "l2" else "l2"
    for reference in (adam_amsgrad_steps(kernel0, gradients, True, other),
                      adam_amsgrad_steps(kernel0, gradients, False, form)):  # fmt: skip
        assert np.abs(kernel.numpy() - reference).max() > 1e-3


def test_l2_decay_reaches_embedding_rows_of_sparse_gradients():
    embedding = keras.layers.Embedding(5, 2)
    embedding.build((None,))
    start = embedding.embeddings.numpy()
    optimizer = make_optimizer(learning_rate=LR, weight_decay=WD, weight_decay_type="l2")
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(embedding(np.array([1])))
    (gradient,) = tape.gradient(loss, embedding.trainable_variables)
    assert isinstance(gradient, tf.IndexedSlices)
    optimizer.apply_gradients([(gradient, embedding.embeddings)])
    dense = np.zeros_like(start)
    dense[1] = 1.0
    np.testing.assert_allclose(
        embedding.embeddings.numpy(),
        adam_amsgrad_steps(start, [dense], True, "l2"),
        rtol=1e-5,
        atol=2e-6,
    )


def test_bad_weight_decay_settings():
    with pytest.raises(ValueError, match="weight_decay_type='adamw'"):
        make_optimizer(weight_decay_type="adamw")
    with pytest.raises(ValueError, match="weight_decay=-1"):
        make_optimizer(weight_decay=-1)


def test_pretraining_presets_and_explicit_settings():
    from hbert_tf.run_config import PretrainConfig

    paper = PretrainConfig.resolve()  # what `python -m trainers.pretrain` runs without flags
    assert paper.preset == "paper" and paper.config == "base" and paper.dropout == 0.1
    assert (paper.batch_size_128, paper.batch_size_384) == (32, 1)
    assert (paper.learning_rate, paper.weight_decay) == (1e-4, 1e-4)
    assert paper.weight_decay_type == "l2" and paper.amsgrad
    assert (paper.warmup_steps, paper.decay, paper.clip_norm) == (0, "constant", None)
    tiny = PretrainConfig.resolve(preset="tiny", learning_rate=1e-3, weight_decay_type="decoupled")
    assert tiny.config == "tiny" and tiny.batch_size_384 == 1
    assert tiny.learning_rate == 1e-3 and tiny.weight_decay_type == "decoupled"
    with pytest.raises(ValueError, match="--preset='huge'"):
        PretrainConfig.resolve(preset="huge")


def test_finetuning_presets_name_only_what_the_paper_names():
    from hbert_tf.run_config import FinetuneConfig

    base = dict(model_dir="m", model="bert", init_from="none")
    paper = FinetuneConfig.resolve(**base).to_dict()  # the default preset
    assert (paper["learning_rate"], paper["batch_size"], paper["weight_decay"]) == (1e-5, 1, 0.0)
    assert paper["amsgrad"] and paper["weight_decay_type"] == "l2"
    assert (paper["warmup_proportion"], paper["decay"], paper["clip_norm"]) == (0.0, "constant", 0)
    bert = FinetuneConfig.resolve(**dict(base, preset="bert", batch_size=8)).to_dict()
    assert (bert["learning_rate"], bert["batch_size"], bert["decay"]) == (5e-5, 8, "linear")
    assert not bert["amsgrad"] and bert["clip_norm"] == 1.0
