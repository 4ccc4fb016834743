#!/usr/bin/env python3
"""Reads node.json by key, for the host scripts (jq is not on the image) and the python programs alike.

usage: node-config.py FILE KEY [DEFAULT]
  prints the value at the dotted KEY (e.g. dokploy.wait.maxAttempts), or DEFAULT when the key is absent; a value that
  is missing (without DEFAULT), empty or more than one line is an error that names the key (exit 1)
"""
import json
import sys


class ConfigError(Exception):
    pass


def load(path):
    try:
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


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    try:
        found = value(load(sys.argv[1]), sys.argv[2], sys.argv[1], *sys.argv[3:])
        # Numbers and true/false as JSON writes them.
        print(found if isinstance(found, str) else json.dumps(found))
    except ConfigError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
