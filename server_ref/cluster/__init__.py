"""How members of a server_ref cluster talk to each other: a peer protocol of our own on
the peer URLs (etcd's --listen-peer-urls), carrying Raft messages and a few requests
(a lease renewal forwarded to the leader, the membership asked for by a joining member).

`codec` turns Raft messages and frames into bytes and back, `transport` says what the Raft
driver may rely on, `tcp` keeps the connections.
"""
