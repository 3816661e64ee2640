"""Moving calls between processes: framing, the wire messages, the caller's and the callee's
side of a connection, and the endpoints they listen on and connect to.

The transport knows nothing above it: the runtime hands it a dispatcher for incoming
requests and uses its connections for outgoing calls.
"""
