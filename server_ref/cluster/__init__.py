"""A server_ref member in a Raft cluster: what it keeps on disk and how it talks to its peers."""
