#!/usr/bin/env python3
"""Hands the swarm worker join token and the Dokploy SSH public key to the expected workers, each once."""
# A worker proves who it is: header X-Dokploy-Worker names it, and its bearer credential is
# sha256("<secret>:<name>"), which Terraform put in that worker's user_data alone; the server recomputes it, so it
# stores no per-worker secret. Which workers are expected, and which of them are ready swarm nodes, comes from
# stateDir/workers.json, which the manager's reconciler (register-workers.py) rewrites from the manager's instance
# tag and the swarm. Each expected worker gets a serving window of ttlSeconds, opened when it becomes expected or
# when its swarm node stops being ready (a recreated worker); the join token goes to each identity once, again only
# while its node is not ready, and the window closes once it has joined and fetched the key. State it cannot trust
# (an unreadable state file, an opening time that is not a past time, a clock moved by hours) closes windows, never
# opens them: only a worker newly expected or newly out of the swarm gets one.
#
# Config: key "tokenServer" of $DOKPLOY_OCI_ROOT/etc/dokploy-oci/node.json (see docs/host-contract.md).
# The manager bootstrap writes the served values into stateDir later, so they are read at request time.
import argparse
import collections
import contextlib
import hashlib
import hmac
import io
import json
import math
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")
MIN_SECRET_LENGTH = 32
RETRY_AFTER_SECONDS = 5
# How far in the future a window's opening time may lie (a clock corrected after it opened) before the window counts as
# closed: a clock set back by hours must not stretch a window by hours.
CLOCK_SKEW_SECONDS = 300
# A client asking `?wait=N` is answered as soon as the value exists, within N seconds (at most this many).
MAX_WAIT_SECONDS = 60
WAIT_POLL_SECONDS = 0.05
# A worker's name, as SwarmWorkerPool makes it (<namePrefix>-<i>); anything else is no worker of this cluster.
WORKER_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
IDENTITY_HEADER = "X-Dokploy-Worker"
UNIT = "dokploy-token-server"
# Connections served at once (one thread each), and from one source address; past either a client is told to retry
# at once, so neither many clients nor one address holding many connections can keep a worker out.
MAX_CONNECTIONS = 256
MAX_CONNECTIONS_PER_ADDRESS = 32
# A request must arrive whole within this many seconds of the connection, however it trickles in; a long poll then
# lasts at most MAX_WAIT_SECONDS more, and the answer fits the socket buffer.
REQUEST_DEADLINE_SECONDS = 10
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
    log(message)
    sys.exit(2)


def load_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            section = json.load(f)["tokenServer"]
        config = {"bind_address": str(section["bindAddress"]), "port": int(section["port"]),
                  "secret": str(section["secret"]), "state_dir": ROOT + section["stateDir"],
                  "ttl_seconds": int(section["ttlSeconds"])}
    except FileNotFoundError:
        fail(f"config file {path} not found")
    except (OSError, ValueError, KeyError, TypeError) as error:
        fail(f"invalid tokenServer config in {path}: {error!r}")
    if len(config["secret"]) < MIN_SECRET_LENGTH:
        fail(f"tokenServer.secret is shorter than {MIN_SECRET_LENGTH} characters; refusing to start")
    if config["ttl_seconds"] <= 0:
        fail("tokenServer.ttlSeconds must be > 0: the TTL is what always ends serving")
    return config


def log(message):
    """One line in the host programs' one format: UTC time, program, message."""
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} token-server: {message}", file=sys.stderr, flush=True)


def credential(secret, name):
    """What Terraform puts in worker `name`'s user_data: sha256("<secret>:<name>") in hex."""
    return hashlib.sha256(f"{secret}:{name}".encode()).hexdigest()


def trusted_time(value, now):
    """Whether `value` can be a window's opening time: a finite number of seconds, not later than the clock allows.
    Anything else (NaN never reaches the TTL, a future time pushes it out) would keep a window open."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) \
        and value <= now + CLOCK_SKEW_SECONDS


class ServeState:
    """Per expected worker: when its serving window opened and what it was served; persisted, so a restart resets
    no window. `ready` is the last list of ready workers seen, to notice one that left the swarm."""

    def __init__(self, state_dir, ttl_seconds):
        self.path = os.path.join(state_dir, "server-state.json")
        self.workers_path = os.path.join(state_dir, "workers.json")
        self.ttl_seconds = ttl_seconds
        self.lock = threading.Lock()
        self.workers_seen = None  # (mtime, size, inode) of the workers.json last applied
        self.workers_problem = None
        self.identities, self.ready, self.known = {}, set(), False
        # Set when the saved state cannot be trusted: the next workers.json is applied with every window closed.
        self.untrusted = False
        try:
            with open(self.path, encoding="utf-8") as f:
                saved = json.load(f)
            # An opening time that is not a trusted time is kept as it is: sync() closes its window.
            self.identities = {str(name): {"openedAt": entry["openedAt"], "served": {str(k) for k in entry["served"]},
                                           "closed": entry.get("closed", False) is not False}
                               for name, entry in saved["identities"].items()}
            self.ready, self.known = {str(name) for name in saved["ready"]}, True
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            # Fail closed: the file may have held closed windows, so none reopens by itself.
            self.identities, self.ready, self.untrusted = {}, set(), True
            # A directory in its place moves aside too; if the move fails, the next start finds it unreadable again.
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path + ".corrupt")
            log(f"unreadable state file {self.path} ({error!r}), moved to .corrupt: all windows closed; to reopen "
                f"them: systemctl stop {UNIT}; rm -rf {self.path}; systemctl start {UNIT}")

    def read_workers(self):
        """(expected, ready) name sets from workers.json, None until it exists and is valid; re-read when it changes."""
        try:
            stat = os.stat(self.workers_path)
        except FileNotFoundError:
            return None
        seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if seen == self.workers_seen:
            return True
        self.workers_seen = seen
        try:
            with open(self.workers_path, encoding="utf-8") as f:
                workers = json.load(f)
            expected, ready = set(workers["expected"]), set(workers["ready"])
            if not all(isinstance(name, str) and WORKER_NAME.fullmatch(name) for name in expected | ready):
                raise ValueError("names must be worker names like worker-1")
        except (OSError, ValueError, KeyError, TypeError) as error:
            if self.workers_problem is None:
                log(f"ignoring {self.workers_path} ({error!r}); serving nobody until the reconciler rewrites it")
            self.workers_problem = error
            self.known = False
            return None
        self.workers_problem = None
        return expected, ready

    def sync(self):
        """Applies a changed workers.json to the windows; False while no valid one exists."""
        workers = self.read_workers()
        if workers is None:
            return False
        now = time.time()
        changed = self.apply_workers(*workers, now) if workers is not True else False
        if not self.known:
            return False
        for entry in self.identities.values():
            # A window seen closed stays closed, so a clock put back, or one catching up with a future opening time
            # (a clock set back, a corrupt file), does not reopen it. refusal() reads only this.
            if not entry["closed"] and (not trusted_time(entry["openedAt"], now) or now - entry["openedAt"] >= self.ttl_seconds):
                entry["closed"] = changed = True
        if changed:
            self.save()
        return True

    def apply_workers(self, expected, ready, now):
        """Opens and drops windows for a new workers.json; whether anything changed."""
        changed = not self.known or ready != self.ready
        # After an untrusted state the windows start closed: they may have closed before.
        for name in sorted(expected - self.identities.keys()):
            # A worker already in the swarm (joined before, or state rebuilt) needs nothing more.
            served = {"token", "key"} if name in ready else set()
            self.identities[name] = {"openedAt": now, "served": served, "closed": self.untrusted}
            log(f"expecting worker {name}" + (" (in the swarm already)" if served else ""))
            changed = True
        self.untrusted = False
        for name in sorted(self.identities.keys() - expected):
            del self.identities[name]
            log(f"worker {name} is no longer expected")
            changed = True
        for name in sorted((self.ready - ready) & expected):
            self.identities[name] = {"openedAt": now, "served": set(), "closed": False}
            log(f"worker {name} left the swarm or is down (recreated?): it may fetch the join token again")
            changed = True
        self.ready, self.known = ready, True
        return changed

    def refusal(self, name, kind):
        """(status, why) when worker `name` may not have `kind` now, else None."""
        entry = self.identities.get(name)
        if entry is None:
            return 403, "unknown identity: not an expected worker"
        if entry["closed"]:
            return 410, f"its window closed ({self.ttl_seconds}s after it became expected or left the swarm)"
        if name in self.ready and (entry["served"] >= {"token", "key"} or kind == "token" and "token" in entry["served"]):
            return 410, "credential already used: it was served and is a ready swarm node"
        return None

    def serving(self):
        with self.lock:
            return self.sync() and any(self.refusal(name, "key") is None for name in self.identities)

    def serve(self, name, kind, read_value):
        """(status, body, why) for one value. Checked and recorded under one lock: nobody is served past its window."""
        with self.lock:
            if not self.sync():
                return 503, b"", "the reconciler has not published the expected workers yet"
            refused = self.refusal(name, kind)
            if refused:
                return refused[0], b"", refused[1]
            entry = self.identities[name]
            body = read_value()
            if body is None:
                return 503, b"", "not published yet"
            if kind not in entry["served"]:
                entry["served"].add(kind)
                self.save()
            return 200, body, "served"

    def save(self):
        temporary = self.path + ".tmp"
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump({"identities": {name: {"openedAt": entry["openedAt"], "served": sorted(entry["served"]),
                                             "closed": entry["closed"]}
                                      for name, entry in self.identities.items()},
                       "ready": sorted(self.ready)}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)


class DeadlineReader(socket.SocketIO):
    """Reads a socket until `deadline` (monotonic): a client sending a byte now and then cannot stretch its request."""

    def readinto(self, buffer):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self._sock.settimeout(remaining)
        return super().readinto(buffer)


class Handler(BaseHTTPRequestHandler):
    server_version = "dokploy-token-server"
    sys_version = ""

    def setup(self):
        super().setup()
        self.rfile.close()
        reader = DeadlineReader(self.connection, "rb")
        reader.deadline = time.monotonic() + REQUEST_DEADLINE_SECONDS
        self.rfile = io.BufferedReader(reader)

    def respond(self):
        path = urlsplit(self.path).path
        # Auth before anything path-specific, so unauthenticated probes learn nothing about what exists.
        name = self.authenticated_worker() if path != "/healthz" else None
        if path != "/healthz" and name is None:
            return self.send(401, headers={"WWW-Authenticate": "Bearer"})
        if self.command != "GET":
            return self.send(405, headers={"Allow": "GET"})
        if path == "/healthz":
            return self.send(200, json.dumps({"status": "ok", "serving": self.server.state.serving()}).encode(),
                             {"Content-Type": "application/json"})
        if path not in SECRET_PATHS:
            return self.send(404)
        file_name, content_type, kind = SECRET_PATHS[path]
        wait_seconds = self.requested_wait()
        deadline = time.monotonic() + wait_seconds
        # A long poll: checked again every WAIT_POLL_SECONDS while the value is not published or the worker is not
        # expected yet (the reconciler publishes a grown set within its interval), with the lock held only for each
        # check, and sent after serve() released it, so a slow or waiting client cannot stall the others.
        while True:
            status, body, why = self.server.state.serve(name, kind, lambda: self.read_value(file_name))
            if status not in (403, 503) or time.monotonic() >= deadline:
                break
            time.sleep(WAIT_POLL_SECONDS)
        if status != 503:
            self.log_message("%s %s to worker %s: %s", "sent" if status == 200 else "refused", path, name, why)
        # After a full wait the client may ask again at once: it has already waited here.
        retry_after = 0 if wait_seconds > 0 else RETRY_AFTER_SECONDS
        headers = {200: {"Content-Type": content_type}, 403: {"Retry-After": str(retry_after)},
                   503: {"Retry-After": str(retry_after)}}
        return self.send(status, body, headers.get(status))

    def authenticated_worker(self):
        """The worker name the request proves with its credential, else None (the reason is logged)."""
        name = self.headers.get(IDENTITY_HEADER, "")
        if not WORKER_NAME.fullmatch(name):
            self.log_message("refused: no valid %s header (a worker name)", IDENTITY_HEADER)
            return None
        given = self.headers.get("Authorization", "").encode("latin-1")
        if not hmac.compare_digest(given, f"Bearer {credential(self.server.config['secret'], name)}".encode()):
            self.log_message("refused worker %s: wrong credential", name)
            return None
        return name

    def requested_wait(self):
        """Seconds the client is willing to wait for a value not there yet: ?wait=N, clamped to MAX_WAIT_SECONDS."""
        try:
            wait = float(parse_qs(urlsplit(self.path).query).get("wait", ["0"])[0])
        except ValueError:
            return 0
        return min(max(wait, 0), MAX_WAIT_SECONDS) if wait == wait else 0  # NaN waits nothing

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = respond

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

    def log_message(self, format, *args):
        log(f"{self.client_address[0]} {format % args}")

    def log_request(self, code="-", size="-"):
        # The path only: a careless client could put a secret in the query string.
        path = urlsplit(getattr(self, "path", "")).path
        self.log_message("%s %r %s", self.command or "-", path, int(code))


class Server(ThreadingHTTPServer):
    # The default 5 drops the SYNs of workers booting together, and a short queue those of a worker among clients
    # being refused: each drop costs a worker 1 s or more (SYN retry).
    request_queue_size = 1024
    daemon_threads = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.slots_lock = threading.Lock()
        self.per_address = collections.Counter()

    def take_slot(self, address):
        with self.slots_lock:
            if sum(self.per_address.values()) >= MAX_CONNECTIONS or self.per_address[address] >= MAX_CONNECTIONS_PER_ADDRESS:
                return False
            self.per_address[address] += 1
            return True

    def release_slot(self, address):
        with self.slots_lock:
            self.per_address -= collections.Counter([address])

    def process_request(self, request, client_address):
        if not self.take_slot(client_address[0]):
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
            self.release_slot(client_address[0])
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.release_slot(client_address[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default=ROOT + "/etc/dokploy-oci/node.json")
    config = load_config(parser.parse_args().config)
    os.makedirs(config["state_dir"], mode=0o700, exist_ok=True)
    state = ServeState(config["state_dir"], config["ttl_seconds"])
    address = (config["bind_address"], config["port"])
    try:
        server = Server(address, Handler)
    except OSError as error:
        sys.exit(f"token-server: cannot listen on {address[0]}:{address[1]}: {error}")
    server.config, server.state = config, state
    log(f"listening on {address[0]}:{address[1]}")
    server.serve_forever()


if __name__ == "__main__":
    main()
