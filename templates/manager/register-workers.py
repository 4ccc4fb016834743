#!/usr/bin/env python3
"""Reconciles the swarm and Dokploy's servers with the workers Terraform declares, from the manager."""
# Expected workers: the manager instance's freeform tag (registration.workersTag, e.g. "worker:3,gpu:1" for
# worker-1..3 and gpu-1), read from the instance metadata service each pass; Terraform updates that tag in place when
# a worker count changes, while the manager's user_data never changes. Each pass:
# 1. publishes the expected workers and those that are ready swarm nodes to the token server (workers.json in its
#    stateDir): it serves the join token only to expected workers (token-server.py);
# 2. removes the down swarm node left behind by a recreated worker (same hostname, a new node is ready), and drains,
#    then removes, the swarm nodes of workers no longer expected (only names it once expected: nodes joined by hand
#    are left alone);
# 3. registers every expected, ready worker in Dokploy that is not listed yet (by name or address), and removes the
#    Dokploy server of a worker no longer expected once its swarm node is gone (Dokploy refuses while services run
#    on it: logged, tried again later).
#
# The manager is the single writer: the Dokploy API key (full admin) never leaves it. Exactly once: a pass holds an
# exclusive lock and re-reads server.all before creating, so neither a second instance nor a restart half-way can
# register a node twice; a create whose answer was lost shows up in the next pass's server.all.
# Never calls server.setup: it would try to create the dokploy-network overlay, which only a manager can.
# Without a readable, valid tag nothing is removed: an outage of the metadata service never shrinks the cluster.
#
# Config: keys "registration" and "tokenServer" of $DOKPLOY_OCI_ROOT/etc/dokploy-oci/node.json; credentials
# (api_key, ssh_key_id): /opt/dokploy-credentials.json, written by the manager bootstrap. See docs/host-contract.md.
import argparse
import contextlib
import fcntl
import http.client
import ipaddress
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")
CREDENTIALS_FILE = ROOT + "/opt/dokploy-credentials.json"
LOCK_FILE = ROOT + "/var/lib/dokploy-oci/register-workers.lock"
# Every worker name this manager ever expected: only those are drained and removed when no longer expected.
STATE_FILE = ROOT + "/var/lib/dokploy-oci/reconciler-state.json"
SERVER_TYPES = ("deploy", "build", "none")
REQUEST_TIMEOUT_SECONDS = 10
DOCKER_TIMEOUT_SECONDS = 60
# The Docker Engine API, asked directly: a pass every few seconds costs a few requests on the socket, where each run
# of the docker CLI cost a process start (five a pass made the reconciler the busiest thing on an idle manager).
DOCKER_SOCKET = "/var/run/docker.sock"
# One pool in the workers tag: "<namePrefix>:<count>" (SwarmWorkerPool's name rule and its largest count).
POOL_ENTRY = re.compile(r"([a-z][a-z0-9-]{0,20}):(0|[1-9][0-9]{0,2})")
MAX_POOL_SIZE = 100
# The metadata service answers v2 requests only with this header.
METADATA_HEADERS = {"Authorization": "Bearer Oracle"}
# A node picks its own hostname; only a plain host name becomes a Dokploy server name.
HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}")
# After a 4xx for one node, that node waits this long: the same request would fail the same way.
REJECTED_NODE_WAIT_SECONDS = 300
# Dokploy's Traefik: a standalone container on the swarm's attachable overlay network, which Docker mishandles after
# a reboot (revive_proxy).
PROXY_CONTAINER = "dokploy-traefik"
PROXY_NETWORK = "dokploy-network"
# At most one restart of the proxy for an address conflict in this many seconds, should Docker keep giving it one.
PROXY_RESTART_SECONDS = 300
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
                  "docker_cleanup": section["enableDockerCleanup"],
                  "metadata_url": str(section["instanceMetadataUrl"]), "workers_tag": str(section["workersTag"]),
                  "drain_timeout": float(section["drainTimeoutSeconds"]),
                  "workers_file": os.path.join(ROOT + json_section(path, "tokenServer")["stateDir"], "workers.json")}
    except (OSError, ValueError, KeyError, TypeError) as error:
        sys.exit(f"register-workers: invalid registration config in {path}: {error!r}")
    if config["server_type"] not in SERVER_TYPES:
        sys.exit(f"register-workers: registration.serverType must be one of {', '.join(SERVER_TYPES)}")
    if not isinstance(config["docker_cleanup"], bool):
        sys.exit("register-workers: registration.enableDockerCleanup must be true or false")
    if config["interval"] <= 0:
        sys.exit("register-workers: registration.intervalSeconds must be > 0")
    if config["drain_timeout"] < 0:
        sys.exit("register-workers: registration.drainTimeoutSeconds must be >= 0")
    return config


def json_section(path, key):
    with open(path, encoding="utf-8") as f:
        return json.load(f)[key]


def parse_workers_tag(value):
    """The worker names a tag value declares ("worker:2,gpu:1" -> worker-1, worker-2, gpu-1); ValueError if malformed."""
    if not isinstance(value, str):
        raise ValueError("it is not a string")
    names = []
    for entry in filter(None, value.split(",")):
        match = POOL_ENTRY.fullmatch(entry)
        if not match or int(match[2]) > MAX_POOL_SIZE:
            raise ValueError(f"{quoted(entry)} is not <namePrefix>:<count up to {MAX_POOL_SIZE}>")
        names.extend(f"{match[1]}-{index}" for index in range(1, int(match[2]) + 1))
    return names


def expected_workers(config):
    """The expected worker names from the manager's instance tag; PassFailed when it cannot be read or is invalid."""
    request = urllib.request.Request(config["metadata_url"], headers=METADATA_HEADERS)
    try:
        with DIRECT.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            tags = json.load(response).get("freeformTags")
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as error:
        raise PassFailed(f"cannot read the instance metadata at {config['metadata_url']} "
                         f"({one_line(getattr(error, 'reason', error))}); changing nothing") from None
    if not isinstance(tags, dict) or config["workers_tag"] not in tags:
        raise PassFailed(f"the manager instance has no freeform tag {config['workers_tag']}; changing nothing")
    try:
        return parse_workers_tag(tags[config["workers_tag"]])
    except ValueError as error:
        raise PassFailed(f"freeform tag {config['workers_tag']} is invalid: {error}; changing nothing") from None


def write_private_json(path, value):
    """Writes JSON (0600) atomically: readers never see half a file."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temporary = path + ".tmp"
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(value, f)
    os.replace(temporary, path)


def read_managed():
    """Names this manager expected at some time (reconciler-state.json); empty with a log line when unreadable."""
    try:
        with open(STATE_FILE, encoding="utf-8") as f:
            names = json.load(f)["managed"]
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            return set(names)
        raise ValueError("managed is not a list of names")
    except FileNotFoundError:
        return set()
    except (OSError, ValueError, KeyError, TypeError) as error:
        log(f"ignoring unreadable {STATE_FILE} ({error!r}): only workers expected from now on are removed later")
        return set()


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
    """Dokploy's refusal (status and, where Dokploy gives one, its error code) or no answer (status None)."""

    def __init__(self, status, message, code=None):
        super().__init__(message)
        self.status, self.code = status, code


class Dokploy:
    """tRPC over HTTP: batched GET for queries, batched POST for mutations (research/dokploy.md). Authenticated by
    the API key, or by the admin's session cookie (the manager bootstrap's steps before a key exists)."""

    def __init__(self, url, api_key, timeout=REQUEST_TIMEOUT_SECONDS, cookie=None):
        self.url, self.api_key, self.timeout, self.cookie = url, api_key, timeout, cookie

    def query(self, procedure):
        return self.call(urllib.request.Request(f"{self.url}/api/trpc/{procedure}?batch=1&input={NULL_INPUT}"))

    def mutation(self, procedure, data):
        body = json.dumps({"0": {"json": data}}).encode()
        return self.call(urllib.request.Request(f"{self.url}/api/trpc/{procedure}?batch=1", data=body, method="POST",
                                                headers={"Content-Type": "application/json"}))

    def call(self, request):
        if self.api_key:
            request.add_header("x-api-key", self.api_key)
        if self.cookie:
            request.add_header("Cookie", self.cookie)
        try:
            return self.send(request, self.timeout)[0][0]["result"]["data"]["json"]
        except (LookupError, TypeError):
            raise ApiError(None, "an answer that is not a tRPC result") from None

    def sign_in(self, action, data, timeout):
        """better-auth's POST /api/auth/<action>/email (sign-up or sign-in); the session cookie it sets, as a Cookie
        header. Never sends a cookie: better-auth refuses a POST that carries one without a trusted Origin."""
        request = urllib.request.Request(f"{self.url}/api/auth/{action}/email", data=json.dumps(data).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        cookies = (line.split(";", 1)[0].strip() for line in self.send(request, timeout)[1].get_all("Set-Cookie", []))
        return "; ".join(cookie for cookie in cookies if not cookie.endswith("="))

    @staticmethod
    def send(request, timeout):
        """(the JSON answer, its headers); ApiError for an HTTP error, no answer or an answer that is not JSON."""
        try:
            with DIRECT.open(request, timeout=timeout) as response:
                return json.load(response), response.headers
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, *error_details(error.read())) from None
        except (urllib.error.URLError, OSError) as error:
            raise ApiError(None, f"no answer ({getattr(error, 'reason', error)})") from None
        except ValueError:
            raise ApiError(None, "an answer that is not a tRPC result") from None


def error_details(body):
    """(message, code) of an error answer: tRPC's [{"error": {"json": {"message", "data": {"code"}}}}] or
    better-auth's {"message", "code"}; the code is None where Dokploy gives none."""
    try:
        item = json.loads(body)
        item = item[0] if isinstance(item, list) else item
        error = item["error"]["json"] if "error" in item else item
        code = error["data"].get("code") if isinstance(error.get("data"), dict) else error.get("code")
        return one_line(error["message"]), code if isinstance(code, str) else None
    except (ValueError, LookupError, TypeError, AttributeError):
        return one_line(body.decode("utf-8", "replace"), 120) or "(no error message)", None


def describe(error):
    if error.status is None:
        return str(error)
    if error.status == 401:
        # The manager bootstrap replaces a rejected key when it runs again (docs/host-contract.md).
        return "API key rejected (HTTP 401; rate-limited or revoked: re-running the manager bootstrap replaces it)"
    return f"HTTP {error.status}: {error}"


def docker_socket():
    """The engine's socket: DOCKER_HOST's unix:// path when set, as the docker CLI reads it, else the default."""
    host = os.environ.get("DOCKER_HOST", "")
    return host[len("unix://"):] if host.startswith("unix://") else ROOT + DOCKER_SOCKET


class DockerConnection(http.client.HTTPConnection):
    """HTTP over the engine's Unix socket."""

    def __init__(self):
        super().__init__("docker", timeout=DOCKER_TIMEOUT_SECONDS)

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(docker_socket())


def docker(method, path, what, body=None):
    """One Docker Engine API request (unversioned: the engine's own API version); its JSON answer, None for an empty
    one. PassFailed saying `what` failed, with Docker's message, when the engine refuses or does not answer."""
    connection = DockerConnection()
    try:
        connection.request(method, path, None if body is None else json.dumps(body),
                           {} if body is None else {"Content-Type": "application/json"})
        response = connection.getresponse()
        status, data = response.status, response.read()
    except TimeoutError:
        raise PassFailed(f"{what}: no answer from Docker within {DOCKER_TIMEOUT_SECONDS}s") from None
    except (OSError, http.client.HTTPException) as error:
        raise PassFailed(f"{what}: Docker is not answering ({one_line(error)})") from None
    finally:
        connection.close()
    try:
        answer = json.loads(data) if data.strip() else None
    except ValueError:
        raise PassFailed(f"{what}: Docker answered HTTP {status} with something that is not JSON") from None
    if status >= 400:
        raise PassFailed(f"{what} failed: {one_line(field(answer, 'message') or f'HTTP {status}')}")
    return answer


def node_path(node_id, action=""):
    """/nodes/<id>[/action]: the ID quoted, so no record can turn the request into another endpoint's."""
    return f"/nodes/{urllib.parse.quote(node_id, safe='')}{action}"


def docker_filters(**filters):
    """The `filters` query parameter: {"name": ["value"], ...} as JSON (desired_state becomes desired-state)."""
    return urllib.parse.quote(json.dumps({key.replace("_", "-"): [value] for key, value in filters.items()}))


def field(record, *path):
    """record[path[0]][path[1]]..., or None where a level is missing or not an object (records are untrusted)."""
    for key in path:
        record = record.get(key) if isinstance(record, dict) else None
    return record


def server_name(hostname, address):
    """The Dokploy server name: the hostname when it is a plain host name, else one built from the address."""
    if isinstance(hostname, str) and HOSTNAME.fullmatch(hostname):
        return hostname
    return "worker-" + address.replace(".", "-")


def worker_from(node):
    """A worker node as a dict (id, hostname, ready, draining, and for a ready one name and address), None for a
    node that is not a worker, or a str saying what is wrong with its record."""
    if field(node, "Spec", "Role") != "worker":
        return None
    node_id, hostname = field(node, "ID"), field(node, "Description", "Hostname")
    worker = {"id": node_id, "hostname": hostname if isinstance(hostname, str) else None,
              "ready": field(node, "Status", "State") == "ready", "draining": field(node, "Spec", "Availability") == "drain",
              # What an update of the node sends back (draining it).
              "version": field(node, "Version", "Index"), "spec": field(node, "Spec")}
    if not isinstance(node_id, str) or not node_id:
        return "it has no ID"
    if not worker["ready"]:
        return worker
    address = field(node, "Status", "Addr")
    try:
        parsed = ipaddress.IPv4Address(address if isinstance(address, str) else "")
    except ValueError:
        return f"its address {quoted(address)} is not an IPv4 address"
    if parsed.is_unspecified or parsed.is_loopback or parsed.is_multicast:
        return f"its address {parsed} cannot reach it"
    return {**worker, "name": server_name(hostname, str(parsed)), "address": str(parsed)}


def swarm_workers(report_node):
    """Every worker node of the swarm (see worker_from); each malformed record goes to report_node and is skipped."""
    nodes = docker("GET", "/nodes", "listing the swarm's nodes")
    if not isinstance(nodes, list):
        raise PassFailed("Docker's list of the swarm's nodes is not a list")
    workers = []
    for node in nodes:
        worker = worker_from(node)
        if isinstance(worker, str):
            report_node(field(node, "ID"), f"skipping node {quoted(field(node, 'ID'))} "
                                           f"(hostname {quoted(field(node, 'Description', 'Hostname'))}): {worker}")
        elif worker is not None:
            workers.append(worker)
    return workers


class Reconciler:
    def __init__(self, config):
        self.config = config
        self.last_problem = None
        self.rejected = {}  # address or serverId -> time.monotonic() after which it is tried again
        self.skipped = {}  # node id -> what was wrong with its record, logged once while it stays wrong
        self.draining = {}  # node id -> time.monotonic() when this instance asked swarm to drain it
        self.managed = read_managed()
        self.told = set()  # notes logged once
        self.removed = set()  # ids of the nodes removed in this pass
        self.proxy_restarted_at = None  # time.monotonic() of the last restart for an address conflict

    def report_node(self, node_id, problem):
        if self.skipped.get(str(node_id)) != problem:
            log(problem)
        self.skipped[str(node_id)] = problem

    def report(self, problem):
        """Logs a problem once, not every pass, until it changes or goes away."""
        if problem != self.last_problem:
            log(problem)
        self.last_problem = problem

    def tell_once(self, note):
        if note not in self.told:
            log(note)
            self.told.add(note)

    def run_pass(self):
        try:
            expected = expected_workers(self.config)
            workers = swarm_workers(self.report_node)
            self.revive_proxy()
            now = time.monotonic()
            self.rejected = {key: until for key, until in self.rejected.items() if until > now}
            with pass_lock():
                self.reconcile(set(expected), workers)
        except PassFailed as problem:
            return self.report(f"{problem}; trying again in {self.config['interval']:g}s")
        if self.last_problem is not None:
            log("working again")
        self.last_problem = None

    def revive_proxy(self):
        # Docker gives up on a container whose overlay attach failed at boot, so Dokploy's Traefik stays down after
        # a reboot (Dokploy #4057; seen on real machines, __tests__/vm): start it again.
        containers = docker("GET", f"/containers/json?all=1&filters={docker_filters(name=f'^{PROXY_CONTAINER}$')}",
                            f"looking for {PROXY_CONTAINER}")
        state = field(containers[0], "State") if isinstance(containers, list) and containers else None
        if state == "exited":
            docker("POST", f"/containers/{PROXY_CONTAINER}/start", f"starting {PROXY_CONTAINER}")
            log(f"started {PROXY_CONTAINER} again (Docker left it stopped)")
        elif state == "running":
            self.free_proxy_address()

    def free_proxy_address(self):
        # After a reboot of the whole cluster Docker gave the proxy an overlay address that the dokploy service held
        # as its virtual IP, and no app answered through it (seen on real machines, __tests__/vm); a restart gets it
        # a free address.
        if self.proxy_restarted_at is not None and time.monotonic() - self.proxy_restarted_at < PROXY_RESTART_SECONDS:
            return
        # Only a check: a network it cannot read never stops the registration.
        try:
            network = docker("GET", f"/networks/{PROXY_NETWORK}?verbose=true", f"reading {PROXY_NETWORK}")
        except PassFailed as problem:
            return self.tell_once(f"cannot check {PROXY_CONTAINER}'s address on {PROXY_NETWORK}: {one_line(str(problem))}")
        services = field(network, "Services")
        if not isinstance(services, dict):
            return
        mine, held = set(), {}
        for name, service in services.items():
            if field(service, "VIP") not in (None, "", "<nil>"):
                held[str(field(service, "VIP")).split("/")[0]] = f"the virtual IP of service {quoted(name)}"
            for task in field(service, "Tasks") or []:
                address = str(field(task, "EndpointIP")).split("/")[0]
                if field(task, "Name") == PROXY_CONTAINER:
                    mine.add(address)
                else:
                    held.setdefault(address, f"the address of {quoted(str(field(task, 'Name')))}")
        clash = sorted(address for address in mine if address in held)
        if clash:
            docker("POST", f"/containers/{PROXY_CONTAINER}/restart", f"restarting {PROXY_CONTAINER}")
            self.proxy_restarted_at = time.monotonic()
            log(f"restarted {PROXY_CONTAINER}: its address {clash[0]} on {PROXY_NETWORK} is also {held[clash[0]]}, "
                "so nothing behind it answered (Docker gave it a taken address after a reboot)")

    def reconcile(self, expected, workers):
        ready = {worker["hostname"] for worker in workers if worker["ready"] and worker["hostname"] in expected}
        write_private_json(self.config["workers_file"], {"expected": sorted(expected), "ready": sorted(ready)})
        if not expected <= self.managed:
            self.managed |= expected
            write_private_json(STATE_FILE, {"managed": sorted(self.managed)})
        gone = self.managed - expected
        self.removed.clear()
        for worker in workers:
            if worker["hostname"] in ready and not worker["ready"]:
                self.remove_node(worker, f"the old swarm node of {worker['hostname']}, which was recreated")
            elif worker["hostname"] in gone:
                self.retire_node(worker)
            elif worker["hostname"] not in expected:
                self.tell_once(f"leaving swarm node {quoted(worker['hostname'])} ({worker['id']}) alone: not declared")
        if self.config["server_type"] == "none":
            self.forget(gone, [worker for worker in workers if worker["id"] not in self.removed])
            return
        credentials = read_credentials()
        if credentials is None:
            raise PassFailed(f"waiting for {CREDENTIALS_FILE} (api_key, ssh_key_id) from the manager bootstrap")
        dokploy = Dokploy(self.config["dokploy_url"], credentials[0])
        servers = self.servers(dokploy)
        self.register(dokploy, credentials[1], servers,
                      [worker for worker in workers if worker["ready"] and worker["hostname"] in expected])
        workers = [worker for worker in workers if worker["id"] not in self.removed]
        remaining = {worker["hostname"] for worker in workers}
        for server in servers:
            if server.get("name") in gone and server.get("name") not in remaining:
                self.remove_server(dokploy, server)
        self.forget(gone, workers, servers)

    def forget(self, gone, workers, servers=()):
        """Names no longer expected whose node and server are both gone need no more attention."""
        left = {worker["hostname"] for worker in workers} | {server.get("name") for server in servers}
        done = {name for name in gone if name not in left}
        if done:
            self.managed -= done
            write_private_json(STATE_FILE, {"managed": sorted(self.managed)})

    def retire_node(self, worker):
        """Drains a node no longer expected, then removes it once its tasks moved (or drainTimeoutSeconds passed)."""
        name, node_id = worker["hostname"], worker["id"]
        if not worker["ready"]:
            return self.remove_node(worker, f"{name}, no longer expected and not ready", force=True)
        if not worker["draining"]:
            if not isinstance(worker["version"], int) or not isinstance(worker["spec"], dict):
                raise PassFailed(f"cannot drain {name} ({node_id}): its node record has no version or spec")
            docker("POST", node_path(node_id, f"/update?version={worker['version']}"), f"draining {name} ({node_id})",
                   {**worker["spec"], "Availability": "drain"})
            log(f"draining {name} ({node_id}): it is no longer expected")
        started = self.draining.setdefault(node_id, time.monotonic())
        tasks = docker("GET", f"/tasks?filters={docker_filters(node=node_id, desired_state='running')}",
                       f"listing the tasks on {name} ({node_id})")
        tasks = tasks if isinstance(tasks, list) else []
        waited = time.monotonic() - started
        if tasks and waited < self.config["drain_timeout"]:
            return self.tell_once(f"waiting up to {self.config['drain_timeout']:g}s for the tasks on {name} to move")
        self.remove_node(worker, f"{name}, drained" + (f" ({len(tasks)} task(s) left after {waited:.0f}s)" if tasks else ""),
                         force=True)

    def remove_node(self, worker, what, force=False):
        docker("DELETE", node_path(worker["id"], "?force=true" if force else ""), f"removing swarm node {worker['id']}")
        self.draining.pop(worker["id"], None)
        self.removed.add(worker["id"])
        log(f"removed swarm node {worker['id']}: {what}")

    def servers(self, dokploy):
        try:
            servers = dokploy.query("server.all")
            if not all(isinstance(row, dict) and isinstance(row["ipAddress"], str) for row in servers):
                raise TypeError
        except ApiError as error:
            raise PassFailed(f"server.all: {describe(error)}") from None
        except (LookupError, TypeError):
            raise PassFailed("server.all: rows without ipAddress") from None
        return servers

    def register(self, dokploy, ssh_key_id, servers, workers):
        """server.create for every ready expected worker that Dokploy lists neither by name nor by address."""
        known = {row.get("name") for row in servers} | {row["ipAddress"] for row in servers}
        for worker in workers:
            name, address = worker["name"], worker["address"]
            if known & {name, address} or address in self.rejected:
                continue
            server = {"name": name, "description": "", "ipAddress": address, "port": self.config["ssh_port"],
                      "username": self.config["username"], "sshKeyId": ssh_key_id,
                      "serverType": self.config["server_type"],
                      "enableDockerCleanup": self.config["docker_cleanup"]}
            created = self.mutate(dokploy, "server.create", server, f"{name} ({address})", address)
            if created is not None:
                known |= {name, address}
                server_id = created.get("serverId", "?") if isinstance(created, dict) else "?"
                log(f"registered {name} ({address}) as a Dokploy {self.config['server_type']} server (serverId {server_id})")

    def remove_server(self, dokploy, server):
        """server.remove for the server of a worker no longer expected; Dokploy refuses while services run on it."""
        server_id, name = server.get("serverId"), server.get("name")
        if isinstance(server_id, str) and server_id not in self.rejected and self.mutate(
                dokploy, "server.remove", {"serverId": server_id}, f"{name} ({server_id})", server_id) is not None:
            log(f"removed Dokploy server {name} ({server['ipAddress']}, serverId {server_id}): no longer expected")
            server["name"] = None  # gone: forget() may drop the name

    def mutate(self, dokploy, procedure, data, what, key):
        """The answer (True for an empty one), or None after a refusal (4xx): `key` then waits before a retry."""
        try:
            return dokploy.mutation(procedure, data) or True
        except ApiError as error:
            if error.status is None or error.status == 401 or error.status >= 500:
                raise PassFailed(f"{procedure} for {what}: {describe(error)}") from None
            if error.status == 404 and procedure == "server.remove":
                return True  # removed already ("Server not found")
            self.rejected[key] = time.monotonic() + REJECTED_NODE_WAIT_SECONDS
            log(f"{procedure} for {what} refused: {describe(error)}; "
                f"not trying that node again for {REJECTED_NODE_WAIT_SECONDS}s")
            return None


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
    registering = ("not registering workers in Dokploy (registration.serverType is none)"
                   if config["server_type"] == "none" else
                   f"registering them as Dokploy {config['server_type']} servers at {config['dokploy_url']}")
    log(f"reconciling the swarm with the workers in tag {config['workers_tag']} every {config['interval']:g}s, "
        f"{registering}")
    reconciler = Reconciler(config)
    while True:
        reconciler.run_pass()
        if arguments.once:
            return
        time.sleep(config["interval"])


if __name__ == "__main__":
    main()
