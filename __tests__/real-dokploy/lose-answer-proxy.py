#!/usr/bin/env python3
"""Loses Dokploy's answers after Dokploy has acted on the request, inside the test's network namespace only.

A create that Dokploy commits while its answer never arrives (Dokploy dies, a proxy times out, the manager reboots)
is what the host programs must survive without creating anything twice. Each request is sent on to Dokploy whole
and Dokploy's whole answer is read; for the first <times> requests whose request line starts with <match>, the
client's connection is then closed without a byte of it (curl: "Empty reply from server"). Every lost answer is
appended to <record file> as the request line.

usage: lose-answer-proxy.py <listen port> <upstream port> <match> <times> <record file>
"""
import socket
import socketserver
import sys
import threading

LISTEN_PORT, UPSTREAM_PORT, MATCH, TIMES, RECORD = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
lost = 0
lock = threading.Lock()


def read_request(stream):
    """The request's head (lines up to the blank one) and its body (Content-Length bytes)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = stream.readline()
        if not line:
            return None, None
        head += line
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head, stream.read(length) if length else b""


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        global lost
        head, body = read_request(self.rfile)
        if head is None:
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        # One request per upstream connection, closed by Dokploy after its answer: the answer is whatever came.
        lines = [line for line in head.split(b"\r\n") if line and not line.lower().startswith(b"connection:")]
        upstream = socket.create_connection(("127.0.0.1", UPSTREAM_PORT))
        upstream.sendall(b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + body)
        answer = b""
        while chunk := upstream.recv(65536):
            answer += chunk
        upstream.close()
        with lock:
            lose = request_line.startswith(MATCH) and lost < TIMES
            if lose:
                lost += 1
                with open(RECORD, "a") as record:
                    record.write(request_line + "\n")
        if not lose:
            self.wfile.write(answer)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


with Server(("127.0.0.1", LISTEN_PORT), Handler) as server:
    print(f"proxying 127.0.0.1:{LISTEN_PORT} to 127.0.0.1:{UPSTREAM_PORT}, losing {TIMES} answer(s) to '{MATCH}'", flush=True)
    server.serve_forever()
