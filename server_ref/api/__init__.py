"""The gRPC face of a member (etcd's api/v3rpc, v3lock, v3election): servicers, request
checks, streams, and etcd errors mapped to gRPC statuses."""
