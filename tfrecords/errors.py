"""The one error type of the data tools: a user error whose message names the file, line or flag."""

from hbert_tf.errors import UserError


class DataError(UserError):
    """Bad input, flag or output folder; binaries print the message and exit non-zero."""
