"""Training samples/s of one process vs N data-parallel msrun workers, on real data.

    python bench/bench_distributed.py --aclimdb_path=DATA/aclImdb --glove_path=DATA/glove \\
        --embed_size=50 --preprocess_path=/tmp/pre [--workers=1,2] [--steps=60] [--threads=0] \\
        [--key=value ...]

Preprocesses once (a matching preprocess_path is reused), then for each worker count runs this
file as the worker: 1 = one plain process, N > 1 = N msrun workers with --distribute=True. Every
worker trains on its shard as train.py does (same dataset, sharding, model and train step) and
times `steps` steps after 3 warm-up steps (graph compile). The job's samples/s is all workers'
samples over the slowest worker's time; "cores busy" is a worker's CPU time over its wall time.
--threads=K caps each worker's CPU kernel threads (0: MindSpore's default). Other --key=value
arguments go to every worker (default_config.yaml).
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from src import config as config_module, dataset  # noqa: E402  (the project root is put on the path first)

WORKER = "--bench_worker"
BENCH_OPTIONS = {"--workers": "1,2", "--steps": "60", "--threads": "0"}


def worker(result_prefix, steps, threads, argv):
    """One rank: the training pipeline of train.py, timed over `steps` steps."""
    import mindspore as ms
    import mindspore.dataset as ds

    import train
    from src import distributed, lstm

    config = config_module.load_config(argv)
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    if threads:
        ms.device_context.cpu.op_tuning.threads_num(threads)
    ms.set_seed(config.seed)
    ds.config.set_seed(config.seed)
    rank, group_size = distributed.setup_distributed(config)
    meta = dataset.load_meta(config.preprocess_path)
    weight = dataset.load_weight(config.preprocess_path)
    data = train.build_train_data(config, meta, rank, group_size)
    network = lstm.build_model(config, meta["vocab_size"], meta["embed_dim"], weight)
    train_step, _ = train.build_train_step(config, network, data.get_dataset_size())
    train_step.set_train()
    batches = data.create_tuple_iterator(num_epochs=1)
    for _ in range(3):  # compile
        features, labels = next(batches)
        train_step(features, labels).asnumpy()
    samples, started, cpu_started = 0, time.time(), time.process_time()
    for _, (features, labels) in zip(range(steps), batches):
        train_step(features, labels).asnumpy()
        samples += features.shape[0]
    seconds = time.time() - started
    # CPU time of all the process's threads over wall time: how many cores this rank kept busy.
    result = {"rank": rank, "samples": samples, "seconds": seconds,
              "cores": (time.process_time() - cpu_started) / seconds}
    with open(f"{result_prefix}.{rank}.json", "w", encoding="utf-8") as file:
        json.dump(result, file)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_job(workers, steps, threads, argv, folder):
    prefix = os.path.join(folder, f"result_{workers}")
    command = [os.path.abspath(__file__), WORKER, prefix, str(steps), str(threads), *argv]
    if workers == 1:
        command = [sys.executable, *command]
        log = f"{prefix}.log"
    else:
        log = os.path.join(folder, f"log_{workers}")
        command = ["msrun", f"--worker_num={workers}", f"--local_worker_num={workers}",
                   f"--master_port={free_port()}", f"--log_dir={log}", "--join=True",
                   *command, "--distribute=True", f"--device_num={workers}"]
    env = dict(os.environ, GLOG_v=os.getenv("GLOG_v", "3"))
    with open(f"{prefix}.out", "w", encoding="utf-8") as output:
        status = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, env=env).returncode
    if status != 0:
        sys.exit(f"{workers} worker(s) failed (exit code {status}); see {prefix}.out and {log}")
    results = []
    for rank in range(workers):
        with open(f"{prefix}.{rank}.json", encoding="utf-8") as file:
            results.append(json.load(file))
    return results


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == WORKER:
        worker(argv[1], int(argv[2]), int(argv[3]), argv[4:])
        return
    options = dict(BENCH_OPTIONS)
    for argument in argv:
        key, _, value = argument.partition("=")
        if key in options:
            options[key] = value
    argv = [a for a in argv if a.partition("=")[0] not in BENCH_OPTIONS]
    steps, threads = int(options["--steps"]), int(options["--threads"])
    config = config_module.load_config(argv)
    dataset.prepare(config)  # once, before any worker starts
    settings = {key: config[key] for key in ("max_len", "bucket_width", "batch_size", "embed_size",
                                             "num_hiddens", "pooling", "optimizer")}
    print(f"settings: {settings}, {steps} timed steps per worker, threads per worker: "
          f"{threads or 'default'}, {os.cpu_count()} CPUs", flush=True)
    baseline = None
    with tempfile.TemporaryDirectory(prefix="bench_distributed_") as folder:
        for workers in [int(n) for n in options["--workers"].split(",")]:
            results = run_job(workers, steps, threads, argv, folder)
            rate = sum(r["samples"] for r in results) / max(r["seconds"] for r in results)
            baseline = baseline or rate
            per_step = ", ".join(f"rank {r['rank']} {1000 * r['seconds'] / steps:.0f} ms/step, "
                                 f"{r['cores']:.2f} cores busy" for r in results)
            print(f"{workers} worker(s): {rate:.1f} samples/s ({rate / baseline:.2f}x; {per_step})",
                  flush=True)


if __name__ == "__main__":
    main()
