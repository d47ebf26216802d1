"""Learning-rate schedules as per-step float32 arrays (the form MindSpore optimizers take)."""
import math

import numpy as np


def get_lr(lr_init, lr_end, lr_max, warmup_epochs, total_epochs, steps_per_epoch,
           lr_adjust_epoch):
    """The reference schedule, step i of total = steps_per_epoch * total_epochs:
      1) i < warmup:  linear from lr_init to lr_max;
      2) i < adjust:  cosine from lr_max down to lr_end (adjust = lr_adjust_epoch epochs);
      3) otherwise:   lr_end."""
    total = steps_per_epoch * total_epochs
    warmup = steps_per_epoch * warmup_epochs
    adjust = steps_per_epoch * lr_adjust_epoch
    rates = []
    for step in range(total):
        if step < warmup:
            rate = lr_init + (lr_max - lr_init) * step / warmup
        elif step < adjust:
            progress = (step - warmup) / (adjust - warmup)
            rate = lr_end + (lr_max - lr_end) * (1 + math.cos(math.pi * progress)) / 2
        else:
            rate = lr_end
        rates.append(max(rate, 0.0))
    return np.array(rates, dtype=np.float32)
