#!/usr/bin/env python3
"""Host release agent (docs/host-contract.md, "Host release"): links and starts a node's units from the release the
loader verified (first-boot), then watches the instance's release tag and installs the release it names beside the
running one, switches, restarts only the units whose files changed, checks health and switches back on failure.

  release-agent.py first-boot SHA   link the release the loader unpacked, start the role's units
  release-agent.py recover          at every boot, before the node's units: finish a switch a reboot cut short
  release-agent.py watch            every release.intervalSeconds: read the tag, upgrade when it names another release
  release-agent.py upgrade SHA      one upgrade now (what watch does when the tag changes)
  release-agent.py adopt SHA URL    one-time, on a node set up before releases existed (0.1.0): see the README
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")
HOME = f"{ROOT}/opt/dokploy-oci"
RELEASES = f"{HOME}/releases"
CURRENT = f"{HOME}/current"
SYSTEMD_DIR = f"{ROOT}/etc/systemd/system"
STATE_DIR = f"{ROOT}/var/lib/dokploy-oci"
STATE_FILE = f"{STATE_DIR}/release.json"
SOURCE_FILE = f"{STATE_DIR}/release-source.json"
CONFIG_FILE = f"{ROOT}/etc/dokploy-oci/node.json"
SHA256 = re.compile("[0-9a-f]{64}")
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
METADATA_HEADERS = {"Authorization": "Bearer Oracle"}
PROGRAM = re.compile(r"/opt/dokploy-oci/bin/([\w.-]+)")
SELF_UNIT = "dokploy-release-agent.service"
DEFAULTS = {"maxBytes": 8388608, "downloadTimeoutSeconds": 120, "intervalSeconds": 30, "healthSeconds": 60,
            "tag": "dokploy-oci-release", "instanceMetadataUrl": "http://169.254.169.254/opc/v2/instance/"}


class Failed(Exception):
    pass


def load_config():
    with open(CONFIG_FILE) as f:
        node = json.load(f)
    release = {**DEFAULTS, **node.get("release", {})}
    if os.path.exists(SOURCE_FILE):
        with open(SOURCE_FILE) as f:
            release.update(json.load(f))
    return node, release


NODE, RELEASE = load_config()
ROLE = NODE["role"]
LOG_FILE = f"{ROOT}/var/log/dokploy-{ROLE}-setup.log"


def log(message):
    line = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + " release: " + message
    print(line, flush=True)
    os.makedirs(os.path.dirname(LOG_FILE), exist_ok=True)
    with open(os.open(LOG_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as f:
        f.write(line + "\n")


def short(sha):
    return sha[:12] if sha else "none"


def read_state():
    try:
        with open(STATE_FILE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"current": None, "previous": None, "switching": None, "failed": []}
    except ValueError:
        # Empty or cut: a power loss before the write reached the disk (seen on a real machine whose power was
        # pulled minutes after its first boot). What runs is what `current` links to; the rest is not known.
        link = os.readlink(CURRENT) if os.path.islink(CURRENT) else ""
        sha = os.path.basename(link) if SHA256.fullmatch(os.path.basename(link)) else None
        state = {"current": sha, "previous": None, "switching": None, "failed": []}
        log(f"{STATE_FILE} was unreadable (a power loss while it was written?); rebuilt from the current link: release {short(sha)}")
        write_state(state)
        return state


def sync_dir(path):
    """Makes a rename or a new link in path durable: until the folder reaches the disk, a power loss can undo it."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_state(state):
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    with open(f"{STATE_FILE}.new", "w") as f:
        json.dump({**state, "updatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f"{STATE_FILE}.new", STATE_FILE)
    sync_dir(STATE_DIR)


def systemctl(*args, check=True):
    run = subprocess.run(["systemctl", *args], capture_output=True, text=True)
    if check and run.returncode != 0:
        raise Failed(f"systemctl {' '.join(args)} failed: {(run.stderr or run.stdout).strip()[:200]}")
    return run.returncode == 0


def release_dir(sha):
    return f"{RELEASES}/{sha}"


def version(sha):
    try:
        with open(f"{release_dir(sha)}/VERSION") as f:
            return f.read().strip()
    except OSError:
        return "?"


def fetch(sha):
    """Downloads release sha into RELEASES, verified; Failed (with the reason) when it cannot."""
    if os.path.isdir(release_dir(sha)):
        return
    url = f"{RELEASE['url']}{sha}.tar.gz"
    limit = int(RELEASE["maxBytes"])
    timeout = int(RELEASE["downloadTimeoutSeconds"])
    deadline = time.monotonic() + timeout
    digest = hashlib.sha256()
    os.makedirs(RELEASES, mode=0o700, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".partial-", dir=RELEASES)
    try:
        archive = f"{work}/release.tar.gz"
        size = 0
        try:
            with DIRECT.open(url, timeout=timeout) as response, open(archive, "wb") as out:
                while chunk := response.read(65536):
                    size += len(chunk)
                    if size > limit:
                        raise Failed(f"release {short(sha)} is larger than {limit} bytes: refused")
                    if time.monotonic() > deadline:
                        raise Failed(f"release {short(sha)}: the download took longer than {timeout} s")
                    digest.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                raise Failed(f"release {short(sha)} does not exist in the releases bucket (HTTP 404)") from None
            raise Failed(f"release {short(sha)}: Object Storage answered HTTP {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            raise Failed(f"cannot download release {short(sha)} ({getattr(error, 'reason', error)})") from None
        if digest.hexdigest() != sha:
            raise Failed(f"release {short(sha)}: the download's sha256 is {digest.hexdigest()}: refused, nothing of it runs")
        tree = f"{work}/tree"
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if member.name.startswith("/") or ".." in member.name.split("/") or not (member.isfile() or member.isdir()):
                    raise Failed(f"release {short(sha)}: unexpected entry {member.name!r}")
            tar.extractall(tree)
        # Every unpacked file on the disk before the release counts as there: after a power loss a release folder
        # holds whole files, never empty ones.
        os.sync()
        os.rename(tree, release_dir(sha))
        sync_dir(RELEASES)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def unit_files(sha):
    """Paths under the release's systemd/ (units and drop-ins), relative to it."""
    base = f"{release_dir(sha)}/systemd"
    return sorted(os.path.relpath(os.path.join(d, f), base) for d, _, files in os.walk(base) for f in files)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def changed_units(old, new):
    """The top-level units of `new` whose unit file, program, or (for a shell program) shell library differs."""
    changed = []
    library_changed = read(f"{release_dir(old)}/lib/host-lib.sh") != read(f"{release_dir(new)}/lib/host-lib.sh")
    for unit in unit_files(new):
        if "/" in unit:
            continue
        text = (read(f"{release_dir(new)}/systemd/{unit}") or b"").decode()
        programs = PROGRAM.findall(text)
        differs = read(f"{release_dir(old)}/systemd/{unit}") != text.encode() or any(
            read(f"{release_dir(old)}/bin/{p}") != read(f"{release_dir(new)}/bin/{p}") or (library_changed and p.endswith(".sh"))
            for p in programs)
        if differs:
            changed.append(unit)
    return changed


def switch_to(sha):
    """Points `current` (and so bin, lib and every linked unit) at release sha in one rename, then reloads systemd."""
    os.makedirs(SYSTEMD_DIR, exist_ok=True)
    for name in ("bin", "lib"):
        path = f"{HOME}/{name}"
        if os.path.isdir(path) and not os.path.islink(path):
            # A node set up before releases existed: its programs stay beside, out of the way.
            os.rename(path, f"{path}.before-release")
        if not os.path.islink(path):
            os.symlink(f"current/{name}", path)
    temporary = f"{CURRENT}.new"
    if os.path.lexists(temporary):
        os.remove(temporary)
    os.symlink(f"releases/{sha}", temporary)
    os.replace(temporary, CURRENT)
    sync_dir(HOME)
    for unit in unit_files(sha):
        link = f"{SYSTEMD_DIR}/{unit}"
        target = f"{CURRENT}/systemd/{unit}"
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)
    systemctl("daemon-reload")


def role_units(sha):
    with open(f"{release_dir(sha)}/roles/{ROLE}") as f:
        units = [line.split() for line in f if line.strip()]
    if "tailscale" in NODE:
        units.append(["dokploy-tailscale-up.service", "--no-block"])
    return units


def healthy(units):
    """None when every unit stays active, the token server answers (manager) and the swarm node is active; else why."""
    deadline = time.monotonic() + float(RELEASE["healthSeconds"])
    streak = 0
    problem = "not checked"
    while time.monotonic() < deadline:
        problem = health_problem(units)
        streak = streak + 1 if problem is None else 0
        if streak >= 3:
            return None
        time.sleep(1)
    return problem


def health_problem(units):
    for unit in units:
        if unit != SELF_UNIT and not systemctl("is-active", "--quiet", unit, check=False):
            return f"{unit} is not active"
    server = NODE.get("tokenServer", {})
    if ROLE == "manager" and "bindAddress" in server:
        try:
            DIRECT.open(f"http://{server['bindAddress']}:{server['port']}/", timeout=3).close()
        except urllib.error.HTTPError:
            pass
        except (urllib.error.URLError, OSError) as error:
            return f"the token server does not answer ({getattr(error, 'reason', error)})"
    if os.path.exists(f"{ROOT}/opt/dokploy-{ROLE}-setup-complete"):
        state = subprocess.run(["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True)
        if state.stdout.strip() != "active":
            return f"the swarm node is not active ({(state.stdout or state.stderr).strip()[:100]})"
    return None


def agent_problem(sha):
    """None when the release's own agent starts (it replaces this one once the switch is kept); else why."""
    run = subprocess.run([sys.executable, f"{release_dir(sha)}/bin/release-agent.py", "selftest"], capture_output=True, text=True, timeout=60)
    if run.returncode != 0 or run.stdout.strip() != "ok":
        return f"its release agent does not start ({((run.stderr or run.stdout).strip().splitlines() or ['no output'])[-1]})"
    return None


def enable_and_start(units):
    """Enables the units in one call (systemctl reloads systemd once per enable), then starts each, in order."""
    if units:
        systemctl("enable", *[unit for unit, *_ in units])
    for unit, *flags in units:
        systemctl("start", *flags, unit)


def restart(units):
    for unit in units:
        if unit != SELF_UNIT:
            systemctl("restart", unit)


def first_boot(sha):
    state = read_state()
    switch_to(sha)
    enable_and_start(role_units(sha))
    write_state({**state, "current": sha, "switching": None})
    log(f"running release {short(sha)} ({version(sha)})")


def upgrade(sha):
    """Installs and switches to release sha; back on the previous one when the new one is not healthy."""
    state = read_state()
    old = state["current"]
    if old is None:
        raise Failed("no release is installed yet: the loader installs the first one")
    if sha == old:
        return
    fetch(sha)
    units = changed_units(old, sha)
    active = [u for u in units if u == SELF_UNIT or systemctl("is-active", "--quiet", u, check=False)]
    known = set(unit_files(old))
    added = [entry for entry in role_units(sha) if entry[0] not in known]
    log(f"switching from release {short(old)} to {short(sha)} ({version(sha)}); restarting: {', '.join(active) or 'nothing'}")
    write_state({**state, "switching": {"from": old, "to": sha}})
    switch_to(sha)
    try:
        restart(active)
        enable_and_start(added)
        problem = (agent_problem(sha) if SELF_UNIT in units else None) or healthy(active + [u for u, *_ in added])
    except Failed as error:
        problem = str(error)
    if problem is None:
        write_state({**state, "current": sha, "previous": old, "switching": None})
        prune(keep={old, sha})
        log(f"now running release {short(sha)} ({version(sha)})")
        if SELF_UNIT in units:
            systemctl("restart", "--no-block", SELF_UNIT)
        return
    switch_to(old)
    restart(active)
    log(f"ERROR: release {short(sha)} failed its health check ({problem}); switched back to {short(old)}")
    write_state({**state, "switching": None, "failed": sorted(set(state["failed"]) | {sha})})
    prune(keep={old, state["previous"]})
    again = healthy(active)
    if again is not None:
        log(f"ERROR: release {short(old)} is not healthy either after the switch back ({again})")


def recover():
    """A switch cut short (a reboot between switching and its check): back on the release it came from."""
    state = read_state()
    switching = state.get("switching")
    if not switching:
        return
    old, new = switching["from"], switching["to"]
    switch_to(old)
    restart([u for u in changed_units(old, new) if systemctl("is-active", "--quiet", u, check=False)])
    write_state({**state, "switching": None})
    log(f"a switch to release {short(new)} was cut short; back on {short(old)}; the tag decides what comes next")


def prune(keep):
    for name in os.listdir(RELEASES):
        if name not in keep:
            shutil.rmtree(f"{RELEASES}/{name}", ignore_errors=True)


def tagged_release():
    request = urllib.request.Request(RELEASE["instanceMetadataUrl"], headers=METADATA_HEADERS)
    try:
        with DIRECT.open(request, timeout=10) as response:
            tags = json.load(response).get("freeformTags")
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as error:
        raise Failed(f"cannot read the instance metadata ({getattr(error, 'reason', error)})") from None
    value = tags.get(RELEASE["tag"]) if isinstance(tags, dict) else None
    if value is None:
        raise Failed(f"the instance has no freeform tag {RELEASE['tag']}")
    if not isinstance(value, str) or not SHA256.fullmatch(value):
        raise Failed(f"freeform tag {RELEASE['tag']} is not a sha256: {json.dumps(value)[:80]}")
    return value


def watch():
    recover()
    said = None
    while True:
        try:
            sha = tagged_release()
            state = read_state()
            if sha in state["failed"] and sha != state["current"]:
                raise Failed(f"the tag names release {short(sha)}, which failed its health check here; staying on {short(state['current'])}")
            if sha != state["current"]:
                with locked():
                    upgrade(sha)
            said = None
        except Failed as error:
            if str(error) != said:
                log(str(error))
                said = str(error)
        time.sleep(float(RELEASE["intervalSeconds"]))


def adopt(sha, url):
    """Takes over a node set up before releases existed: fetches release sha from url, links it, restarts its units."""
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    with open(SOURCE_FILE, "w") as f:
        json.dump({"url": url}, f)
    RELEASE["url"] = url
    fetch(sha)
    running = [u for u, *_ in role_units(sha) if systemctl("is-active", "--quiet", u, check=False)]
    switch_to(sha)
    restart(running)
    systemctl("enable", "--now", "--no-block", SELF_UNIT)
    write_state({**read_state(), "current": sha, "switching": None})
    log(f"adopted release {short(sha)} ({version(sha)}); restarted: {', '.join(running) or 'nothing'}")


def locked():
    os.makedirs(STATE_DIR, mode=0o700, exist_ok=True)
    handle = open(f"{STATE_DIR}/release.lock", "w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def main(args):
    command = args[0] if args else ""
    if command == "watch" and len(args) == 1:
        return watch()
    if command == "selftest" and len(args) == 1:
        return print("ok")
    if command == "recover" and len(args) == 1:
        with locked():
            return recover()
    if command in ("first-boot", "upgrade") and len(args) == 2 and SHA256.fullmatch(args[1]):
        with locked():
            (first_boot if command == "first-boot" else upgrade)(args[1])
        return None
    if command == "adopt" and len(args) == 3 and SHA256.fullmatch(args[1]) and re.fullmatch(r"https?://\S+/", args[2]):
        with locked():
            adopt(args[1], args[2])
        return None
    sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except Failed as failure:
        log(f"ERROR: {failure}")
        sys.exit(1)
