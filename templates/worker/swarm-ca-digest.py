#!/usr/bin/env python3
"""Prints the digest a swarm join token carries for the swarm whose root CA certificate file is given.

A token reads SWMTKN-1-<digest>-<secret>; <digest> is the sha256 of the swarm's root CA certificate (its PEM bytes as
Docker stores them in <DockerRootDir>/swarm/certificates/swarm-root-ca.crt), in base 36, padded to 50 digits. The
worker's rejoin check compares it with the manager's current token: another digest means the manager at the same
address runs another swarm (it was replaced), which Docker itself never tells a worker.
Usage: swarm-ca-digest.py CA_FILE
"""
import hashlib
import sys

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
WIDTH = 50


def token_digest(certificate: bytes) -> str:
    number = int(hashlib.sha256(certificate).hexdigest(), 16)
    text = ""
    while number:
        number, digit = divmod(number, 36)
        text = DIGITS[digit] + text
    return text.rjust(WIDTH, "0")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: swarm-ca-digest.py CA_FILE")
    with open(sys.argv[1], "rb") as f:
        print(token_digest(f.read()))
