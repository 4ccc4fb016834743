#!/usr/bin/env python3
"""node.json by key, for the host scripts (jq is not on the image) and the python programs alike.

usage: node-config.py FILE KEY [DEFAULT]
         prints the value at the dotted KEY (e.g. dokploy.wait.maxAttempts), or DEFAULT when the key is absent;
         numbers, true/false and lists as JSON; FILE - reads stdin. A value that is missing (without DEFAULT), empty
         or more than one line is an error that names the key (exit 1).
       node-config.py check worker FILE CURL_CONFIG
         checks a worker's node.json and writes the token server's curl config (0600): on curl's command line the
         bearer credential would show in ps
       node-config.py check tailscale FILE
         checks node.json's "tailscale" object
       node-config.py host-ports FILE
         prints "<protocol> <port> <source>" for every source of every hostPorts entry, checked ("-" for ESP's port)
       node-config.py set FILE KEY VALUE
         sets the top-level KEY of the JSON object in FILE (made when missing; 0644, replaced atomically) to the
         string VALUE and prints "changed", or nothing when it already had that value
A check that fails prints one line naming the key (exit 1); the scripts then read the values with the first form.
"""
import ipaddress
import json
import os
import re
import sys

OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


class ConfigError(Exception):
    pass


def load(path):
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None


def value(config, key, path, default=None):
    """The value at the dotted key of the loaded config (read from path, which errors name), or default if absent."""
    found = config
    for part in key.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if found is None:
        found = default
    if found is None or found == "" or "\n" in str(found):
        raise ConfigError(f"{path}: {key} is missing or invalid")
    return found


def seconds(section, prefix, name):
    """A positive number of seconds, when the optional key is there (the scripts' defaults apply otherwise)."""
    found = section.get(name, 1)
    if isinstance(found, bool) or not isinstance(found, (int, float)) or found <= 0:
        raise ConfigError(f"{prefix}.{name} must be a positive number of seconds")


def check_worker(config, curl_config_path):
    token_server, join = config["tokenServer"], config.get("join", {})
    for name in ("initialDelaySeconds", "maxDelaySeconds", "requestTimeoutSeconds", "waitSeconds"):
        seconds(join, "join", name)
    url = str(token_server["url"]).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError("tokenServer.url must be an http(s) URL")
    for found in (config["name"], config["docker"]["installerUrl"], url):
        if "\n" in str(found):
            raise ConfigError("node.json values must be single lines")
    if not re.fullmatch(rf"{OCTET}(\.{OCTET}){{3}}", str(config.get("swarm", {}).get("managerAddress", ""))):
        raise ConfigError("swarm.managerAddress must be the manager's private IPv4 address")
    credential, source = str(token_server["credential"]), token_server.get("sourceAddress")
    # What Terraform derives: sha256("<secret>:<name>") in hex; the name is the identity it proves.
    if not re.fullmatch(r"[0-9a-f]{64}", credential):
        raise ConfigError("tokenServer.credential must be 64 lowercase hex digits (sha256 of the token server secret "
                          "and this worker's name)")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", str(config["name"])):
        raise ConfigError("name must be a worker name like worker-1")
    # noproxy: the credential goes to the token server on the private network, never through an http_proxy.
    curl_config = [f'header = "Authorization: Bearer {credential}"', f'header = "X-Dokploy-Worker: {config["name"]}"',
                   'noproxy = "*"']
    if source is not None:
        if not re.fullmatch(r"[0-9a-fA-F.:]+", str(source)):
            raise ConfigError("tokenServer.sourceAddress must be an IP address")
        curl_config.append(f'interface = "{source}"')
    with os.fdopen(os.open(curl_config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("\n".join(curl_config) + "\n")


def check_tailscale(config):
    config = config.get("tailscale")
    if not isinstance(config, dict):
        raise ConfigError('node.json has no "tailscale" object')
    for name in ("delaySeconds", "maxDelaySeconds"):
        seconds(config.get("retry", {}), "tailscale.retry", name)
    key_file, hostname = str(config.get("authKeyFile", "")), str(config.get("hostname", ""))
    installer, tags, ssh = str(config.get("installerUrl", "")), config.get("tags", []), config.get("ssh", False)
    if not key_file.startswith("/") or "\n" in key_file:
        raise ConfigError("tailscale.authKeyFile must be an absolute path")
    if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", hostname):
        raise ConfigError(f"tailscale.hostname {hostname!r} is not a DNS label")
    if not isinstance(tags, list) or not all(isinstance(t, str) and re.fullmatch(r"tag:[A-Za-z][A-Za-z0-9-]*", t)
                                             for t in tags):
        raise ConfigError('tailscale.tags must be a list of "tag:<name>"')
    if not isinstance(ssh, bool):
        raise ConfigError("tailscale.ssh must be true or false")
    if not re.fullmatch(r"https?://[^\s]+", installer):
        raise ConfigError("tailscale.installerUrl must be an http(s) URL")


def host_ports(config):
    for entry in config.get("hostPorts", []):
        protocol, port = entry.get("protocol"), entry.get("port")
        # ESP (encrypted overlays, IP protocol 50) has no port.
        if protocol == "esp" and port is None:
            port = "-"
        elif protocol not in ("tcp", "udp") or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f"hostPorts: invalid entry {json.dumps(entry)}")
        for source in entry.get("sources", []):
            print(protocol, port, ipaddress.IPv4Network(source, strict=False).with_prefixlen)


def set_key(path, key, new):
    config = load(path) if os.path.exists(path) else {}
    if config.get(key) == new:
        return
    config[key] = new
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as out:
        json.dump(config, out, indent=2)
    os.chmod(path + ".tmp", 0o644)
    os.replace(path + ".tmp", path)
    print("changed")


def main():
    args = sys.argv[1:]
    try:
        if args[:2] == ["check", "worker"] and len(args) == 4:
            check_worker(load(args[2]), args[3])
        elif args[:2] == ["check", "tailscale"] and len(args) == 3:
            check_tailscale(load(args[2]))
        elif args[0] == "host-ports" and len(args) == 2:
            host_ports(load(args[1]))
        elif args[0] == "set" and len(args) == 4:
            set_key(*args[1:])
        elif len(args) in (2, 3) and args[0] not in ("check", "host-ports", "set"):
            found = value(load(args[0]), args[1], args[0], *args[2:])
            print(found if isinstance(found, str) else json.dumps(found, separators=(",", ":")))
        else:
            sys.exit(__doc__)
    except ConfigError as error:
        sys.exit(str(error))
    except (LookupError, TypeError, AttributeError) as error:
        # A check reading a key that is not there, or not an object.
        sys.exit(f"node.json: missing or invalid ({error!r})")


if __name__ == "__main__":
    main()
