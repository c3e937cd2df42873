"""Side-by-side benchmarks of etcd3py, raw gRPC stubs and peer clients (not tests).

Run ``python benchmarks/run.py [--quick]``; see benchmarks/README.md.
"""
