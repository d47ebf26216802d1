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


def test_string_booleans_in_yaml_become_booleans(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preprocess: 'false'\ndistribute: \"true\"\n")
    config = config_module.load_config([f"--config_path={path}"])
    assert config.preprocess is False and config.distribute is True


@pytest.mark.parametrize("argument, message", [
    ("--lerning_rate=3", "did you mean --learning_rate"),
    ("--num_epochs=3.5", "--num_epochs expects an integer"),
    ("--bidirectional=maybe", "expects a boolean"),
    ("--optimizer=sgd", "choose one of"),
    ("--device_target=TPU", "choose one of"),
    ("--config_path=/nonexistent.yaml", "not found"),
    ("num_epochs=3", "options look like --key=value"),
])
def test_bad_options_give_one_line_errors(argument, message):
    with pytest.raises(errors.UserError, match=message):
        config_module.load_config([argument])


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


@pytest.mark.parametrize("argument", ["--valid_ratio=1", "--valid_ratio=-0.1", "--save_checkpoint_steps=0",
                                      "--num_layers=0", "--batch_size=0", "--dropout=1.0"])
def test_values_out_of_range_are_one_line_errors(argument):
    with pytest.raises(errors.UserError, match="out of range"):
        config_module.load_config([argument])
