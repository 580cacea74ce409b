"""absl flags generated from a run config's fields (see `hbert_tf.run_config`).

One flag per field: its type gives the flag kind (bool, int, float, str; a field with `choices`
is an enum; a tuple is a comma list), its metadata the help text, its default the flag default.
`config_from_flags` builds the config from the preset and the flags given explicitly, so a
preset is never overridden by a flag's default.

Example (a binary):
    define_flags(PretrainConfig)
    def main(argv):
        config = config_from_flags(PretrainConfig)   # parse + validate
        report(run(config))                          # build, run, report
"""

import dataclasses

from absl import flags

from hbert_tf.errors import UserError
from hbert_tf.run_config import field_types


def _flag_fields(cls):
    return [field for field in dataclasses.fields(cls) if field.metadata.get("flag", True)]


def define_flags(cls, flag_values=flags.FLAGS):
    """Defines one absl flag per field of the dataclass `cls`."""
    types = field_types(cls)
    for field in _flag_fields(cls):
        name, default = field.name, field.default
        help_text = field.metadata.get("help") or name
        choices = field.metadata.get("choices")
        kind = types[name][0]
        if choices is not None:
            flags.DEFINE_enum(name, default, list(choices), help_text, flag_values=flag_values)
        elif kind is bool:
            flags.DEFINE_boolean(name, default, help_text, flag_values=flag_values)
        elif kind is int:
            flags.DEFINE_integer(name, default, help_text, flag_values=flag_values)
        elif kind is float:
            flags.DEFINE_float(name, default, help_text, flag_values=flag_values)
        elif kind is tuple:
            shown = None if default is None else [str(v) for v in default]
            flags.DEFINE_list(name, shown, help_text, flag_values=flag_values)
        else:
            flags.DEFINE_string(name, default, help_text, flag_values=flag_values)


def _items(name, values, item_type):
    """A comma-list flag's strings as a tuple of `item_type`."""
    if item_type is not int:
        return tuple(str(v).strip() for v in values)
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise UserError(f"--{name}={','.join(values)}: expected integers") from None


def explicit_settings(cls, flag_values=flags.FLAGS):
    """{field: value} of the flags given on the command line (typed as the fields are)."""
    types = field_types(cls)
    settings = {}
    for field in _flag_fields(cls):
        if not flag_values[field.name].present:
            continue
        value = flag_values[field.name].value
        kind, _, item_type = types[field.name]
        if kind is tuple and value is not None:
            value = _items(field.name, value, item_type)
        settings[field.name] = value
    return settings


def config_from_flags(cls, flag_values=flags.FLAGS):
    """The config of the chosen preset with the explicitly given flags over it (validated)."""
    return cls.resolve(**explicit_settings(cls, flag_values))
