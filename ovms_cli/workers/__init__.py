"""``--workers N``: N server processes behind the same gRPC and REST ports, seen as one server.

``supervisor`` starts, restarts and stops the worker processes; each worker is an ordinary server
(``transports/server.py``) told its ``WorkerSlot``. The workers share the ports with SO_REUSEPORT
(the kernel spreads connections, not requests, over them) and talk to each other over Unix
sockets in the pool's state directory (``peers``): a ``/metrics`` scrape sums every worker's
series, a config reload requested over REST reaches every worker, and server readiness holds only
when every worker is ready (``slot``).
"""
