"""``python -m etcd3py.cli.benchmark``: the benchmark group on its own."""

from etcd3py.cli.benchmark import benchmark

if __name__ == "__main__":
    benchmark(prog_name="benchmark")
