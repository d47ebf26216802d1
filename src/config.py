"""Configuration: YAML files plus `--key=value` overrides, checked against one schema.

    python train.py --config_path=config_ascend.yaml --num_epochs=5 --bidirectional=False

default_config.yaml is the schema: its three YAML documents give every key's default (whose type
is the key's type), help string and allowed values (choices, or a range). `--help`, the checks
below and the README's pointer to `--help` all come from it. Other config files hold values
only, optionally on top of a `base_config`. Overrides are checked the way nanoGPT's configurator
checks them (unknown key, wrong type -> error), and each problem is reported in one line that
names the key and what is allowed. Nothing is parsed at import time: entry points call
`load_config()` from their main function.
"""
import difflib
import math
import os
import re
import sys

import yaml
from easydict import EasyDict

from src import errors

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_FILE = os.path.join(PROJECT_ROOT, "default_config.yaml")

# The reference wrote booleans as the strings "true"/"false"; every such spelling is accepted.
_BOOLEAN_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
# libyaml's parser when PyYAML was built with it: every entry point reads the schema at start-up.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RANGE = re.compile(r"^([\[(])\s*([^,\s]+)\s*,\s*([^\]\)\s]+)\s*([\])])$")


class Schema:
    """Defaults, help strings and allowed values (choices or ranges) of every key."""

    def __init__(self, path=SCHEMA_FILE):
        self.path = path
        documents = _read_documents(path)
        documents += [{}] * (3 - len(documents))
        self.defaults, self.helps, self.allowed = documents

    def check(self, key, value):
        """Raises a one-line UserError unless `value` is allowed for `key`."""
        if isinstance(value, float) and not math.isfinite(value):
            raise errors.UserError(f"--{key}={value} is not a finite number")
        allowed = self.allowed.get(key)
        if isinstance(allowed, list):
            if value not in allowed:
                raise errors.UserError(f"--{key}={value!r} is not allowed; choose one of {allowed}")
        elif isinstance(allowed, str) and not isinstance(value, bool):
            low_bracket, low, high, high_bracket = _RANGE.match(allowed).groups()
            low, high = float(low), float(high)
            above = value > low if low_bracket == "(" else value >= low
            below = value < high if high_bracket == ")" else value <= high
            if not (above and below):
                raise errors.UserError(f"--{key}={value} is out of range: it must lie in {allowed}")

    def usage(self, path):
        lines = [f"options (defaults from {path}; set any of them with --key=value):"]
        for key, value in self.defaults.items():
            allowed = self.allowed.get(key)
            allowed = f" [{'choices' if isinstance(allowed, list) else 'range'}: {allowed}]" if allowed else ""
            lines.append(f"  --{key}={value!r}  {self.helps.get(key, '')}{allowed}")
        return "\n".join(lines)


def _read_documents(path):
    """The YAML documents of a config file (1 to 3 mappings), with one-line errors for files that
    are missing, not UTF-8, not YAML, or that use aliases (which can expand to huge values)."""
    if not os.path.isfile(path):
        raise errors.UserError(f"config file {path} not found (pass an existing --config_path)")
    try:
        with open(path, encoding="utf-8") as file:
            content = file.read()
    except UnicodeDecodeError as error:
        raise errors.UserError(f"config file {path} is not UTF-8 text (invalid byte at offset "
                               f"{error.start})") from None
    try:
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(content, Loader=_LOADER)):
            raise errors.UserError(f"config file {path} uses a YAML alias (*name); write the values out")
        documents = [document or {} for document in yaml.load_all(content, Loader=_LOADER)]
    except yaml.YAMLError as error:
        raise errors.UserError(f"config file {path} is not valid YAML: {errors.first_line(error)}") from None
    if not 1 <= len(documents) <= 3 or not all(isinstance(d, dict) for d in documents):
        raise errors.UserError(f"config file {path} must hold 1 to 3 YAML mappings (values, help, "
                               f"allowed values), found {len(documents)} documents")
    return documents


def read_values(path, seen=()):
    """The values of a config file, on top of those of its `base_config` (a file of this suite may
    name its base and hold only what differs). Help and allowed-value documents of files other
    than the schema are ignored: the schema decides."""
    path = os.path.abspath(path)
    if path in seen:
        raise errors.UserError(f"config file {path} is its own base_config (through "
                               f"{' -> '.join(seen + (path,))})")
    values = dict(_read_documents(path)[0])
    base = values.pop("base_config", None)
    if base:
        if not isinstance(base, str):
            raise errors.UserError(f"{path}: base_config must be a file name, got {base!r}")
        values = {**read_values(os.path.join(os.path.dirname(path), base), seen + (path,)), **values}
    return values


def convert_value(key, text, default):
    """Converts `text` (from the command line or a YAML value) to the type of `default`."""
    if isinstance(default, bool):
        if isinstance(text, bool):
            return text
        word = str(text).strip().lower()
        if word not in _BOOLEAN_WORDS:
            raise errors.UserError(f"--{key} expects a boolean (True or False), got {text!r}")
        return _BOOLEAN_WORDS[word]
    if isinstance(default, (int, float)):
        kind, name = (int, "an integer") if isinstance(default, int) else (float, "a number")
        if isinstance(text, (bool, list, dict)) or text is None:
            raise errors.UserError(f"--{key} expects {name}, got {text!r}")
        try:
            return kind(str(text).strip())
        except ValueError:
            raise errors.UserError(f"--{key} expects {name}, got {text!r}") from None
    if isinstance(text, (list, dict)):
        raise errors.UserError(f"--{key} expects text, got {text!r}")
    return text if isinstance(text, str) or text is None else str(text)


def _parse_command_line(argv):
    """Splits `--key=value` / `--key value` arguments into a dict (values stay strings)."""
    overrides = {}
    index = 0
    while index < len(argv):
        argument = argv[index]
        if not argument.startswith("--"):
            raise errors.UserError(f"unexpected argument {argument!r}: options look like --key=value")
        key, has_value, value = argument[2:].partition("=")
        if not has_value:
            if index + 1 >= len(argv) or argv[index + 1].startswith("--"):
                raise errors.UserError(f"--{key} needs a value (--{key}=VALUE)")
            index += 1
            value = argv[index]
        overrides[key] = value
        index += 1
    return overrides


def _suggestion(key, known, prefix):
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else " (see --help for the list)"


def load_config(argv=None):
    """Reads the YAML named by --config_path (default_config.yaml if none) and applies the
    overrides; every value is checked against the schema."""
    argv = sys.argv[1:] if argv is None else list(argv)
    schema = Schema()
    if "-h" in argv or "--help" in argv:
        path = _parse_command_line([a for a in argv if a not in ("-h", "--help")]).get("config_path", SCHEMA_FILE)
        print(schema.usage(path))
        sys.exit(0)
    overrides = _parse_command_line(argv)
    path = overrides.pop("config_path", SCHEMA_FILE)

    config = dict(schema.defaults)  # keys a file leaves out keep their default
    for key, value in read_values(path).items():
        if key not in config:
            raise errors.UserError(f"unknown key {key!r} in {path}{_suggestion(key, config, '')}")
        try:
            config[key] = convert_value(key, value, schema.defaults[key])
        except errors.UserError as error:
            raise errors.UserError(f"{path}: {error}".replace(f"--{key} ", f"key {key!r} ")) from None
    for key, text in overrides.items():
        if key not in config:
            raise errors.UserError(
                f"unknown option --{key} for {os.path.basename(path)}{_suggestion(key, config, '--')}")
        config[key] = convert_value(key, text, schema.defaults[key])
    for key, value in config.items():
        schema.check(key, value)
    config["config_path"] = path
    return EasyDict(config)


def describe(config):
    """The resolved configuration, one `key: value` per line, for the top of every log."""
    return "\n".join(f"  {key}: {value!r}" for key, value in config.items())
