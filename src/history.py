"""The training history: one row per epoch (loss, validation accuracy, LR, seconds), kept in
history.json and history.csv and drawn as history.png, so every run can be plotted; reloaded on
--resume so the curve continues where it stopped."""
import csv
import json
import os

from src import errors

FILE = "history.json"


class History:
    """Per-epoch rows kept in history.json/.csv and drawn as history.png. `epochs_done`: a resumed
    run keeps the rows of the epochs its checkpoint holds (a run killed after writing the history
    but before its epoch checkpoint left one more)."""

    def __init__(self, directory, epochs_done=0, write=True):
        self.directory, self.write = directory, write
        self.rows = []
        path = os.path.join(directory, FILE)
        if write and os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")  # left by a run killed while writing
        if epochs_done and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as file:
                    self.rows = [row for row in json.load(file) if row["epoch"] <= epochs_done]
            except (ValueError, UnicodeDecodeError, TypeError, KeyError):
                raise errors.UserError(f"{path} is damaged; delete it to resume without the earlier "
                                       "history") from None

    def add(self, row):
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]

    def update_last(self, **values):
        self.rows[-1].update(values)
        self.save()

    def best_valid(self, average_only=False):
        """The best validation accuracy among lstm_best.ckpt's candidates: every epoch and weight
        average, or only the averages once they have started (training.CheckpointAndValidate)."""
        averaged = average_only and any("valid_acc_average" in row for row in self.rows)
        keys = ("valid_acc_average",) if averaged else ("valid_acc", "valid_acc_average")
        scores = [row[key] for row in self.rows for key in keys if key in row]
        return max(scores) if scores else -1.0

    def save(self):
        if not self.write or not self.rows:
            return
        path = os.path.join(self.directory, FILE)
        try:
            with open(path + ".tmp", "w", encoding="utf-8") as file:
                json.dump(self.rows, file, indent=1)
            os.replace(path + ".tmp", path)
            keys = list(dict.fromkeys(key for row in self.rows for key in row))
            with open(os.path.join(self.directory, "history.csv"), "w", newline="", encoding="utf-8") as file:
                writer = csv.DictWriter(file, fieldnames=keys)
                writer.writeheader()
                writer.writerows(self.rows)
        except OSError as error:
            if os.path.exists(path + ".tmp"):
                os.remove(path + ".tmp")
            raise errors.UserError(f"cannot write {path}: {error.strerror}; pass a --ckpt_path in a "
                                   "writable folder with free space") from None

    def plot(self):
        if not self.write or not self.rows:
            return None
        import matplotlib
        matplotlib.use("Agg")  # headless: no display on training machines
        from matplotlib import pyplot

        epochs = [row["epoch"] for row in self.rows]
        figure, (loss_axis, acc_axis) = pyplot.subplots(1, 2, figsize=(10, 4))
        loss_axis.plot(epochs, [row["loss"] for row in self.rows], marker="o")
        loss_axis.set(xlabel="epoch", ylabel="train loss", title="training loss")
        valid = [(row["epoch"], row["valid_acc"]) for row in self.rows if "valid_acc" in row]
        if valid:
            acc_axis.plot(*zip(*valid), marker="o", color="tab:green", label="this epoch's weights")
        average = [(row["epoch"], row["valid_acc_average"]) for row in self.rows if "valid_acc_average" in row]
        if average:
            acc_axis.plot(*zip(*average), marker="s", color="tab:purple", label="weight average")
            acc_axis.legend()
        acc_axis.set(xlabel="epoch", ylabel="validation accuracy", title="validation accuracy")
        figure.tight_layout()
        path = os.path.join(self.directory, "history.png")
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        return path
