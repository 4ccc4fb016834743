#!/usr/bin/env python3
"""Checks a worker's node.json and writes the token server's curl config.

usage: worker-config.py NODE_JSON CURL_CONFIG
"""
# The worker bootstrap reads the values by key afterwards (host-lib.sh config_read); this program is where they are
# checked, and where the bearer credential goes from node.json to the 0600 curl config file (on curl's command line
# it would show in ps). Exit 1 with one line naming the key when a value is wrong.
import json
import os
import re
import sys

OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    config = json.load(open(sys.argv[1]))
    token_server, join = config["tokenServer"], config.get("join", {})
    # Optional: the bootstrap's defaults apply to a missing one.
    for name in ("initialDelaySeconds", "maxDelaySeconds", "requestTimeoutSeconds", "waitSeconds"):
        value = join.get(name, 1)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            sys.exit(f"join.{name} must be a positive number of seconds")
    url = str(token_server["url"]).rstrip("/")
    if not url.startswith(("http://", "https://")):
        sys.exit("tokenServer.url must be an http(s) URL")
    for value in (config["name"], config["docker"]["installerUrl"], url):
        if "\n" in str(value):
            sys.exit("node.json values must be single lines")
    if not re.fullmatch(rf"{OCTET}(\.{OCTET}){{3}}", str(config.get("swarm", {}).get("managerAddress", ""))):
        sys.exit("swarm.managerAddress must be the manager's private IPv4 address")
    credential, source = str(token_server["credential"]), token_server.get("sourceAddress")
    # What Terraform derives: sha256("<secret>:<name>") in hex; the name is the identity it proves.
    if not re.fullmatch(r"[0-9a-f]{64}", credential):
        sys.exit("tokenServer.credential must be 64 lowercase hex digits (sha256 of the token server secret and this "
                 "worker's name)")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", str(config["name"])):
        sys.exit("name must be a worker name like worker-1")
    # noproxy: the credential goes to the token server on the private network, never through an http_proxy.
    curl_config = [f'header = "Authorization: Bearer {credential}"', f'header = "X-Dokploy-Worker: {config["name"]}"',
                   'noproxy = "*"']
    if source is not None:
        if not re.fullmatch(r"[0-9a-fA-F.:]+", str(source)):
            sys.exit("tokenServer.sourceAddress must be an IP address")
        curl_config.append(f'interface = "{source}"')
    with os.fdopen(os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("\n".join(curl_config) + "\n")


if __name__ == "__main__":
    main()
