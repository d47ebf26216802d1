"""aclImdb + GloVe -> MindRecord files, and the MindSpore datasets that read them back.

Preprocessing writes into <preprocess_path>:
    aclImdb_{train,valid,test}.mindrecord0..3 (+ .db)  rows {id, label, feature, length}
    aclImdb_unsup.mindrecord0..3  with pseudo_label_ratio > 0: the unlabelled reviews (train/unsup,
                   label -1) for self-training
    vocab.txt      one token per line, line number = id (0 <pad>, 1 <unk>)
    weight.npy     the embedding matrix, float32 [vocab size, dim] (np.load, no pickle)
    meta.json      the settings and the inputs' fingerprints it was built from, and what it found;
                   written last. It marks the folder as preprocessing's own: only such a folder
                   (or an empty one) is ever replaced (src/preprocessed_folder.py)
The rows are token ids truncated to max_len but not padded: the reader pads each batch to its
length bucket (training: the bucket's upper length; evaluation: the longest review in the
batch), or to max_len for the reference recipe.
Everything is written to a temporary folder that is renamed into place when complete, so an
interrupted run never leaves a folder that looks finished.
"""
import json
import os
import shutil
import time

import numpy as np
from tqdm import tqdm

from src import errors, fingerprint, imdb, lock, preprocessed_folder, text, word_vectors

FORMAT_VERSION = 4  # 2: validation held out in blocks of consecutive ids; 3: per class folder;
# 4: meta.json records the inputs' fingerprints
SHARDS = 4  # as the reference: aclImdb_train.mindrecord0..3
SCHEMA = {"id": {"type": "int32"}, "label": {"type": "int32"},
          "feature": {"type": "int32", "shape": [-1]}, "length": {"type": "int32"}}
META_FILE, VOCAB_FILE, WEIGHT_FILE = preprocessed_folder.META_FILE, "vocab.txt", "weight.npy"


def mindrecord_path(preprocess_path, split):
    return os.path.join(preprocess_path, f"aclImdb_{split}.mindrecord")


def shard_files(path):
    """The SHARDS files write_mindrecord(path, ...) writes: path0, path1, ..."""
    return [path + str(shard) for shard in range(SHARDS)]


def settings_of(config):
    """What the preprocessed data depends on besides the inputs' contents (input_fingerprint);
    a folder built from other settings is rebuilt."""
    vectors_file = word_vectors.find_vectors_file(config.glove_path, config.embed_size)
    return {"format_version": FORMAT_VERSION, "tokenizer_version": text.TOKENIZER_VERSION,
            "aclimdb_path": os.path.abspath(config.aclimdb_path),
            "vectors_file": os.path.abspath(vectors_file),
            "max_len": config.max_len, "min_freq": config.min_freq, "max_vocab": config.max_vocab,
            "valid_ratio": config.valid_ratio, "seed": config.seed,
            "unsup": config.pseudo_label_ratio > 0}


def check_matches(config, meta, keys=None):
    """Raises UserError when the preprocessed folder was not built from the corpus, vectors and
    settings `config` gives (only `keys` of the settings, if given). Skipped when the corpus or
    the vectors are not there to compare with (eval and export need only the folder)."""
    if not (config.aclimdb_path and os.path.exists(config.aclimdb_path) and config.glove_path
            and os.path.exists(config.glove_path)):
        return
    try:
        settings = settings_of(config)
    except errors.UserError:  # no vectors file of this embed_size in the folder: nothing to compare
        return
    # The unlabelled split is an addition that changes none of the labelled ones, and which train
    # reviews are held out for validation (seed, valid_ratio) changes no test review: a model
    # trained with --seed=2 is scored on its own folder without repeating the seed.
    keys = keys or [key for key in settings if key not in ("unsup", "seed", "valid_ratio")]
    settings = {key: settings[key] for key in keys}
    inputs = fingerprint.inputs_of({**meta.get("settings", {}), **settings})
    found = fingerprint.differences(meta, settings, inputs)
    if found:
        raise errors.UserError(f"{config.preprocess_path} was not built from the given inputs and settings "
                               f"({'; '.join(found)}); pass the --preprocess_path built from them, or "
                               "--preprocess=True to rebuild it (and retrain: the vocabulary may change)")


def load_meta(preprocess_path):
    path = os.path.join(preprocess_path, META_FILE)
    if not os.path.isfile(path):
        raise errors.UserError(
            f"{preprocess_path} holds no complete preprocessed data (no {META_FILE}); run train.py "
            "with --aclimdb_path and --glove_path, or pass --preprocess=True")
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise errors.UserError(f"{path} is corrupt; rebuild the folder with --preprocess=True") from None


def load_weight(preprocess_path):
    """The embedding matrix (weight.npy); never unpickled (a pickled file is refused, not
    executed)."""
    path = os.path.join(preprocess_path, WEIGHT_FILE)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise errors.UserError(f"{path} is missing or not a plain numpy array ({error}); rebuild "
                               "it with --preprocess=True") from None


def prepare(config, force=False):
    """Builds the preprocessed folder unless one built from the same settings and unchanged inputs
    is already there. Holds the preprocessing lock (src/lock.py) meanwhile."""
    lock.acquire_preprocessing(config.preprocess_path)
    try:
        return _prepare_locked(config, force)
    finally:
        lock.release_preprocessing(config.preprocess_path)


def _prepare_locked(config, force):
    settings = settings_of(config)
    inputs = fingerprint.inputs_of(settings)  # taken before reading: a change while building shows next time
    # A link to a folder (preprocessed data on another disk) stays a link: build beside its target.
    path = os.path.realpath(config.preprocess_path)
    preprocessed_folder.remove_leftovers(path)
    if not force and os.path.isfile(os.path.join(path, META_FILE)):
        try:
            meta = load_meta(path)
            reasons = fingerprint.differences(meta, settings, inputs)
        except errors.UserError:
            meta, reasons = {}, [f"its {META_FILE} is damaged"]
        if not reasons:
            print(f"Reusing preprocessed data in {config.preprocess_path}")
            return meta
        kind = "other inputs" if meta.get("settings") == settings else "other settings"
        print(f"Preprocessed data in {config.preprocess_path} was built with {kind}: rebuilding "
              f"({'; '.join(reasons)})")
    preprocessed_folder.check_replaceable(path)
    print("============== Starting Data Pre-processing ==============")
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
        temporary = f"{path}.tmp-{preprocessed_folder.temporary_suffix()}"
        shutil.rmtree(temporary, ignore_errors=True)
        os.makedirs(temporary)
    except OSError as error:
        raise errors.UserError(f"cannot write preprocessed data under {parent}: {error.strerror}; pass a "
                               "--preprocess_path in a writable folder with free space") from None
    try:
        meta = _build(config, settings, inputs, temporary)
        preprocessed_folder.put_in_place(temporary, path)
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise errors.UserError(f"writing preprocessed data to {path} failed: {error.strerror or error}; "
                               "pass a --preprocess_path in a writable folder with free space") from None
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return meta


MOVIE_BLOCK = 50  # consecutive review ids held out together


def split_train_valid(names, valid_ratio, seed):
    """Indices of the train reviews kept for training and of those held out for validation.

    aclImdb numbers each folder's reviews movie by movie (consecutive ids are reviews of the same
    movie, at most 30 per movie), and its test movies are not its training movies. Holding out
    whole blocks of MOVIE_BLOCK consecutive ids keeps validation nearly movie-disjoint too: a
    random split puts the same movies on both sides and favours later epochs that memorise the
    training movies (docs/results.md). Each folder (pos, neg) gives valid_ratio of its own
    reviews, so validation keeps the classes' balance. Files not named <id>_<rating>.txt are
    blocks of their own."""
    blocks = {}  # folder -> block key -> indices
    for index, name in enumerate(names):
        folder, _, file_name = name.rpartition("/")
        stem = file_name.split("_", 1)[0]
        key = int(stem) // MOVIE_BLOCK if stem.isdigit() else (name, index)
        blocks.setdefault(folder, {}).setdefault(key, []).append(index)
    rng = np.random.default_rng(seed)
    valid = []
    for folder in sorted(blocks):
        groups = list(blocks[folder].values())
        target = int(round(sum(map(len, groups)) * valid_ratio))
        taken = 0
        for group in rng.permutation(len(groups)):
            if taken >= target:
                break
            valid.extend(groups[group])
            taken += len(groups[group])
        if valid_ratio > 0 and taken == sum(map(len, groups)):
            raise errors.UserError(
                f"validation would take all {taken} reviews of {folder or 'train'} (held out "
                f"in blocks of {MOVIE_BLOCK} consecutive ids; small corpora numbered 0..n are one block): "
                "lower --valid_ratio (0: no validation), add reviews, or number them further apart")
    valid = np.sort(np.array(valid, dtype=np.int64))
    return np.setdiff1d(np.arange(len(names)), valid), valid


def _build(config, settings, inputs, folder):
    started = time.time()
    stats = imdb.ReadStats()
    reviews = imdb.read_reviews(config.aclimdb_path, ("train", "test"), stats)
    tokens = {split: [text.tokenize(review.text) for review in
                      tqdm(reviews[split], desc=f"tokenize {split}", unit=" reviews", mininterval=2)]
              for split in reviews}

    train_ids, valid_ids = split_train_valid([review.name for review in reviews["train"]],
                                             config.valid_ratio, config.seed)
    vocabulary = text.Vocabulary.build((tokens["train"][i] for i in train_ids),
                                       config.min_freq, config.max_vocab)
    vectors = word_vectors.load_vectors(settings["vectors_file"])
    if vectors.vector_size != config.embed_size:
        print(f"note: {settings['vectors_file']} holds {vectors.vector_size}-dimensional vectors, "
              f"not embed_size={config.embed_size}; the model uses {vectors.vector_size}")
    weight, found = word_vectors.embedding_matrix(vocabulary, vectors, config.seed)
    print(f"{found} of {len(vocabulary) - 2} vocabulary words have a vector in "
          f"{os.path.basename(settings['vectors_file'])}")

    vocabulary.save(os.path.join(folder, VOCAB_FILE))
    np.save(os.path.join(folder, WEIGHT_FILE), weight)
    parts = {"train": ("train", train_ids), "valid": ("train", valid_ids),
             "test": ("test", np.arange(len(reviews["test"])))}
    counts = {}
    for split, (source, indices) in parts.items():
        if len(indices):
            rows = ({"id": int(i), "label": reviews[source][i].label,
                     "feature": np.asarray(vocabulary.encode(tokens[source][i], config.max_len), np.int32)}
                    for i in indices)
            counts[split] = write_mindrecord(mindrecord_path(folder, split), rows, len(indices), split)
    if settings["unsup"]:
        try:
            unlabelled = imdb.read_reviews(config.aclimdb_path, ("unsup",), stats)["unsup"]
        except errors.UserError as error:
            raise errors.UserError(f"{error}: self-training reads the unlabelled reviews; pass "
                                   "--pseudo_label_ratio=0 to train without them") from None
        rows = ({"id": index, "label": imdb.UNLABELLED,
                 "feature": np.asarray(vocabulary.encode(text.tokenize(review.text), config.max_len), np.int32)}
                for index, review in enumerate(unlabelled))
        counts["unsup"] = write_mindrecord(mindrecord_path(folder, "unsup"), rows, len(unlabelled), "unsup")
    lengths = [min(len(tokens["train"][i]), config.max_len) for i in train_ids]
    meta = {"settings": settings, "inputs": inputs, "vocab_size": len(vocabulary), "embed_dim": int(weight.shape[1]),
            "words_with_vector": found, "counts": counts,
            "undecodable_files": stats.undecodable_files, "empty_reviews": stats.empty_files,
            "skipped_entries": stats.skipped_entries,
            "mean_train_length": float(np.mean(lengths)), "seconds": round(time.time() - started, 1)}
    if stats.undecodable_files:
        print(f"note: {stats.undecodable_files} reviews were not valid UTF-8; bad bytes were replaced")
    if stats.skipped_entries:
        print(f"note: skipped {stats.skipped_entries} entries named *.txt that are not regular files "
              "(folders, dangling links, pipes, devices)")
    with open(os.path.join(folder, META_FILE), "w", encoding="utf-8") as file:
        json.dump(meta, file, indent=2)
    print(f"Preprocessed {counts} reviews in {meta['seconds']} s; vocabulary {len(vocabulary)} words")
    return meta


def read_split(preprocess_path, split, columns=("feature", "label")):
    """{column: list of values} of a preprocessed split, in file order (token ids as arrays)."""
    import mindspore.dataset as ds

    first_file = mindrecord_path(preprocess_path, split) + "0"
    if not os.path.isfile(first_file):
        raise errors.UserError(f"{first_file} not found: pass the --preprocess_path that train.py wrote")
    rows = ds.MindDataset(first_file, columns_list=list(columns), shuffle=False)
    values = {column: [] for column in columns}
    for row in rows.create_tuple_iterator(output_numpy=True, num_epochs=1):
        for column, value in zip(columns, row):
            values[column].append(value if value.ndim else value.item())
    return values


def write_mindrecord(path, rows, count, description):
    from mindspore.mindrecord import FileWriter

    try:
        writer = FileWriter(path, shard_num=SHARDS, overwrite=True)
        writer.add_schema(SCHEMA, "nlp_schema")
        writer.add_index(["id", "label"])
        all_rows = []
        for row in tqdm(rows, total=count, desc=f"write {description}", unit=" reviews", mininterval=2):
            row["length"] = len(row["feature"])
            all_rows.append(row)
        # One call: rows given in several calls are laid out over the shards in an order that
        # changes from run to run, and the seeded shuffle (which permutes positions) with them.
        # In one call they are read back in the order written. Holding them costs little: the
        # token ids of the 50,000 unlabelled reviews are 55 MB.
        if all_rows:
            writer.write_raw_data(all_rows)
        writer.commit()
    except RuntimeError as error:
        # MindRecord reports a full disk as a RuntimeError wrapped in a C++ call stack: keep its
        # "[ERROR] ..." line.
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        problem = next((line for line in lines if line.startswith("[ERROR]")), lines[0] if lines else "")
        raise OSError(problem.removeprefix("[ERROR]").strip()) from None
    return count


def bucket_boundaries(max_len, bucket_width):
    """Upper length limits of the buckets: bucket_width, 2*bucket_width, ... up to max_len."""
    return list(range(bucket_width, max_len, bucket_width)) + [max_len + 1]


def longest_training_length(max_len, crop_len=0):
    """The longest a training review can be: its crop_len window, else max_len."""
    return min(max_len, crop_len or max_len)


def training_buckets(max_len, bucket_width, crop_len=0):
    """How many length buckets the training batches fall into (1 without buckets)."""
    if bucket_width <= 0:
        return 1
    return len(bucket_boundaries(longest_training_length(max_len, crop_len), bucket_width))


class RandomWindow:
    """Cuts a random window of `length` tokens out of longer reviews (training only): each epoch
    sees a different part of every long review, and the LSTM runs over `length` steps at most."""

    def __init__(self, length, seed):
        self.length = length
        self.rng = np.random.default_rng(seed)

    def __call__(self, feature):
        if len(feature) <= self.length:
            return feature
        start = self.rng.integers(0, len(feature) - self.length + 1)
        return feature[start:start + self.length]


def create_dataset(preprocess_path, split, batch_size, training, max_len, bucket_width=0,
                   num_shards=None, shard_id=None, drop_remainder=False, crop_len=0, seed=1,
                   extra_files=(), columns=("feature", "label")):
    """Batches of (feature int32 [batch, length], label int32 [batch]).

    bucket_width > 0: reviews of similar length are batched together and padded only to the
    longest one in the batch, so the LSTM does little work on padding. bucket_width == 0: every
    review is padded to max_len (the reference recipe). crop_len > 0 (training): random windows
    of crop_len tokens instead of whole reviews. Training batches with buckets are full and padded
    to their bucket's upper length (a fixed set of shapes). extra_files: more MindRecord files of
    the same schema read with the split (self-training's pseudo-labelled reviews)."""
    import mindspore.dataset as ds

    first_file = mindrecord_path(preprocess_path, split) + "0"
    if not os.path.isfile(first_file):
        raise errors.UserError(f"{first_file} not found: preprocess first (train.py does it)")
    files = first_file
    if extra_files:  # a list must name every shard file
        files = shard_files(mindrecord_path(preprocess_path, split)) + list(extra_files)
    data = ds.MindDataset(files, columns_list=list(columns), shuffle=training,
                          num_shards=num_shards, shard_id=shard_id, num_parallel_workers=2)
    if training and crop_len > 0:
        # One worker keeps the window sequence reproducible for a given seed.
        data = data.map(RandomWindow(crop_len, seed), input_columns=["feature"],
                        num_parallel_workers=1)
        max_len = longest_training_length(max_len, crop_len)
    if bucket_width > 0:
        boundaries = bucket_boundaries(max_len, bucket_width)
        # Training batches get one of a few fixed shapes (each bucket's upper length, full
        # batches only: each bucket's part-filled last batch is dropped, a different one every
        # epoch as the order is shuffled). GRAPH_MODE compiles each shape once into a static
        # graph; a dynamic-shape graph ran the same training step 1.9x slower here.
        # The shape must be [None]: with None, MindSpore pads to the batch's longest review even
        # with pad_to_bucket_boundary, and every new length compiled another graph (12 lengths
        # in 80 batches of windows up to 512 tokens in 4 buckets).
        return data.bucket_batch_by_length(
            ["feature"], boundaries, [batch_size] * (len(boundaries) + 1),
            pad_info={"feature": ([None], text.PAD_ID)}, pad_to_bucket_boundary=training,
            drop_remainder=drop_remainder or training)
    return data.padded_batch(batch_size, drop_remainder=drop_remainder,
                             pad_info={"feature": ([max_len], text.PAD_ID)})
