"""moto's server with its requests handled one at a time.

moto's DynamoDB is not thread-safe: concurrent TransactWriteItems from one threaded
`moto_server` fail with HTTP 500 ("dictionary changed size during iteration", moto 5.2.6).
Real DynamoDB serialises conflicting writes itself; this wrapper gives the tests the same
guarantee by holding one lock around moto's application (connections stay concurrent).
Usage: python serial_moto.py HOST PORT
"""

import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialised(environ, start_response):
    with lock:
        # The whole body is made inside the lock: moto may build it lazily.
        return [b"".join(app(environ, start_response))]


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)
