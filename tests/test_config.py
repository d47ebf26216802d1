import re
import subprocess
import sys

import pytest

from src import config as config_module, errors

ROOT = config_module.PROJECT_ROOT


def test_defaults_and_typed_overrides():
    config = config_module.load_config(["--num_epochs=3", "--bidirectional", "false", "--learning_rate=1e-3"])
    assert config.num_epochs == 3 and config.bidirectional is False and config.learning_rate == 1e-3
    assert config.preprocess is False and isinstance(config.distribute, bool)


def test_reference_string_booleans_are_accepted():
    assert config_module.load_config(["--preprocess=true"]).preprocess is True
    assert config_module.load_config(["--distribute=False"]).distribute is False


def test_variant_file_inherits_from_its_base():
    config = config_module.load_config([f"--config_path={ROOT}/config_ascend_8p.yaml"])
    assert config.lr_max == 0.3 and config.distribute is True and config.device_num == 8
    assert config.num_layers == 2 and config.device_target == "Ascend"


@pytest.mark.parametrize("name", ["config_reference.yaml", "config_ascend.yaml", "config_ascend_8p.yaml"])
def test_the_reference_recipe_trains_one_model_on_padded_reviews(name):
    """No self-training and no whole-review stage: the reference's single model."""
    config = config_module.load_config([f"--config_path={ROOT}/{name}"])
    assert config.pseudo_label_ratio == 0 and config.whole_review_epochs == 0 and config.crop_len == 0
    default = config_module.load_config([])
    assert default.whole_review_epochs == 1 and default.pseudo_label_ratio > 0 and default.crop_len > 0


def test_string_booleans_in_yaml_become_booleans(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preprocess: 'false'\ndistribute: \"true\"\n")
    config = config_module.load_config([f"--config_path={path}"])
    assert config.preprocess is False and config.distribute is True


def test_invalid_yaml_is_a_user_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1, 2\n")
    with pytest.raises(errors.UserError, match="not valid YAML"):
        config_module.load_config([f"--config_path={path}"])


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("a: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(errors.UserError, match="not valid YAML"):
        config_module.load_config([f"--config_path={path}"])


def test_command_line_error_is_one_line_and_exit_code_2():
    result = subprocess.run([sys.executable, "train.py", "--num_epoch=2"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: unknown option --num_epoch for default_config.yaml (did you mean --num_epochs?)")


def test_standalone_file_keeps_defaults_for_keys_it_leaves_out(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("num_epochs: 4\n")
    config = config_module.load_config([f"--config_path={path}"])
    assert config.num_epochs == 4 and config.num_hiddens == 100


def test_every_key_has_help_and_every_number_an_allowed_range():
    schema = config_module.Schema()
    assert set(schema.helps) == set(schema.defaults)
    assert set(schema.allowed) <= set(schema.defaults)
    numbers = {key for key, value in schema.defaults.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    assert numbers <= set(schema.allowed), numbers - set(schema.allowed)
    for key, value in schema.defaults.items():
        schema.check(key, value)  # every default is allowed


@pytest.mark.parametrize("argument, message", [
    ("--lerning_rate=3", "did you mean --learning_rate"),
    ("--num_epochs=3.5", "--num_epochs expects an integer"),
    ("--bidirectional=maybe", "expects a boolean"),
    ("--optimizer=sgd", "choose one of"),
    ("--device_target=TPU", "choose one of"),
    ("--config_path=/nonexistent.yaml", "not found"),
    ("num_epochs=3", "options look like --key=value"),
    ("--learning_rate=nan", "--learning_rate=nan is not a finite number"),
    ("--grad_clip=inf", "--grad_clip=inf is not a finite number"),
    ("--seed=-1", "--seed=-1 is out of range: it must lie in [0, 2147483647]"),
    *[(argument, "out of range") for argument in (
        "--valid_ratio=1", "--valid_ratio=-0.1", "--save_checkpoint_steps=0", "--num_layers=0", "--batch_size=0",
        "--dropout=1.0", "--num_classes=1", "--momentum=1.5", "--embed_size=0", "--warmup_epochs=-2",
        "--log_steps=-1", "--device_num=0")],
])
def test_bad_options_and_values_are_one_line_errors(argument, message):
    with pytest.raises(errors.UserError, match=re.escape(message)):
        config_module.load_config([argument])


def test_nan_in_a_config_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("learning_rate: .nan\n")
    with pytest.raises(errors.UserError, match="not a finite number"):
        config_module.load_config([f"--config_path={path}"])


@pytest.mark.parametrize("content, message", [
    ("num_epochs: 3\n".encode("utf-16"), "is not UTF-8 text"),
    (b"base_config: c.yaml\nnum_epochs: 3\n", "is its own base_config"),
    (b"a: &x [1, 1, 1]\nb: [*x, *x, *x]\n", "uses a YAML alias"),
    (b"num_epochs: [1, 2]\n", "key 'num_epochs' expects an integer"),
    (b"aclimdb_path: {a: 1}\n", "key 'aclimdb_path' expects text"),
])
def test_broken_config_files_are_one_line_errors(tmp_path, content, message):
    (tmp_path / "c.yaml").write_bytes(content)
    with pytest.raises(errors.UserError, match=re.escape(message)):
        config_module.load_config([f"--config_path={tmp_path / 'c.yaml'}"])


def test_base_config_cycle_is_named(tmp_path):
    (tmp_path / "a.yaml").write_text("base_config: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base_config: a.yaml\n")
    with pytest.raises(errors.UserError, match=r"a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        config_module.load_config([f"--config_path={tmp_path / 'a.yaml'}"])


def test_cpu_defaults_are_local_paths_and_cloud_paths_stay_in_the_ascend_configs():
    config = config_module.load_config([])
    assert config.glove_path.startswith("./") and config.preprocess_path.startswith("./")
    ascend = config_module.load_config([f"--config_path={ROOT}/config_ascend.yaml"])
    assert ascend.preprocess_path.startswith("/cache/")


def test_help_lists_data_keys_first_and_cloud_keys_last():
    result = subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    keys = [line.split("=")[0].strip() for line in result.stdout.splitlines()[1:]]
    assert keys[0] == "--aclimdb_path" and keys[-1] == "--checkpoint_file"
    assert "[range: [0, 1)]" in result.stdout and "[choices: ['momentum', 'adam', 'adamw']]" in result.stdout
