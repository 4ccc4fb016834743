#!/usr/bin/env python3
"""Test fake of the Docker Engine API on a Unix socket, for the manager's reconciler (register-workers.py), which
asks the engine directly. It answers from the same state as the docker CLI stub (worker-stubs/docker): the swarm's
node list in $STUB_SWARM_NODES-style JSON (argv[3]) and <state dir> (argv[2], .stub-state/docker of the host root).

  docker-api.py SOCKET STATE_DIR NODES_FILE

Every answer has the status and shape a real dockerd 20.10 gave on this machine (or its API reference documents):
  GET /nodes                          the node records (503 "This node is not a swarm manager..." without a node list)
  POST /nodes/ID/update?version=N     body: the node's spec; 500 "update out of sequence" for a stale version
  GET /tasks?filters={"node":[ID],"desired-state":["running"]}   the entry's Tasks (task ids) as task records
  DELETE /nodes/ID[?force=true]       400 FailedPrecondition for a node that is not down, without force
  GET /containers/json?all=1&filters={"name":["^NAME$"]}   NAME when it is a line of exited-containers or
                                      running-containers (its State)
  POST /containers/NAME/start         removes NAME's exited line (204); 304 when running; 404 when unknown
  POST /containers/NAME/restart       appends NAME to `restarts`; network-services.after-restart.json, when it
                                      exists, moves over network-services.json
  GET /networks/NAME?verbose=true     {"Name", "Services": network-services.json}; 404 when that file is missing
An entry of the node list may be {ID, Raw}: Raw is that node's record as listed (a malformed record). Each request
is appended to <host root>/stub-calls.log as "docker-api METHOD PATH [BODY]". Prints "ready" once it listens.
"""
import fcntl
import http.server
import json
import os
import socketserver
import sys
import urllib.parse
import uuid

SOCKET, STATE, NODES_FILE = sys.argv[1:4]
CALLS_LOG = os.path.join(os.path.dirname(os.path.dirname(STATE)), "stub-calls.log")
NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node '
                 'to swarm and try again.')


class Refused(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def lines(name):
    try:
        with open(os.path.join(STATE, name), encoding="utf-8") as f:
            return [line for line in f.read().split("\n") if line]
    except FileNotFoundError:
        return []


def write_lines(name, values):
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, name + ".tmp"), "w", encoding="utf-8") as f:
        f.write("".join(value + "\n" for value in values))
    os.replace(os.path.join(STATE, name + ".tmp"), os.path.join(STATE, name))


class Nodes:
    """The node list under the stub's lock (workers join concurrently through the CLI stub)."""

    def __enter__(self):
        if not os.path.isfile(NODES_FILE):
            raise Refused(503, NOT_A_MANAGER)
        self.lock = open(NODES_FILE + ".lock", "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        with open(NODES_FILE, encoding="utf-8") as f:
            self.entries = json.load(f)
        return self

    def save(self):
        with open(NODES_FILE + ".tmp", "w", encoding="utf-8") as f:
            json.dump(self.entries, f)
        os.replace(NODES_FILE + ".tmp", NODES_FILE)

    def find(self, node_id):
        for entry in self.entries:
            if entry["ID"] == node_id and "Raw" not in entry:
                return entry
        raise Refused(404, f"node {node_id} not found")

    def __exit__(self, *exc):
        self.lock.close()


def record(entry):
    """A node as GET /nodes lists it (the fields a real 20.10 manager gave, without the engine's details)."""
    if "Raw" in entry:
        return entry["Raw"]
    return {"ID": entry["ID"], "Version": {"Index": entry.get("Version", 1)},
            "Spec": {"Labels": {}, "Role": entry["Role"], "Availability": entry.get("Availability", "active")},
            "Description": {"Hostname": entry["Hostname"]}, "Status": {"State": entry["State"], "Addr": entry["Addr"]}}


def container_state(name):
    if name in lines("exited-containers"):
        return "exited"
    if name in lines("running-containers"):
        return "running"
    return None


def answer(method, path, query, body):
    """(status, JSON value or None) for one request."""
    parts = [urllib.parse.unquote(part) for part in path.strip("/").split("/")]
    if method == "GET" and parts == ["nodes"]:
        with Nodes() as nodes:
            return 200, [record(entry) for entry in nodes.entries]
    if method == "POST" and len(parts) == 3 and parts[0] == "nodes" and parts[2] == "update":
        with Nodes() as nodes:
            node = nodes.find(parts[1])
            if query.get("version") != [str(node.get("Version", 1))]:
                raise Refused(500, "rpc error: code = Unknown desc = update out of sequence")
            if not isinstance(body, dict) or body.get("Role") not in ("worker", "manager"):
                raise Refused(400, f"invalid Role: {json.dumps(body.get('Role', '') if isinstance(body, dict) else '')}")
            node["Availability"] = body.get("Availability", "active")
            node["Version"] = node.get("Version", 1) + 1
            if node["Availability"] == "drain":
                node["Tasks"] = []  # the swarm moves its tasks elsewhere
            nodes.save()
            return 200, None
    if method == "GET" and parts == ["tasks"]:
        filters = json.loads(query.get("filters", ["{}"])[0])
        with Nodes() as nodes:
            node = nodes.find(filters["node"][0])
            return 200, [{"ID": task, "NodeID": node["ID"], "DesiredState": "running"} for task in node.get("Tasks", [])]
    if method == "DELETE" and len(parts) == 2 and parts[0] == "nodes":
        with Nodes() as nodes:
            node = nodes.find(parts[1])
            if node.get("State") != "down" and query.get("force") != ["true"]:
                raise Refused(400, f"rpc error: code = FailedPrecondition desc = node {node['ID']} is not down and can't be removed")
            nodes.entries.remove(node)
            nodes.save()
            return 200, None
    if method == "GET" and parts == ["containers", "json"]:
        name = json.loads(query.get("filters", ["{}"])[0]).get("name", [""])[0].strip("^$")
        state = container_state(name)
        return 200, [] if state is None else [{"Id": uuid.uuid5(uuid.NAMESPACE_DNS, name).hex * 2, "Names": [f"/{name}"],
                                               "State": state}]
    if method == "POST" and len(parts) == 3 and parts[0] == "containers" and parts[2] in ("start", "restart"):
        name, state = parts[1], container_state(parts[1])
        if state is None:
            raise Refused(404, f"No such container: {name}")
        if parts[2] == "start":
            if state == "running":
                return 304, None
            write_lines("exited-containers", [line for line in lines("exited-containers") if line != name])
            return 204, None
        write_lines("restarts", lines("restarts") + [name])
        after = os.path.join(STATE, "network-services.after-restart.json")
        if os.path.exists(after):
            os.replace(after, os.path.join(STATE, "network-services.json"))
        return 204, None
    if method == "GET" and len(parts) == 2 and parts[0] == "networks":
        try:
            with open(os.path.join(STATE, "network-services.json"), encoding="utf-8") as f:
                return 200, {"Name": parts[1], "Services": json.load(f)}
        except FileNotFoundError:
            raise Refused(404, f"network {parts[1]} not found") from None
    raise Refused(404, "page not found")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_request(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with open(CALLS_LOG, "a", encoding="utf-8") as log:
            log.write(f"docker-api {self.command} {url.path}{'?' + url.query if url.query else ''}"
                      f"{' ' + raw.decode() if raw else ''}\n")
        try:
            status, value = answer(self.command, url.path, urllib.parse.parse_qs(url.query), json.loads(raw) if raw else None)
        except Refused as refusal:
            status, value = refusal.status, {"message": str(refusal)}
        data = b"" if value is None else json.dumps(value).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = handle_request

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("docker", 0)  # BaseHTTPRequestHandler wants a client address


if __name__ == "__main__":
    os.makedirs(os.path.dirname(SOCKET), exist_ok=True)
    if os.path.exists(SOCKET):
        os.unlink(SOCKET)
    with Server(SOCKET, Handler) as server:
        print("ready", flush=True)
        server.serve_forever()
