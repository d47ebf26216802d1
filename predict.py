"""Sentiment of raw review text with a checkpoint or an exported model.

    python predict.py --model lstm.onnx "A wonderful, moving film." "Two hours I will never get back."
    python predict.py --model lstm.mindir --file reviews.txt --json      # one review per line
    cat reviews.txt | python predict.py --model lstm.onnx -              # lines from stdin
    python predict.py --model ckpt_lstm/lstm_best.ckpt --preprocess_path=./preprocess "Great!"

An export (.onnx / .mindir) needs its sidecar <name>.json from export.py (vocabulary, max_len,
input shape). A checkpoint needs --preprocess_path for the vocabulary; it carries its own model
settings (--num_hiddens, --pooling, ...).
Prints `label<TAB>probability<TAB>review` per review, or one JSON object per line with --json:
exactly one answer per non-blank input line (lines end at LF, CRLF or CR; blank lines are skipped).
Many reviews are run in batches of batch_size sorted by length, each padded only to its longest
review; one review runs at its own length. An .onnx export runs on onnxruntime alone (no
MindSpore import); a checkpoint runs as the same ONNX graph built in memory from its weights
(no graph compile per call). Exports made with --static_shape=True take exactly
[batch_size, max_len], so one review costs a whole batch. --verbose prints the timings.
"""
import argparse
import json
import sys

from src import config as config_module, errors, inference

PREVIEW_CHARS = 60  # of each review echoed in the plain output


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        # One `error:` line like every other entry point, instead of argparse's usage dump.
        raise errors.UserError(f"{message} (see --help)")


def parse_arguments(argv):
    parser = _ArgumentParser(
        description="Classify movie reviews as negative or positive. Other options: the "
                    "--key=value settings of default_config.yaml (for a .ckpt model).", allow_abbrev=False)
    parser.add_argument("reviews", nargs="*",
                        help="review texts; - reads one review per line from stdin (one answer per "
                        "non-blank line: lines end at LF, CRLF or CR only)")
    parser.add_argument("--model", required=True, help="a .ckpt, or an .onnx/.mindir from export.py")
    parser.add_argument("--file", help="a text file (UTF-8, or UTF-16 with a BOM) with one review per line; "
                        "one answer per non-blank line")
    parser.add_argument("--json", action="store_true", help="print one JSON object per review")
    parser.add_argument("--verbose", action="store_true", help="print load time and latency to stderr")
    arguments, config_options = parser.parse_known_args(argv)
    for option in config_options:
        # "--key value" would have left the value among the reviews.
        if not option.startswith("--") or "=" not in option:
            raise errors.UserError(f"unrecognized argument {option!r}: settings take the form --key=value")
    return arguments, config_options


def collect_reviews(arguments):
    reviews = []
    for position, review in enumerate(arguments.reviews, 1):
        if review == "-":
            reviews += inference.read_review_lines("-")
        elif not review.strip():
            raise errors.UserError(f"review argument {position} is empty")
        else:
            reviews.append(review)
    if arguments.file:
        lines = inference.read_review_lines(arguments.file)
        if not lines:
            raise errors.UserError(f"{arguments.file} holds no reviews (one review per line)")
        reviews += lines
    if not reviews:
        raise errors.UserError("no reviews to classify: pass review texts, --file FILE, or - to read stdin")
    return reviews


def print_safely():
    """Any review that could be read can be printed: characters the terminal's encoding lacks,
    and lone surrogates (undecodable bytes in a command-line argument), come out as \\x.. / \\u..
    escapes instead of failing after the predictions were made."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv=None):
    print_safely()
    arguments, config_options = parse_arguments(sys.argv[1:] if argv is None else argv)
    config = config_module.load_config(config_options)
    reviews = collect_reviews(arguments)  # before loading: bad input fails fast
    predictor, load_seconds = inference.timed(inference.load_predictor, arguments.model, config)
    results, predict_seconds = inference.timed(predictor.predict, reviews)
    for review, (label, probability, probabilities) in zip(reviews, results):
        if arguments.json:
            print(json.dumps({"text": review, "label": label, "probability": probability,
                              "probabilities": probabilities}, ensure_ascii=False))
        else:
            preview = " ".join(review.split())
            preview = preview if len(preview) <= PREVIEW_CHARS else preview[:PREVIEW_CHARS - 3] + "..."
            print(f"{label}\t{probability:.4f}\t{preview}")
    if arguments.verbose:
        # The first call includes graph compilation (MindSpore) or session warm-up; time one more.
        _, single_seconds = inference.timed(predictor.predict, reviews[:1])
        print(f"loaded {arguments.model} in {load_seconds:.2f} s; {len(reviews)} reviews in "
              f"{predict_seconds * 1e3:.1f} ms (first call); one review in {single_seconds * 1e3:.2f} ms",
              file=sys.stderr)


if __name__ == "__main__":
    errors.run_main(main)
