#!/usr/bin/env python3
"""Hands the swarm worker join token and the Dokploy SSH public key to the workers, then stops serving them.

Config: key "tokenServer" of $DOKPLOY_OCI_ROOT/etc/dokploy-oci/node.json (see docs/host-contract.md).
The manager bootstrap writes the served values into stateDir later, so they are read at request time.
"""
import argparse
import hmac
import json
import math
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")
MIN_SECRET_LENGTH = 32
RETRY_AFTER_SECONDS = 5
# How far in the future a saved start time may lie (a clock corrected after the save) before it counts as corrupt.
CLOCK_SKEW_SECONDS = 300
# A client asking `?wait=N` is answered as soon as the value exists, within N seconds (at most this many).
MAX_WAIT_SECONDS = 60
WAIT_POLL_SECONDS = 0.05
# Connections served at once (one thread each); past that a client is told to retry, so none can pin the server.
MAX_CONNECTIONS = 256
TEXT = "text/plain; charset=utf-8"
# path -> (file in stateDir, content type, what fetching it counts as towards a served worker)
SECRET_PATHS = {
    "/token": ("token", TEXT, "token"),
    "/public-key": ("public-key", TEXT, "key"),
    "/credentials": ("credentials.json", "application/json", "key"),
}
# credentials.json may hold more (an API key): workers only ever get these.
SHARED_CREDENTIALS = ("ssh_key_id", "public_key")


def fail(message):
    print(f"token-server: {message}", file=sys.stderr)
    sys.exit(2)


def load_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            section = json.load(f)["tokenServer"]
        config = {"bind_address": str(section["bindAddress"]), "port": int(section["port"]),
                  "secret": str(section["secret"]), "state_dir": ROOT + section["stateDir"],
                  "expected_workers": int(section["expectedWorkers"]), "ttl_seconds": int(section["ttlSeconds"])}
    except FileNotFoundError:
        fail(f"config file {path} not found")
    except (OSError, ValueError, KeyError, TypeError) as error:
        fail(f"invalid tokenServer config in {path}: {error!r}")
    if len(config["secret"]) < MIN_SECRET_LENGTH:
        fail(f"tokenServer.secret is shorter than {MIN_SECRET_LENGTH} characters; refusing to start")
    if config["ttl_seconds"] <= 0:
        fail("tokenServer.ttlSeconds must be > 0: the TTL is what always ends serving")
    return config


class ServeState:
    """When serving started and which clients fetched what; persisted so a restart resets neither TTL nor count.

    expected_workers <= 0 means no count limit: only the TTL ends serving.
    """

    def __init__(self, state_dir, expected_workers, ttl_seconds):
        self.path = os.path.join(state_dir, "server-state.json")
        self.expected_workers, self.ttl_seconds = expected_workers, ttl_seconds
        self.lock = threading.Lock()
        try:
            with open(self.path, encoding="utf-8") as f:
                saved = json.load(f)
            self.started_at = saved["startedAt"]
            # NaN would never reach the TTL and a start in the future would push it out: both keep serving forever.
            if isinstance(self.started_at, bool) or not isinstance(self.started_at, (int, float)) \
                    or not math.isfinite(self.started_at) or self.started_at > time.time() + CLOCK_SKEW_SECONDS:
                raise ValueError(f"startedAt {self.started_at!r} is not a past time in seconds")
            self.fetched = {str(client): {str(kind) for kind in kinds} for client, kinds in saved["fetched"].items()}
        except FileNotFoundError:
            self.started_at, self.fetched = time.time(), {}
            self.save()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            # Fail closed: starting afresh would reopen an exhausted server.
            fail(f"unreadable state file {self.path} ({error!r}); delete it to serve again for a new TTL")

    def exhausted(self):
        served = sum(1 for kinds in self.fetched.values() if kinds >= {"token", "key"})
        return 0 < self.expected_workers <= served or time.time() - self.started_at >= self.ttl_seconds

    def serve(self, client, kind, read_value):
        """(status, body) for one secret. Checked and recorded under one lock so nobody is served past exhaustion."""
        with self.lock:
            if self.exhausted():
                return 410, b""
            body = read_value()
            if body is None:
                return 503, b""
            kinds = self.fetched.setdefault(client, set())
            if kind not in kinds:
                kinds.add(kind)
                self.save()
            return 200, body

    def save(self):
        temporary = self.path + ".tmp"
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump({"startedAt": self.started_at,
                       "fetched": {client: sorted(kinds) for client, kinds in self.fetched.items()}}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)


class Handler(BaseHTTPRequestHandler):
    server_version = "dokploy-token-server"
    sys_version = ""
    timeout = 10  # a stalled client must not hold its thread forever

    def respond(self):
        path = urlsplit(self.path).path
        # Auth before anything path-specific, so unauthenticated probes learn nothing about what exists.
        if path != "/healthz" and not self.authorized():
            return self.send(401, headers={"WWW-Authenticate": "Bearer"})
        if self.command != "GET":
            return self.send(405, headers={"Allow": "GET"})
        if path == "/healthz":
            with self.server.state.lock:
                serving = not self.server.state.exhausted()
            return self.send(200, json.dumps({"status": "ok", "serving": serving}).encode(),
                             {"Content-Type": "application/json"})
        if path not in SECRET_PATHS:
            return self.send(404)
        file_name, content_type, kind = SECRET_PATHS[path]
        wait_seconds = self.requested_wait()
        deadline = time.monotonic() + wait_seconds
        # A long poll: the value is checked again every WAIT_POLL_SECONDS, with the lock held only for each check,
        # and sent after serve() released it, so a slow or waiting client cannot stall the others.
        while True:
            status, body = self.server.state.serve(self.client_address[0], kind, lambda: self.read_value(file_name))
            if status != 503 or time.monotonic() >= deadline:
                break
            time.sleep(WAIT_POLL_SECONDS)
        # After a full wait the client may ask again at once: it has already waited here.
        retry_after = 0 if wait_seconds > 0 else RETRY_AFTER_SECONDS
        headers = {200: {"Content-Type": content_type}, 503: {"Retry-After": str(retry_after)}}
        return self.send(status, body, headers.get(status))

    def requested_wait(self):
        """Seconds the client is willing to wait for a value not there yet: ?wait=N, clamped to MAX_WAIT_SECONDS."""
        try:
            wait = float(parse_qs(urlsplit(self.path).query).get("wait", ["0"])[0])
        except ValueError:
            return 0
        return min(max(wait, 0), MAX_WAIT_SECONDS) if wait == wait else 0  # NaN waits nothing

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = respond

    def authorized(self):
        given = self.headers.get("Authorization", "").encode("latin-1")
        return hmac.compare_digest(given, f"Bearer {self.server.config['secret']}".encode())

    def read_value(self, file_name):
        try:
            with open(os.path.join(self.server.config["state_dir"], file_name), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        if file_name != "credentials.json":
            return data
        try:
            credentials = json.loads(data)
            return json.dumps({key: credentials[key] for key in SHARED_CREDENTIALS}).encode()
        except (ValueError, KeyError, TypeError):
            return None  # incomplete credentials are as good as none yet

    def send(self, status, body=b"", headers=None):
        self.send_response(status)
        for name, value in {**(headers or {}), "Content-Length": str(len(body)), "Cache-Control": "no-store"}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code="-", size="-"):
        # The path only: a careless client could put a secret in the query string.
        path = urlsplit(getattr(self, "path", "")).path
        self.log_message("%s %r %s", self.command or "-", path, int(code))


class Server(ThreadingHTTPServer):
    request_queue_size = 64  # the default 5 drops the SYNs of workers booting together, costing them seconds
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(f"HTTP/1.0 503 Service Unavailable\r\nRetry-After: {RETRY_AFTER_SECONDS}\r\n"
                                "Content-Length: 0\r\n\r\n".encode())
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=ROOT + "/etc/dokploy-oci/node.json")
    config = load_config(parser.parse_args().config)
    os.makedirs(config["state_dir"], mode=0o700, exist_ok=True)
    state = ServeState(config["state_dir"], config["expected_workers"], config["ttl_seconds"])
    address = (config["bind_address"], config["port"])
    try:
        server = Server(address, Handler)
    except OSError as error:
        sys.exit(f"token-server: cannot listen on {address[0]}:{address[1]}: {error}")
    server.config, server.state = config, state
    print(f"token-server: listening on {address[0]}:{address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
