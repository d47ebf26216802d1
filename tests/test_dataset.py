import os
import tarfile

import numpy as np
import pytest
from easydict import EasyDict

from src import dataset, errors, imdb, text


def make_config(corpus, glove_dir, preprocess_path, **overrides):
    values = dict(aclimdb_path=corpus, glove_path=glove_dir, embed_size=8,
                  preprocess_path=str(preprocess_path), max_len=12, min_freq=1, max_vocab=0,
                  valid_ratio=0.25, seed=1, pseudo_label_ratio=0.0)
    values.update(overrides)
    return EasyDict(values)


def test_prepare_writes_complete_folder_and_round_trips(corpus, glove_dir, tmp_path):
    config = make_config(corpus, glove_dir, tmp_path / "pre")
    meta = dataset.prepare(config)
    assert meta["counts"] == {"train": 36, "valid": 12, "test": 24}
    assert meta["embed_dim"] == 8 and meta["vocab_size"] == len(
        text.Vocabulary.load(str(tmp_path / "pre" / "vocab.txt")))
    for split in ("train", "valid", "test"):
        assert all(os.path.isfile(f"{dataset.mindrecord_path(config.preprocess_path, split)}{i}")
                   for i in range(dataset.SHARDS))
    weight = np.load(str(tmp_path / "pre" / "weight.npy"), allow_pickle=False)
    assert weight.shape == (meta["vocab_size"], 8)
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]

    # Reading back: every test review once, ids as the vocabulary encodes them.
    from mindspore.mindrecord import FileReader
    reader = FileReader(dataset.mindrecord_path(config.preprocess_path, "test") + "0")
    rows = sorted(reader.get_next(), key=lambda row: int(row["id"]))
    reader.close()
    reviews = imdb.read_reviews(corpus, ("test",))["test"]
    vocabulary = text.Vocabulary.load(str(tmp_path / "pre" / "vocab.txt"))
    assert len(rows) == len(reviews)
    for row, review in zip(rows, reviews):
        expected = vocabulary.encode(text.tokenize(review.text), config.max_len)
        assert row["feature"].tolist() == expected and int(row["length"]) == len(expected)
        assert int(row["label"]) == review.label


def test_same_input_gives_same_ids(corpus, glove_dir, tmp_path):
    first = make_config(corpus, glove_dir, tmp_path / "a")
    second = make_config(corpus, glove_dir, tmp_path / "b")
    dataset.prepare(first)
    dataset.prepare(second)
    for name in ("vocab.txt", "weight.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_reused_when_settings_match_rebuilt_when_not_or_forced(corpus, glove_dir, tmp_path, capsys):
    config = make_config(corpus, glove_dir, tmp_path / "pre")
    dataset.prepare(config)
    dataset.prepare(config)
    assert "Reusing preprocessed data" in capsys.readouterr().out
    dataset.prepare(config, force=True)
    assert "Starting Data Pre-processing" in capsys.readouterr().out
    config.max_len = 20
    dataset.prepare(config)
    assert "other settings: rebuilding" in capsys.readouterr().out


def test_interrupted_build_leaves_nothing_that_looks_finished(corpus, glove_dir, tmp_path, monkeypatch):
    config = make_config(corpus, glove_dir, tmp_path / "pre")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset, "write_mindrecord", crash)
    with pytest.raises(KeyboardInterrupt):
        dataset.prepare(config)
    assert os.listdir(tmp_path) == ["aclImdb", "glove"] or not (tmp_path / "pre").exists()
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]


def test_reads_the_tar_gz_like_the_folder(corpus, glove_dir, tmp_path):
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(corpus, arcname="aclImdb")
    from_folder = imdb.read_reviews(corpus)
    from_tar = imdb.read_reviews(str(archive))
    for split in ("train", "test"):
        assert [(r.name, r.label, r.text) for r in from_folder[split]] == \
               [(r.name, r.label, r.text) for r in from_tar[split]]


def test_truncated_archive_is_a_user_error(corpus, tmp_path):
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(corpus, arcname="aclImdb")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(errors.UserError, match="truncated or not a valid tar"):
        imdb.read_reviews(str(archive))


def test_invalid_utf8_is_replaced_and_counted(corpus):
    path = os.path.join(corpus, "train", "pos", "0_9.txt")
    with open(path, "ab") as file:
        file.write(b" great \xff\xfe movie")
    stats = imdb.ReadStats()
    reviews = imdb.read_reviews(corpus, ("train",), stats)
    assert stats.undecodable_files == 1
    assert any("\ufffd" in review.text for review in reviews["train"])


@pytest.mark.parametrize("layout, message", [
    ("missing", "does not exist"), ("empty", "not an aclImdb folder"), ("no_neg", "missing the folder train/neg")])
def test_bad_aclimdb_paths(tmp_path, layout, message):
    path = tmp_path / "aclImdb"
    if layout != "missing":
        path.mkdir()
    if layout == "no_neg":
        (path / "train" / "pos").mkdir(parents=True)
    with pytest.raises(errors.UserError, match=message):
        imdb.read_reviews(str(path))


def test_reader_batches_by_length_and_keeps_every_review(corpus, glove_dir, tmp_path):
    config = make_config(corpus, glove_dir, tmp_path / "pre")
    dataset.prepare(config)
    bucketed = dataset.create_dataset(config.preprocess_path, "test", 5, training=False,
                                      max_len=12, bucket_width=4)
    padded = dataset.create_dataset(config.preprocess_path, "test", 5, training=False, max_len=12)
    seen = 0
    for features, labels in bucketed.create_tuple_iterator(output_numpy=True):
        assert features.dtype == np.int32 and features.shape[1] <= 12
        assert (features != text.PAD_ID).any(axis=0).all()  # no all-padding column
        seen += len(labels)
    assert seen == 24
    shapes = [features.shape for features, _ in padded.create_tuple_iterator(output_numpy=True)]
    assert sum(shape[0] for shape in shapes) == 24 and {shape[1] for shape in shapes} == {12}


def test_training_batches_are_padded_to_their_bucket_boundary(corpus, glove_dir, tmp_path):
    """Each training shape compiles a static graph: a batch padded only to its longest review made
    a new shape (and a compile, and its memory) for every length that came up."""
    config = make_config(corpus, glove_dir, tmp_path / "pre", max_len=40)  # reviews of 8-35 tokens
    dataset.prepare(config)
    lengths = set()
    for epoch_seed in (1, 2, 3):
        data = dataset.create_dataset(config.preprocess_path, "train", 2, training=True, max_len=40,
                                      bucket_width=8, seed=epoch_seed)
        lengths |= {features.shape[1] for features, _ in data.create_tuple_iterator(output_numpy=True)}
    assert len(lengths) > 1 and lengths <= {7, 15, 23, 31, 39, 40}  # boundaries 8, 16, ... 41 minus 1


def test_random_window_crops_long_reviews_only_and_is_seeded():
    long, short = np.arange(100, dtype=np.int32), np.arange(5, dtype=np.int32)
    window = dataset.RandomWindow(10, seed=3)
    crops = [window(long) for _ in range(20)]
    assert all(len(crop) == 10 and (np.diff(crop) == 1).all() for crop in crops)
    assert len({int(crop[0]) for crop in crops}) > 1
    assert window(short) is short
    again = dataset.RandomWindow(10, seed=3)
    assert [int(again(long)[0]) for _ in range(20)] == [int(crop[0]) for crop in crops]



def test_validation_holds_out_whole_blocks_of_consecutive_ids():
    """Consecutive ids are reviews of one movie: a block is never split between train and valid."""
    names = [f"train/{folder}/{i}_{7 if folder == 'pos' else 2}.txt"
             for folder in ("pos", "neg") for i in range(0, 2000, 3)]
    names.append("train/pos/odd-name.txt")  # not <id>_<rating>.txt: a block of its own
    train, valid = dataset.split_train_valid(names, 0.2, seed=1)
    assert len(np.intersect1d(train, valid)) == 0 and len(train) + len(valid) == len(names)
    assert abs(len(valid) - 0.2 * len(names)) < dataset.MOVIE_BLOCK
    block = lambda i: (names[i].split("/")[1], int(names[i].split("/")[2].split("_")[0]) // dataset.MOVIE_BLOCK) \
        if names[i][-5].isdigit() else names[i]
    assert not {block(i) for i in train} & {block(i) for i in valid}
    # each class folder gives its share, so validation keeps the classes' balance
    for seed in range(1, 6):
        held_out_of_seed = dataset.split_train_valid(names, 0.2, seed)[1]
        for folder in ("pos", "neg"):
            in_folder = [i for i in range(len(names)) if names[i].startswith(f"train/{folder}/")]
            held_out = len(np.intersect1d(in_folder, held_out_of_seed))
            assert abs(held_out - 0.2 * len(in_folder)) <= dataset.MOVIE_BLOCK // 3 + 1  # a block
    again = dataset.split_train_valid(names, 0.2, seed=1)
    np.testing.assert_array_equal(valid, again[1])


def test_mindrecord_rows_read_back_in_the_order_written(tmp_path):
    # The seeded shuffle permutes row positions, so the same seed gives the same batches only if
    # every preprocessing run lays the rows out the same way (MindRecord's writer did not, for
    # rows given in several write calls).
    import mindspore.dataset as ds
    count = 10000
    rows = ({"id": i, "label": i % 2, "feature": np.arange(i % 7 + 1, dtype=np.int32)} for i in range(count))
    path = str(tmp_path / "rows.mindrecord")
    dataset.write_mindrecord(path, rows, count, "rows")
    read = ds.MindDataset(dataset.shard_files(path), columns_list=["id"], shuffle=False)
    assert [int(i) for (i,) in read.create_tuple_iterator(output_numpy=True, num_epochs=1)] == list(range(count))
