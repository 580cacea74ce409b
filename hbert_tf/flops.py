"""Model FLOPs of BERT training, counted by hand (pure Python: no TensorFlow, no JAX).

Training costs 3x the forward pass's matmul FLOPs (forward, and the backward pass's two matmuls
per forward matmul); element-wise ops, softmax and layer norms are left out, as in the usual MFU
accounting. Used by the MFU benchmarks (bench/) and the study's `--dry_run` plan.
"""

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s per device.
PEAK_BF16_TFLOPS = {
    "B200": 2250.0,
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10G": 70.0,
    "T4": 65.0,  # fp16; no bf16 on T4
}


def forward_flops_per_sequence(config, seq_length, predictions=0):
    """Forward matmul FLOPs of one sequence (2 per multiply-add).

    Args:
        config: an object with hidden_size, num_hidden_layers, intermediate_size, vocab_size
            (e.g. `hbert_tf.config.EncoderConfig`).
        seq_length: int. Tokens per sequence.
        predictions: int. Masked positions the MLM head scores (0: no MLM head).

    Per block: the Q, K, V and output projections (4 d^2 per token), the feed-forward
    (2 d i per token), and attention's scores and weighted sum (2 S^2 d); the MLM head: a d x d
    transform and the d x V output per masked position.
    """
    d, layers = config.hidden_size, config.num_hidden_layers
    inner, vocab = config.intermediate_size, config.vocab_size
    projections = 2 * layers * (4 * d * d + 2 * d * inner) * seq_length
    attention = 4 * layers * seq_length**2 * d
    mlm_head = 2 * predictions * (d * d + d * vocab)
    return projections + attention + mlm_head


def flops_per_sequence(config, seq_length, predictions):
    """Training FLOPs of one sequence: 3x the forward pass's matmuls."""
    return 3 * forward_flops_per_sequence(config, seq_length, predictions)
