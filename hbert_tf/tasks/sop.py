"""Sentence-order prediction (ALBERT, Lan et al. 2020): are segments A and B in the order the
document has them (0) or swapped (1)?

The data generator (`--sop_prob`, default 0: no SOP labels and the data unchanged) takes each
pair whose B really follows A and swaps the two with probability `sop_prob` (ALBERT: 0.5). A
pair whose B is a run of another document (NSP's random next) has no order to predict: its SOP
label is 0 with weight 0. SOP places like NSP: a [CLS] classifier on any block
(`--heads=mlm:-1,sop:3`), beside NSP or instead of it (the study's model "sop": MLM + SOP, no
NSP, trained on a data copy made with sop_prob 0.5).

Features: `sop_labels` int64 [1] (0 in order, 1 swapped), `sop_weights` float [1].
"""

from hbert_tf.tasks.base import FLOAT, INT64, Option, PretrainingTask

LABELS = "sop_labels"
WEIGHTS = "sop_weights"


def make_labels(pair, options, rng, context, stats):
    """Swaps A and B (with their per-token labels) with probability `sop_prob` when B follows A."""
    if pair.is_random_next:
        pair.labels[LABELS], pair.labels[WEIGHTS] = [0], [0.0]
        return
    swap = rng.random() < options["sop_prob"]
    if swap:
        pair.segments = pair.segments[::-1]
        pair.token_labels = {name: (b, a) for name, (a, b) in pair.token_labels.items()}
    pair.labels[LABELS], pair.labels[WEIGHTS] = [int(swap)], [1.0]
    stats["sop_pairs"] += 1
    stats["sop_swapped"] += int(swap)


TASK = PretrainingTask(
    name="sop",
    title="sentence-order prediction",
    features=((LABELS, INT64, 1), (WEIGHTS, FLOAT, 1)),
    label_feature=LABELS,
    weights=WEIGHTS,
    head="sentence",
    make_labels=make_labels,
    options=(
        Option(
            "sop_prob",
            0.0,
            "Sentence-order prediction: probability of swapping A and B when B follows A "
            "(ALBERT: 0.5); 0 = no SOP labels, data unchanged.",
        ),
    ),
    switch="sop_prob",
    stat_keys=("sop_pairs", "sop_swapped"),
    statistics=(("sop_swapped_fraction", "sop_swapped", "sop_pairs"),),
    study_model="sop",
    study_heads="mlm:-1,sop:-1",
    study_data=(("sop_prob", 0.5),),
    study_label="SOP (MLM + SOP, no NSP)",
)
