"""Preprocessing time (cold, then cached) and peak memory on real data.

    python bench/bench_preprocess.py --aclimdb_path=DATA/aclImdb --glove_path=DATA/glove \\
        --embed_size=50 --preprocess_path=/tmp/bench_pre [--key=value ...]

The cold run rebuilds preprocess_path (--preprocess=True is implied); the cached run finds the
matching meta.json and reuses it. Prints the settings, both times and the peak RSS.
"""
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from src import config as config_module, dataset  # noqa: E402  (project root put on the path first)


def main():
    config = config_module.load_config(sys.argv[1:])
    started = time.time()
    meta = dataset.prepare(config, force=True)
    cold = time.time() - started
    started = time.time()
    dataset.prepare(config)
    cached = time.time() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"settings: max_len {config.max_len}, min_freq {config.min_freq}, max_vocab {config.max_vocab}, "
          f"valid_ratio {config.valid_ratio}, "
          f"vectors {meta['settings']['vectors_file']}")
    print(f"reviews {meta['counts']}, vocabulary {meta['vocab_size']}, "
          f"words with a vector {meta['words_with_vector']}")
    print(f"cold {cold:.1f} s, cached {cached:.2f} s, peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
