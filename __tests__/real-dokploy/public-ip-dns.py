#!/usr/bin/env python3
"""Answers the public-IP lookup Dokploy makes at sign-up, inside the test's network namespace only.

Dokploy's sign-up awaits `public-ip` (DNS query `myip.opendns.com A` to 208.67.222.222 first). In a namespace with
no route every query waits out its timeout and sign-up takes over two minutes (measured: 143 s). The test puts
208.67.222.222 on the namespace's loopback and runs this responder there, so sign-up answers as it would on a host
with internet. Every A question gets one answer: the documentation address given as argv[2].

usage: public-ip-dns.py <bind address> <answer IPv4>
"""
import socket
import struct
import sys


def answer(query, address):
    # Header: id, flags, qdcount, ancount, nscount, arcount; then the question (name labels, type, class).
    (query_id,) = struct.unpack("!H", query[:2])
    end = 12
    while query[end] != 0:
        end += query[end] + 1
    question = query[12:end + 5]
    qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
    answers = 1 if qtype == 1 else 0
    # Response, recursion desired + available, no error.
    header = struct.pack("!HHHHHH", query_id, 0x8180, 1, answers, 0, 0)
    record = b""
    if answers:
        # Name: pointer to the question's name at offset 12; type A, class IN, TTL 0, 4 bytes of address.
        record = struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) + socket.inet_aton(address)
    return header + question + record


def main():
    bind_address, answer_address = sys.argv[1], sys.argv[2]
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind((bind_address, 53))
    print(f"public-ip-dns: answering on {bind_address}:53", flush=True)
    while True:
        query, peer = server.recvfrom(512)
        try:
            server.sendto(answer(query, answer_address), peer)
        except (IndexError, struct.error):
            continue  # not a DNS query: ignore it


if __name__ == "__main__":
    main()
