#!/usr/bin/env python3
"""The SSH proxy's ForceCommand: runs a client's command in the target service's local container, if allowed.

sshd starts it for every session with the client's command in SSH_ORIGINAL_COMMAND (one string: the client's quoting
is lost). The command is split on spaces into words and checked against the allow-list (a Docker config written by
the SshProxy construct, see lib/ssh-allow-list.ts); only an exact match runs, as the argv

    docker exec [--user U] <container> <words...>

with no shell anywhere. The container is the running task of the target service on this node, found by its swarm
label. Every attempt is logged as one JSON line (time, client, key fingerprint, verdict, command) to the audit log.

Usage: ssh-proxy-validate --allow-list FILE --audit-log FILE --docker FILE

Exit codes: 77 refused (not allowed, or the proxy cannot check it); 69 no running task of the target on this node
(try the proxy on another node) or docker failed; anything else is the command's own exit code, passed through.
"""
import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time

EXIT_REFUSED = 77
EXIT_UNAVAILABLE = 69
MAX_COMMAND_BYTES = 1024
# gitolite's character allow-list without the space: nothing a shell, docker or a glob would read specially.
TOKEN = re.compile(rb"[A-Za-z0-9._@/+:,%=-]+")
CONTAINER_ID = re.compile(r"[0-9a-f]{12,64}")
SERVICE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?")
EXEC_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,31})?")
LOGGED_COMMAND_CHARS = 200
DOCKER_PS_TIMEOUT_SECONDS = 20
# docker gets a fixed environment: nothing from the SSH session reaches it.
DOCKER_ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
OPTIONS = ("--allow-list", "--audit-log", "--docker")


class Refused(Exception):
    """The command is not run; the message tells the client why."""


class Unavailable(Exception):
    """The command is allowed but cannot run on this node."""


def parse_arguments(argv):
    if len(argv) != 2 * len(OPTIONS):
        raise Refused("the proxy is misconfigured (validator arguments)")
    settings = dict(zip(argv[0::2], argv[1::2]))
    if sorted(settings) != sorted(OPTIONS):
        raise Refused("the proxy is misconfigured (validator arguments)")
    return settings


def load_allow_list(path):
    """The allow-list, with its patterns compiled; any surprise refuses everything rather than guessing."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        if document["version"] != 1 or not SERVICE_NAME.fullmatch(document["targetService"]):
            raise ValueError("unknown version or bad target service")
        if document["execUser"] is not None and not EXEC_USER.fullmatch(document["execUser"]):
            raise ValueError("bad exec user")
        commands = [compile_command(command) for command in document["commands"]]
        if not commands:
            raise ValueError("no commands")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, re.error):
        raise Refused("the proxy's allow-list cannot be read") from None
    return document["targetService"], document["execUser"], commands


def compile_command(command):
    prefix = [str(word) for word in command["prefix"]]
    if not prefix:
        raise ValueError("empty prefix")
    options = {option["flag"]: compile_rule(option.get("value")) for option in command.get("options", [])}
    args = [(compile_rule(arg), bool(arg.get("optional", False))) for arg in command.get("args", [])]
    return {"prefix": prefix, "options": options, "args": args}


def compile_rule(rule):
    """A rule as a predicate on one word; None for an option without a value."""
    if rule is None:
        return None
    if rule["kind"] == "literal":
        value = rule["value"]
        return lambda word: word == value
    if rule["kind"] == "enum":
        values = frozenset(rule["values"])
        return lambda word: word in values
    if rule["kind"] == "pattern":
        # ASCII: \d and \w must not match other scripts' digits and letters.
        regex = re.compile(rule["pattern"], re.ASCII)
        return lambda word: regex.fullmatch(word) is not None
    raise ValueError("unknown rule kind")


def split_command(raw):
    """The client's command as words, or Refused for anything outside the character allow-list."""
    if len(raw) > MAX_COMMAND_BYTES:
        raise Refused(f"the command is longer than {MAX_COMMAND_BYTES} bytes")
    words = [word for word in raw.split(b" ") if word]
    if not words:
        raise Refused("no command given (this proxy runs only allow-listed commands, never a shell)")
    for index, word in enumerate(words, start=1):
        if not TOKEN.fullmatch(word):
            raise Refused(f"word {index} has a character outside [A-Za-z0-9._@/+:,%=-]")
        if b".." in word:
            raise Refused(f'word {index} contains ".."')
    return [word.decode("ascii") for word in words]


def match_command(words, commands):
    """Refused unless some allowed command matches the words exactly."""
    reasons = []
    for command in commands:
        prefix = command["prefix"]
        if words[: len(prefix)] != prefix:
            continue
        try:
            match_rest(words[len(prefix):], command)
            return
        except Refused as refusal:
            reasons.append((len(prefix), str(refusal)))
    if not reasons:
        raise Refused("the command is not on the allow-list")
    # The reason from the most specific prefix that matched says the most.
    raise Refused(max(reasons, key=lambda reason: reason[0])[1])


def match_rest(words, command):
    seen = set()
    positionals = []
    for word in words:
        if not word.startswith("-"):
            positionals.append(word)
            continue
        flag, has_value, value = word.partition("=")
        if flag not in command["options"]:
            raise Refused(f"option {flag} is not allowed")
        if flag in seen:
            raise Refused(f"option {flag} is given twice")
        seen.add(flag)
        rule = command["options"][flag]
        if rule is None:
            if has_value:
                raise Refused(f"option {flag} takes no value")
        elif not has_value or not value or value.startswith("-") or not rule(value):
            raise Refused(f"option {flag} needs an allowed value, as one word: {flag}=VALUE")
    rules = command["args"]
    required = sum(1 for _, optional in rules if not optional)
    if not required <= len(positionals) <= len(rules):
        raise Refused(f"expected {required} to {len(rules)} arguments, got {len(positionals)}")
    for index, (word, (rule, _)) in enumerate(zip(positionals, rules), start=1):
        if not rule(word):
            raise Refused(f"argument {index} is not allowed")


def local_container(docker, service):
    """ID of the newest running task of the service on this node."""
    try:
        result = subprocess.run(
            [docker, "ps", "--filter", f"label=com.docker.swarm.service.name={service}",
             "--filter", "status=running", "--format", "{{.ID}}"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=DOCKER_ENVIRONMENT,
            timeout=DOCKER_PS_TIMEOUT_SECONDS, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        raise Unavailable("docker did not answer on this node") from None
    if result.returncode != 0:
        raise Unavailable("docker ps failed on this node")
    # docker ps lists the newest first; anything but a hex ID is ignored rather than passed to docker exec.
    ids = [line for line in result.stdout.split() if CONTAINER_ID.fullmatch(line)]
    if not ids:
        raise Unavailable(f"no running task of {service} on this node")
    return ids[0]


def key_fingerprint():
    """SHA256 fingerprint of the key the client logged in with, from sshd's ExposeAuthInfo file."""
    try:
        with open(os.environ["SSH_USER_AUTH"], encoding="ascii") as handle:
            for line in handle:
                method, _, rest = line.partition(" ")
                if method == "publickey":
                    blob = base64.b64decode(rest.split()[1], validate=True)
                    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    except (KeyError, OSError, ValueError, IndexError):
        pass
    return "unknown"


def client_address():
    parts = os.environ.get("SSH_CONNECTION", "").split()
    return f"{parts[0]}:{parts[1]}" if len(parts) >= 2 else "unknown"


def printable(raw):
    """The command for the log: printable ASCII (other bytes as \\xNN), cut short; it never carries secrets by design."""
    text = "".join(chr(byte) if 0x20 <= byte <= 0x7E else f"\\x{byte:02x}" for byte in raw)
    return text if len(text) <= LOGGED_COMMAND_CHARS else text[:LOGGED_COMMAND_CHARS] + "...(truncated)"


def audit(path, raw, verdict, **details):
    """Appends one JSON line. O_NONBLOCK: in the image the log is a FIFO, and a missing reader must not hang us."""
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "client": client_address(),
        "key": key_fingerprint(),
        "verdict": verdict,
        **details,
        "command": printable(raw),
    }
    line = (json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    try:
        # One write of less than PIPE_BUF bytes: lines of concurrent sessions never interleave.
        if os.write(descriptor, line) != len(line):
            raise OSError("short write")
    finally:
        os.close(descriptor)


def decline(audit_log, raw, verdict, code, reason):
    """Logs (best effort) and tells the client why nothing ran; returns the exit code."""
    try:
        if audit_log is not None:
            audit(audit_log, raw, verdict, reason=reason)
    except OSError:
        pass  # refusing already: a lost log line changes nothing
    print(f"ssh-proxy: {verdict}: {reason}", file=sys.stderr)
    return code


def main(argv):
    raw = os.environb.get(b"SSH_ORIGINAL_COMMAND", b"")
    audit_log = None
    try:
        settings = parse_arguments(argv)
        audit_log = settings["--audit-log"]
        service, exec_user, commands = load_allow_list(settings["--allow-list"])
        words = split_command(raw)
        match_command(words, commands)
    except Refused as refusal:
        return decline(audit_log, raw, "refused", EXIT_REFUSED, str(refusal))
    docker = settings["--docker"]
    try:
        container = local_container(docker, service)
    except Unavailable as unavailable:
        return decline(audit_log, raw, "unavailable", EXIT_UNAVAILABLE, str(unavailable))
    try:
        audit(audit_log, raw, "allowed", container=container)
    except OSError:
        return decline(None, raw, "refused", EXIT_REFUSED, "the audit log cannot be written")
    user = ["--user", exec_user] if exec_user else []
    try:
        os.execve(docker, [docker, "exec", *user, container, *words], DOCKER_ENVIRONMENT)
    except OSError:
        return decline(None, raw, "unavailable", EXIT_UNAVAILABLE, "docker cannot be started on this node")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
