"""Wiring (etcd's embed): the one table of settings, the gRPC member, EmbeddedServer and the
CLI. The only layer that puts the others together."""
