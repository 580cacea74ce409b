"""TFRecord files of tf.train.Example, written without TensorFlow (small, fast worker processes).

`encode_example` builds the protobuf bytes of a tf.train.Example by hand (the wire format is
tiny: a map of feature name -> Int64List / FloatList), and `RecordWriter` frames records as
TFRecord does (length, masked CRC-32C of the length, data, masked CRC-32C of the data). CRC-32C
is computed with numpy from the linearity of CRCs: the CRC of a message is the XOR of one table
entry per (distance from the end, byte value), plus a term for the initial value that depends only
on the length. Both are checked against TensorFlow's own writer in the tests.
"""

import struct

import numpy as np

from hbert_tf import files, names
from hbert_tf.files import AtomicFile
from hbert_tf.pretraining.features import FLOAT, INT64, pretraining_schema

_CRC_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_LIST_FIELD = {INT64: b"\x1a", FLOAT: b"\x12"}  # Feature.int64_list / .float_list tags


def _byte_table():
    table = np.zeros(256, dtype=np.uint32)
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ (_CRC_POLY if c & 1 else 0)
        table[b] = c
    return table


class _Crc32c:
    """CRC-32C of byte strings; tables grow to the longest message seen."""

    def __init__(self):
        self.base = _byte_table()
        self.size = 0
        self._grow(4096)

    def _grow(self, size):
        rows = np.empty((size, 256), dtype=np.uint32)
        rows[0] = self.base
        for d in range(1, size):  # rows[d][b]: byte b followed by d zero bytes
            rows[d] = self.base[rows[d - 1] & 0xFF] ^ (rows[d - 1] >> 8)
        self.flat = rows.reshape(-1)
        self.offsets = np.arange(size - 1, -1, -1, dtype=np.int64) * 256
        init = np.empty(size + 1, dtype=np.uint32)  # register after n zero bytes from ~0
        init[0] = 0xFFFFFFFF
        for n in range(1, size + 1):
            r = int(init[n - 1])
            init[n] = int(self.base[r & 0xFF]) ^ (r >> 8)
        self.init = init
        self.size = size

    def __call__(self, data):
        n = len(data)
        if n > self.size:
            self._grow(max(n, 2 * self.size))
        index = self.offsets[self.size - n :] + np.frombuffer(data, dtype=np.uint8)
        value = np.bitwise_xor.reduce(self.flat[index]) if n else np.uint32(0)
        return (int(value) ^ int(self.init[n])) ^ 0xFFFFFFFF


_crc = None


def crc32c(data: bytes) -> int:
    global _crc
    if _crc is None:
        _crc = _Crc32c()
    return _crc(data)


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class ExampleEncoder:
    """Serializes instances as tf.train.Example bytes with the features of `hbert_tf.pretraining.features`.

    Args:
        max_seq_length, max_predictions: int. Padded lengths.
        vocab_size: int. Ids are below it.
        with_bigram_shift: bool. Add the `bigram_shift_labels` feature.
        labelled: iterable of task names whose optional features to add (`pretraining_schema`);
            their values come from `Instance.labels`.
    """

    def __init__(self, max_seq_length, max_predictions, vocab_size, with_bigram_shift, labelled=()):
        self.max_seq_length = max_seq_length
        self.max_predictions = max_predictions
        self.with_bigram_shift = with_bigram_shift or "bigram_shift" in labelled
        self.schema = pretraining_schema(
            max_seq_length, max_predictions, with_bigram_shift, labelled
        )
        self._varints = [_varint(v) for v in range(max(vocab_size, max_seq_length, 16384) + 1)]
        self._keys = {name: b"\x0a" + _varint(len(name)) + name.encode() for name in self.schema}
        self._kinds = {name: _LIST_FIELD[kind] for name, (kind, _) in self.schema.items()}

    def _length(self, n):
        return self._varints[n] if n < len(self._varints) else _varint(n)

    def _feature(self, name, payload):
        """Map entry {name: Feature{kind: List{packed payload}}} as a Features.feature field."""
        length = self._length
        values = b"\x0a" + length(len(payload)) + payload
        feature = self._kinds[name] + length(len(values)) + values
        entry = self._keys[name] + b"\x12" + length(len(feature)) + feature
        return b"\x0a" + length(len(entry)) + entry

    def _ints(self, values):
        varints = self._varints
        return b"".join([varints[v] for v in values])

    def encode(self, instance) -> bytes:
        """Pads an instances.Instance and returns its serialized tf.train.Example."""
        n, pad = len(instance.input_ids), self.max_seq_length - len(instance.input_ids)
        p, pad_p = (
            len(instance.masked_lm_positions),
            self.max_predictions - len(instance.masked_lm_positions),
        )
        payloads = {  # packed values; ids below 128 (mask, segments, labels) are one byte each
            names.INPUT_IDS: self._ints(instance.input_ids + [0] * pad),
            names.INPUT_MASK: b"\x01" * n + b"\x00" * pad,
            names.SEGMENT_IDS: bytes(instance.segment_ids) + b"\x00" * pad,
            names.MASKED_LM_POSITIONS: self._ints(instance.masked_lm_positions + [0] * pad_p),
            names.MASKED_LM_IDS: self._ints(instance.masked_lm_ids + [0] * pad_p),
            names.MASKED_LM_WEIGHTS: struct.pack(
                f"<{self.max_predictions}f", *([1.0] * p + [0.0] * pad_p)
            ),
            names.NEXT_SENTENCE_LABELS: bytes((instance.next_sentence_label,)),
        }
        if self.with_bigram_shift:
            payloads[names.BIGRAM_SHIFT_LABELS] = (
                bytes(instance.bigram_shift_labels) + b"\x00" * pad
            )
        for name, (kind, length) in self.schema.items():
            if name not in payloads:  # another task's feature, padded with zeros
                values = instance.labels[name]
                values = list(values) + [0] * (length - len(values))
                payloads[name] = (
                    self._ints(values) if kind == INT64 else struct.pack(f"<{length}f", *values)
                )
        features = b"".join([self._feature(name, payloads[name]) for name in self.schema])
        return b"\x0a" + self._length(len(features)) + features


def frame_record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, data, its masked CRC."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


class RecordWriter(AtomicFile):
    """Writes a TFRecord file under a temporary name; `commit()` renames it into place, so a
    file under its final name is always complete. Leaving the `with` block without commit
    (an error) removes the temporary file."""

    def __init__(self, path):
        super().__init__(path, "wb")
        self.count = 0

    def write(self, data: bytes):
        self.file.write(frame_record(data))
        self.count += 1


def read_records(path):
    """Yields the data of each record of a TFRecord file (length checked, CRCs not)."""
    with files.open(path, "rb") as f:
        while header := f.read(12):
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            f.read(4)
            if len(data) != length:
                raise ValueError(f"{path}: truncated record")
            yield data
