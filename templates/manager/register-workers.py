#!/usr/bin/env python3
"""Registers the swarm's ready workers as Dokploy servers, from the manager.

The manager is the single writer: the Dokploy API key (full admin) never leaves it, where the original design
handed it to every worker. Each pass lists the swarm nodes with the docker CLI and calls server.create for every
ready worker whose address Dokploy does not list yet.

Exactly once: a pass holds an exclusive lock and re-reads server.all before creating, so neither a second
instance nor a restart half-way can register a node twice; a create whose answer was lost shows up in the next
pass's server.all.
Never calls server.setup: it would try to create the dokploy-network overlay, which only a manager can.
A worker that leaves the swarm stays registered: removing a Dokploy server also removes what was deployed to it,
which is a human's decision.

Config: key "registration" of $DOKPLOY_OCI_ROOT/etc/dokploy-oci/node.json; credentials (api_key, ssh_key_id):
/opt/dokploy-credentials.json, written by the manager bootstrap. See docs/host-contract.md.
"""
import argparse
import contextlib
import fcntl
import ipaddress
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")
CREDENTIALS_FILE = ROOT + "/opt/dokploy-credentials.json"
LOCK_FILE = ROOT + "/var/lib/dokploy-oci/register-workers.lock"
SERVER_TYPES = ("deploy", "build", "none")
REQUEST_TIMEOUT_SECONDS = 10
DOCKER_TIMEOUT_SECONDS = 60
# A node picks its own hostname; only a plain host name becomes a Dokploy server name.
HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}")
# After a 4xx for one node, that node waits this long: the same request would fail the same way.
REJECTED_NODE_WAIT_SECONDS = 300
# Ignores http_proxy and friends: the API key goes to Dokploy on this host and nowhere else.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# The batched input of a query that takes none: {"0":{"json":null}}.
NULL_INPUT = urllib.parse.quote(json.dumps({"0": {"json": None}}, separators=(",", ":")))


def log(message):
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} register-workers: {message}", flush=True)


def one_line(text, limit=300):
    """Text from elsewhere (a node, Dokploy) as one log line: control and non-ASCII characters escaped."""
    return json.dumps(" ".join(str(text).split())[:limit])[1:-1]


def quoted(text):
    """A value a node chose (its hostname), quoted and escaped: it cannot forge a log line or a terminal escape."""
    return json.dumps(text, default=str)[:120]


def load_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            section = json.load(f)["registration"]
        config = {"server_type": section["serverType"], "username": str(section["username"]),
                  "ssh_port": int(section["sshPort"]), "interval": float(section["intervalSeconds"]),
                  "dokploy_url": str(section["dokployUrl"]).rstrip("/"),
                  "docker_cleanup": section["enableDockerCleanup"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        sys.exit(f"register-workers: invalid registration config in {path}: {error!r}")
    if config["server_type"] not in SERVER_TYPES:
        sys.exit(f"register-workers: registration.serverType must be one of {', '.join(SERVER_TYPES)}")
    if not isinstance(config["docker_cleanup"], bool):
        sys.exit("register-workers: registration.enableDockerCleanup must be true or false")
    if config["interval"] <= 0:
        sys.exit("register-workers: registration.intervalSeconds must be > 0")
    return config


def read_credentials():
    """(api_key, ssh_key_id), or None until the manager bootstrap has saved both."""
    try:
        with open(CREDENTIALS_FILE, encoding="utf-8") as f:
            credentials = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(credentials, dict) or not credentials.get("api_key") or not credentials.get("ssh_key_id"):
        return None
    return str(credentials["api_key"]), str(credentials["ssh_key_id"])


class PassFailed(Exception):
    """Ends this pass; the next one tries again."""


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Dokploy:
    """tRPC over HTTP: batched GET for queries, batched POST for mutations (research/dokploy.md)."""

    def __init__(self, url, api_key):
        self.url, self.api_key = url, api_key

    def query(self, procedure):
        return self.call(urllib.request.Request(f"{self.url}/api/trpc/{procedure}?batch=1&input={NULL_INPUT}"))

    def mutation(self, procedure, data):
        body = json.dumps({"0": {"json": data}}).encode()
        return self.call(urllib.request.Request(f"{self.url}/api/trpc/{procedure}?batch=1", data=body, method="POST",
                                                headers={"Content-Type": "application/json"}))

    def call(self, request):
        request.add_header("x-api-key", self.api_key)
        try:
            with DIRECT.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                return json.load(response)[0]["result"]["data"]["json"]
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error_message(error.read())) from None
        except (urllib.error.URLError, OSError) as error:
            raise ApiError(None, f"no answer ({getattr(error, 'reason', error)})") from None
        except (ValueError, LookupError, TypeError):
            raise ApiError(None, "an answer that is not a tRPC result") from None


def error_message(body):
    try:
        item = json.loads(body)
        return one_line((item[0] if isinstance(item, list) else item)["error"]["json"]["message"])
    except (ValueError, LookupError, TypeError):
        return one_line(body.decode("utf-8", "replace"), 120) or "(no error message)"


def describe(error):
    if error.status is None:
        return str(error)
    if error.status == 401:
        # The manager bootstrap replaces a rejected key when it runs again (docs/host-contract.md).
        return "API key rejected (HTTP 401; rate-limited or revoked: re-running the manager bootstrap replaces it)"
    return f"HTTP {error.status}: {error}"


def docker(*args):
    try:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=DOCKER_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PassFailed(f"docker {args[0]} {args[1]}: {error}") from None
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or ["(no output)"]
        raise PassFailed(f"docker {args[0]} {args[1]} failed: {one_line(lines[-1])}")
    return result.stdout


def field(record, *path):
    """record[path[0]][path[1]]..., or None where a level is missing or not an object (records are untrusted)."""
    for key in path:
        record = record.get(key) if isinstance(record, dict) else None
    return record


def inspect_nodes(ids):
    """`docker node inspect` of every id; a node that left between ls and inspect is dropped, not fatal."""
    if not ids:
        return []
    try:
        return json.loads(docker("node", "inspect", *ids))
    except PassFailed:
        nodes = []
        for node_id in ids:  # one at a time: docker refuses the whole batch when one id is gone
            with contextlib.suppress(PassFailed):
                nodes.extend(json.loads(docker("node", "inspect", node_id)))
        return nodes


def server_name(hostname, address):
    """The Dokploy server name: the hostname when it is a plain host name, else one built from the address."""
    if isinstance(hostname, str) and HOSTNAME.fullmatch(hostname):
        return hostname
    return "worker-" + address.replace(".", "-")


def worker_from(node):
    """(name, address) of a ready worker, None for a node that is not one, or a str saying what is wrong with it."""
    if field(node, "Spec", "Role") != "worker" or field(node, "Status", "State") != "ready":
        return None
    address = field(node, "Status", "Addr")
    try:
        parsed = ipaddress.IPv4Address(address if isinstance(address, str) else "")
    except ValueError:
        return f"its address {quoted(address)} is not an IPv4 address"
    if parsed.is_unspecified or parsed.is_loopback or parsed.is_multicast:
        return f"its address {parsed} cannot reach it"
    return server_name(field(node, "Description", "Hostname"), str(parsed)), str(parsed)


def ready_workers(report_node):
    """[(name, address)] of the swarm's ready workers; each malformed record goes to report_node and is skipped."""
    ids = [line.strip() for line in docker("node", "ls", "-q").splitlines() if line.strip()]
    try:
        nodes = inspect_nodes(ids)
    except ValueError:
        raise PassFailed("docker node inspect printed something that is not JSON") from None
    if not isinstance(nodes, list):
        raise PassFailed("docker node inspect printed something that is not a list")
    workers = []
    for node in nodes:
        worker = worker_from(node)
        if isinstance(worker, str):
            report_node(field(node, "ID"), f"skipping node {quoted(field(node, 'ID'))} "
                                           f"(hostname {quoted(field(node, 'Description', 'Hostname'))}): {worker}")
        elif worker is not None:
            workers.append(worker)
    return workers


class Registrar:
    def __init__(self, config):
        self.config = config
        self.last_problem = None
        self.rejected = {}  # address -> time.monotonic() after which that node is tried again
        self.skipped = {}  # node id -> what was wrong with its record, logged once while it stays wrong

    def report_node(self, node_id, problem):
        if self.skipped.get(str(node_id)) != problem:
            log(problem)
        self.skipped[str(node_id)] = problem

    def report(self, problem):
        """Logs a problem once, not every pass, until it changes or goes away."""
        if problem != self.last_problem:
            log(problem)
        self.last_problem = problem

    def run_pass(self):
        credentials = read_credentials()
        if credentials is None:
            return self.report(f"waiting for {CREDENTIALS_FILE} (api_key, ssh_key_id) from the manager bootstrap")
        try:
            workers = ready_workers(self.report_node)
            now = time.monotonic()
            self.rejected = {address: until for address, until in self.rejected.items() if until > now}
            if workers:
                with pass_lock():
                    self.register(workers, *credentials)
        except PassFailed as problem:
            return self.report(f"{problem}; trying again in {self.config['interval']:g}s")
        if self.last_problem is not None:
            log("working again")
        self.last_problem = None

    def register(self, workers, api_key, ssh_key_id):
        dokploy = Dokploy(self.config["dokploy_url"], api_key)
        try:
            registered = {row["ipAddress"] for row in dokploy.query("server.all")}
        except ApiError as error:
            raise PassFailed(f"server.all: {describe(error)}") from None
        except (LookupError, TypeError):
            raise PassFailed("server.all: rows without ipAddress") from None
        for name, address in workers:
            if address in registered or address in self.rejected:
                continue
            server = {"name": name, "description": "", "ipAddress": address, "port": self.config["ssh_port"],
                      "username": self.config["username"], "sshKeyId": ssh_key_id,
                      "serverType": self.config["server_type"],
                      "enableDockerCleanup": self.config["docker_cleanup"]}
            try:
                created = dokploy.mutation("server.create", server)
            except ApiError as error:
                if error.status is None or error.status == 401 or error.status >= 500:
                    raise PassFailed(f"server.create for {name} ({address}): {describe(error)}") from None
                self.rejected[address] = time.monotonic() + REJECTED_NODE_WAIT_SECONDS
                log(f"server.create for {name} ({address}) refused: {describe(error)}; "
                    f"not trying that node again for {REJECTED_NODE_WAIT_SECONDS}s")
                continue
            registered.add(address)
            server_id = created.get("serverId", "?") if isinstance(created, dict) else "?"
            log(f"registered {name} ({address}) as a Dokploy {self.config['server_type']} server (serverId {server_id})")


@contextlib.contextmanager
def pass_lock():
    """An exclusive flock held for one pass; a second instance waits for it."""
    os.makedirs(os.path.dirname(LOCK_FILE), mode=0o700, exist_ok=True)
    with open(LOCK_FILE, "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another instance is registering; waiting for it")
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=ROOT + "/etc/dokploy-oci/node.json")
    parser.add_argument("--once", action="store_true", help="run one pass and exit")
    arguments = parser.parse_args()
    config = load_config(arguments.config)
    if config["server_type"] == "none":
        log("registration.serverType is none: workers are not registered as Dokploy servers")
        return
    log(f"registering ready swarm workers as Dokploy {config['server_type']} servers "
        f"every {config['interval']:g}s at {config['dokploy_url']}")
    registrar = Registrar(config)
    while True:
        registrar.run_pass()
        if arguments.once:
            return
        time.sleep(config["interval"])


if __name__ == "__main__":
    main()
