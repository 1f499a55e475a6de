"""Receives N messages with CaliDog's Python certstream client and prints them as JSON.

Used by tests/tests/certstream_interop.rs to check that certhound's server speaks certstream to
the real client library (`pip install certstream`).

    certstream_client.py URL N TIMEOUT_SECONDS

Prints one JSON array of the N messages received (as the library hands them to the callback)
on stdout and exits 0; after TIMEOUT_SECONDS it prints what it has and exits 1.
"""

import json
import logging
import os
import sys
import threading

import certstream

url, wanted, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
received = []
lock = threading.Lock()


def finish(code):
    with lock:
        sys.stdout.write(json.dumps(received) + "\n")
        sys.stdout.flush()
    # listen_for_events reconnects forever: leave the process at once.
    os._exit(code)


def callback(message, _context):
    with lock:
        received.append(message)
        done = len(received) >= wanted
    if done:
        finish(0)


def on_error(ex):
    sys.stderr.write("certstream error: %r\n" % (ex,))


timer = threading.Timer(limit, finish, args=(1,))
timer.daemon = True
timer.start()
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
certstream.listen_for_events(callback, url=url, on_error=on_error)
