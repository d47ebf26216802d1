"""Load time and latency of predict.py's model loading and prediction, for one model file.

    python bench/bench_predict.py --model lstm.onnx
    python bench/bench_predict.py --model ckpt_lstm/lstm_best.ckpt --preprocess_path=./preprocess --reviews=64

Reviews are random words of the model's vocabulary, REVIEW_WORDS long (about an IMDB review), or
the lines of --file. Prints: load seconds, the first prediction (graph compile / warm-up), median
latency of one review and throughput over all reviews in batches.
"""
import argparse
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from src import config as config_module, errors, inference, text  # noqa: E402

REVIEW_WORDS = 230  # mean aclImdb review length in tokens


def synthetic_reviews(vocabulary, count, seed=0):
    rng = np.random.default_rng(seed)
    words = vocabulary.words[text.UNK_ID + 1:] or [text.UNK]
    return [" ".join(rng.choice(words, size=REVIEW_WORDS)) for _ in range(count)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--model", required=True)
    parser.add_argument("--file", help="reviews, one per line (default: synthetic)")
    parser.add_argument("--reviews", type=int, default=128, help="number of synthetic reviews")
    parser.add_argument("--repeats", type=int, default=20, help="single-review calls to time")
    arguments, config_options = parser.parse_known_args()
    config = config_module.load_config(config_options)

    predictor, load_seconds = inference.timed(inference.load_predictor, arguments.model, config)
    reviews = (inference.read_review_lines(arguments.file) if arguments.file
               else synthetic_reviews(predictor.vocabulary, arguments.reviews))
    _, first_seconds = inference.timed(predictor.predict, reviews[:1])
    single = [inference.timed(predictor.predict, reviews[:1])[1] for _ in range(arguments.repeats)]
    _, all_seconds = inference.timed(predictor.predict, reviews)
    shape = (f"fixed input [{predictor.batch_size}, {predictor.max_len}]" if predictor.fixed_shape
             else "padded to the longest review")
    print(f"model            {arguments.model} ({os.path.getsize(arguments.model) / 1e6:.2f} MB, {shape})")
    print(f"load             {load_seconds:.3f} s")
    print(f"first prediction {first_seconds * 1e3:.1f} ms (includes compile / warm-up)")
    print(f"one review       {statistics.median(single) * 1e3:.2f} ms median of {arguments.repeats}")
    print(f"{len(reviews)} reviews      {all_seconds * 1e3:.1f} ms, "
          f"{len(reviews) / all_seconds:.1f} reviews/s (batches of {predictor.batch_size})")


if __name__ == "__main__":
    errors.run_main(main)
