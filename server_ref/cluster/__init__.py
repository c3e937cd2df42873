"""A server_ref member in a Raft cluster: its Raft driver (``member``), how it starts
(``bootstrap``), what it keeps across restarts (``storage``, ``disk``), and how it talks to
its peers: a peer protocol of our own on the peer URLs (``codec``, ``tcp``; the contract
the driver relies on is ``transport``), or, in one process, an in-process network with
fault injection (``network``).
"""
