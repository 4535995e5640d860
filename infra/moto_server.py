"""moto's server, single-threaded.

moto's own `moto_server` serves each request on a thread; with two
concurrent conditional writes it sometimes lets both win. One thread keeps
the adapter tests' concurrency checks honest.
"""
import sys

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(
        host,
        port,
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        use_reloader=False,
        request_handler=MotoRequestHandler,
    )
