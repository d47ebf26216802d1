"""Configuration: a three-document YAML file (values, help strings, choices) plus `--key=value` overrides.

    python train.py --config_path=config_ascend.yaml --num_epochs=5 --bidirectional=False

Every key of the YAML file is an option; its type is the type of its default value. Overrides are
checked the way nanoGPT's configurator checks them (unknown key, wrong type -> error), and each
problem is reported in one line that names the key and what is allowed. Nothing is parsed at
import time: entry points call `load_config()` from their main function.
"""
import difflib
import os
import sys

import yaml
from easydict import EasyDict

from src import errors

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIG = os.path.join(PROJECT_ROOT, "default_config.yaml")

# The reference wrote these booleans as the strings "true"/"false"; both spellings are accepted.
_BOOLEAN_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}


# Numeric keys whose value must lie in a range: (lowest, highest, whether highest is allowed).
RANGES = {"valid_ratio": (0.0, 1.0, False), "dropout": (0.0, 1.0, False),
          "word_dropout": (0.0, 1.0, False), "batch_size": (1, None, True),
          "num_epochs": (1, None, True), "num_layers": (1, None, True), "num_hiddens": (1, None, True),
          "max_len": (1, None, True), "save_checkpoint_steps": (1, None, True),
          "keep_checkpoint_max": (1, None, True), "min_freq": (1, None, True), "max_vocab": (0, None, True),
          "bucket_width": (0, None, True), "crop_len": (0, None, True), "patience": (0, None, True),
          "average_from_epoch": (0, None, True),
          "learning_rate": (0.0, None, True), "weight_decay": (0.0, None, True), "grad_clip": (0.0, None, True),
          "pretrain_epochs": (0, None, True), "pretrain_learning_rate": (0.0, None, True),
          "pretrain_seq_len": (2, None, True), "pretrain_batch_size": (1, None, True),
          "pretrain_sampled": (1, None, True), "pretrain_vocab": (0, None, True),
          "pseudo_label_ratio": (0.0, 1.0, True)}


def check_range(key, value):
    lowest, highest, highest_allowed = RANGES[key]
    too_high = highest is not None and (value > highest or (value == highest and not highest_allowed))
    if value < lowest or too_high:
        upper = "" if highest is None else f" and {'at most' if highest_allowed else 'below'} {highest}"
        raise errors.UserError(f"--{key}={value} is out of range: it must be at least {lowest}{upper}")


def read_yaml(path):
    """Returns (values, help strings, choices) from a YAML file of one to three documents."""
    if not os.path.isfile(path):
        raise errors.UserError(f"config file {path} not found (pass an existing --config_path)")
    try:
        with open(path, encoding="utf-8") as file:
            documents = [document or {} for document in yaml.safe_load_all(file)]
    except yaml.YAMLError as error:
        raise errors.UserError(f"config file {path} is not valid YAML: {errors.first_line(error)}") from None
    if not 1 <= len(documents) <= 3 or not all(isinstance(d, dict) for d in documents):
        raise errors.UserError(
            f"config file {path} must hold 1 to 3 YAML mappings (values, help, choices), "
            f"found {len(documents)} documents")
    documents += [{}] * (3 - len(documents))
    values, helps, choices = documents
    # A variant file (config_ascend.yaml) names its base and holds only what differs from it.
    base = values.pop("base_config", None)
    if base:
        base_values, base_helps, base_choices = read_yaml(os.path.join(os.path.dirname(path), base))
        values = {**base_values, **values}
        helps, choices = {**base_helps, **helps}, {**base_choices, **choices}
    return values, helps, choices


def convert_value(key, text, default):
    """Converts `text` (from the command line or a YAML string) to the type of `default`."""
    if isinstance(default, bool):
        if isinstance(text, bool):
            return text
        word = str(text).strip().lower()
        if word not in _BOOLEAN_WORDS:
            raise errors.UserError(f"--{key} expects a boolean (True or False), got {text!r}")
        return _BOOLEAN_WORDS[word]
    if isinstance(default, int):
        try:
            return int(str(text).strip())
        except ValueError:
            raise errors.UserError(f"--{key} expects an integer, got {text!r}") from None
    if isinstance(default, float):
        try:
            return float(str(text).strip())
        except ValueError:
            raise errors.UserError(f"--{key} expects a number, got {text!r}") from None
    if isinstance(default, list):
        value = yaml.safe_load(text) if isinstance(text, str) else text
        if not isinstance(value, list):
            raise errors.UserError(f"--{key} expects a list such as [64, 128], got {text!r}")
        return value
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


def _usage(path, values, helps, choices):
    lines = [f"options (defaults from {path}; set any of them with --key=value):"]
    for key, value in values.items():
        allowed = f" choices: {choices[key]}" if key in choices else ""
        lines.append(f"  --{key}={value!r}  {helps.get(key, '')}{allowed}")
    return "\n".join(lines)


def load_config(argv=None, default_path=DEFAULT_CONFIG):
    """Reads the YAML named by --config_path (or `default_path`) and applies the overrides."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if "-h" in argv or "--help" in argv:
        path = _parse_command_line([a for a in argv if a not in ("-h", "--help")]).get(
            "config_path", default_path)
        print(_usage(path, *read_yaml(path)))
        sys.exit(0)
    overrides = _parse_command_line(argv)
    path = overrides.pop("config_path", default_path)
    # default_config.yaml is the schema: every file's keys and types are checked against it, and
    # keys a file leaves out keep their default.
    defaults, helps, choices = read_yaml(DEFAULT_CONFIG)
    values, file_helps, file_choices = read_yaml(path)
    helps, choices = {**helps, **file_helps}, {**choices, **file_choices}

    config = {}
    for key, default in defaults.items():
        # Reference configs spell some booleans as the strings "true"/"false": make them booleans.
        if isinstance(default, str) and default.strip().lower() in ("true", "false"):
            default = convert_value(key, default, False)
        config[key] = default
    for key, value in values.items():
        if key not in config:
            raise errors.UserError(f"unknown key {key!r} in {path}{_suggestion(key, config, '')}")
        try:
            config[key] = convert_value(key, value, config[key])
        except errors.UserError as error:
            raise errors.UserError(f"{path}: {error}".replace(f"--{key} ", f"key {key!r} ")) from None

    for key, text in overrides.items():
        if key not in config:
            raise errors.UserError(
                f"unknown option --{key} for {os.path.basename(path)}{_suggestion(key, config, '--')}")
        config[key] = convert_value(key, text, config[key])

    for key, allowed in choices.items():
        if key in config and config[key] not in allowed:
            raise errors.UserError(f"--{key}={config[key]!r} is not allowed; choose one of {allowed}")
    for key in RANGES:
        check_range(key, config[key])
    config["config_path"] = path
    return EasyDict(config)


def describe(config):
    """The resolved configuration, one `key: value` per line, for the top of every log."""
    return "\n".join(f"  {key}: {value!r}" for key, value in config.items())
