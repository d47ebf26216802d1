import math

import pytest

from src.lr_schedule import get_lr

# 10 steps per epoch, 1 warmup epoch, cosine until epoch 6, 20 epochs.
SCHEDULE = dict(lr_init=0.05, lr_end=0.01, lr_max=0.1, warmup_epochs=1, total_epochs=20,
                steps_per_epoch=10, lr_adjust_epoch=6)


@pytest.mark.parametrize("name, step, expected", [
    ("warmup start", 0, 0.05),
    ("mid warmup", 5, 0.05 + 0.05 * 5 / 10),
    ("warmup end = cosine start", 10, 0.1),
    ("mid cosine", 35, 0.01 + 0.09 * (1 + math.cos(math.pi * 25 / 50)) / 2),
    ("cosine end", 60, 0.01),
    ("after the end", 199, 0.01),
])
def test_schedule_matches_formula(name, step, expected):
    rates = get_lr(**SCHEDULE)
    assert rates[step] == pytest.approx(expected, rel=1e-6)


def test_length_and_dtype():
    rates = get_lr(**SCHEDULE)
    assert rates.shape == (200,) and str(rates.dtype) == "float32"
