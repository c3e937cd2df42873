"""Generated protobuf and gRPC code for the etcd v3 API (see scripts/gen_protos.py)."""
