#!/usr/bin/env python3
"""Dokploy's own backups to the cluster's Object Storage bucket, through Dokploy's API, from the manager.

  backups.py configure          the S3 destination and the daily web-server backup (created once, kept in line)
  backups.py run                one backup now (Dokploy's manualBackupWebServer)
  backups.py restore            Dokploy's restore of the newest backup in the bucket, after checking it (exit 3: none)
  backups.py status             the last backup as JSON (npm run status reads it)
"""
# The web-server backup is Dokploy's: pg_dump of its database plus /etc/dokploy, zipped and copied by rclone to
# <bucket>/<backup appName>/webserver-backup-<time>.zip, keeping backups.keepLatestCount files. Restoring drops
# Dokploy's database and /etc/dokploy before it reads the dump, so the newest file is first downloaded here and
# refused unless it is a whole zip with a PostgreSQL custom-format dump in it.
# Config: node.json "backups" (bucket, endpoint, region, accessKey, secretKey, schedule, keepLatestCount) and
# "dokploy.url"; the API key from /opt/dokploy-credentials.json. Secrets come from those 0600 files only; the
# download signs its request here (AWS Signature V4), so no key reaches a command line. See docs/host-contract.md.
import argparse
import base64
import datetime
import hashlib
import hmac
import importlib.util
import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

ROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")
CONFIG_FILE = ROOT + "/etc/dokploy-oci/node.json"
# The Dokploy API client of the reconciler, installed beside this program.
_spec = importlib.util.spec_from_file_location(
    "register_workers", os.path.join(os.path.dirname(os.path.abspath(__file__)), "register-workers.py"))
reconciler = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reconciler)

DESTINATION_PROVIDER = "Other"
BACKUP_PREFIX = "/"
BACKUP_FILE_START = "webserver-backup-"
# A backup, a listing or a restore runs pg_dump, zip and rclone inside Dokploy: minutes, not the reconciler's 10 s.
LONG_REQUEST_SECONDS = 1800
# What restoreWebServerBackup logs when it succeeded (v0.30.2), before its cleanup line.
RESTORED = "Restore completed successfully!"
# pg_dump -Fc files start with this.
CUSTOM_DUMP_MAGIC = b"PGDMP"
NOTHING_TO_RESTORE = 3
# Dokploy's error messages repeat the rclone command they ran, credentials included.
RCLONE_CREDENTIAL = re.compile(r"(--s3-(?:access-key-id|secret-access-key)=)\S+")


def log(message):
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} backups: {message}", flush=True)


class Failed(Exception):
    pass


def load_config(path):
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        section = config.get("backups")
        if section is None or section.get("enabled") is False:
            return None
        values = {key: section[key] for key in ("bucket", "endpoint", "region", "accessKey", "secretKey", "schedule",
                                                "keepLatestCount", "destinationName")}
        values["dokploy_url"] = str(config["dokploy"]["url"]).rstrip("/")
        values["restoreAtFirstBoot"] = section.get("restoreAtFirstBoot") is True
    except (OSError, ValueError, KeyError, TypeError) as error:
        sys.exit(f"backups: invalid backups config in {path}: {error!r}")
    if not isinstance(values["keepLatestCount"], int) or values["keepLatestCount"] < 1:
        sys.exit("backups: backups.keepLatestCount must be a whole number, 1 or more")
    return values


def dokploy_client(config):
    try:
        with open(reconciler.CREDENTIALS_FILE, encoding="utf-8") as f:
            api_key = json.load(f)["api_key"]
    except (OSError, ValueError, KeyError, TypeError):
        raise Failed(f"no API key in {reconciler.CREDENTIALS_FILE} yet (the manager bootstrap writes it)") from None
    return reconciler.Dokploy(config["dokploy_url"], api_key)


def call(dokploy, procedure, data=None, query=False):
    try:
        if query and data is None:
            return dokploy.query(procedure)
        if query:
            encoded = urllib.parse.quote(json.dumps({"0": {"json": data}}, separators=(",", ":")))
            return dokploy.call(urllib.request.Request(f"{dokploy.url}/api/trpc/{procedure}?batch=1&input={encoded}"))
        return dokploy.mutation(procedure, data)
    except reconciler.ApiError as error:
        raise Failed(f"{procedure}: {hidden_credentials(reconciler.describe(error))}") from None


def hidden_credentials(text):
    return RCLONE_CREDENTIAL.sub(r"\1(hidden)", text)


def wanted_destination(config):
    return {"name": config["destinationName"], "provider": DESTINATION_PROVIDER, "accessKey": config["accessKey"],
            "secretAccessKey": config["secretKey"], "bucket": config["bucket"], "region": config["region"],
            "endpoint": config["endpoint"], "additionalFlags": []}


def ensure_destination(dokploy, config):
    """The destination named destinationName, created or brought in line with node.json; its id."""
    wanted = wanted_destination(config)
    rows = [row for row in call(dokploy, "destination.all", query=True) if row.get("name") == wanted["name"]]
    if not rows:
        created = call(dokploy, "destination.create", wanted)
        log(f"S3 destination {wanted['name']!r} created for bucket {config['bucket']} at {config['endpoint']}")
        return created["destinationId"]
    row = rows[0]
    if any(row.get(key) != value for key, value in wanted.items() if key != "additionalFlags"):
        call(dokploy, "destination.update", {**wanted, "destinationId": row["destinationId"]})
        log(f"S3 destination {wanted['name']!r} updated (bucket {config['bucket']}, credentials from node.json)")
    return row["destinationId"]


def web_server_backups(dokploy):
    user = call(dokploy, "user.getBackups", query=True) or {}
    return user, [backup for backup in user.get("backups") or [] if backup.get("databaseType") == "web-server"]


def ensure_schedule(dokploy, config, destination_id):
    user, backups = web_server_backups(dokploy)
    ours = [backup for backup in backups if backup.get("destinationId") == destination_id]
    wanted = {"schedule": config["schedule"], "keepLatestCount": config["keepLatestCount"], "enabled": True,
              "prefix": BACKUP_PREFIX, "database": "dokploy", "destinationId": destination_id}
    if not ours:
        call(dokploy, "backup.create", {**wanted, "databaseType": "web-server", "backupType": "database",
                                        "userId": user["id"], "includeEncryptionKey": True, "metadata": {}})
        log(f"web-server backup scheduled ({config['schedule']}, keeping the latest {config['keepLatestCount']})")
        return
    backup = ours[0]
    if any(backup.get(key) != value for key, value in wanted.items()):
        call(dokploy, "backup.update", {**wanted, "backupId": backup["backupId"], "serviceName": None, "metadata": {}})
        log(f"web-server backup updated ({config['schedule']}, keeping the latest {config['keepLatestCount']})")
    else:
        log("web-server backup already scheduled as configured")


def our_backup(dokploy, config):
    destinations = [row["destinationId"] for row in call(dokploy, "destination.all", query=True)
                    if row.get("name") == config["destinationName"]]
    backups = [b for b in web_server_backups(dokploy)[1] if b.get("destinationId") in destinations]
    if not backups:
        raise Failed("no web-server backup is scheduled yet: run `backups.py configure` first")
    return backups[0]


def backup_files(dokploy, destination_id):
    """Every web-server backup in the bucket (one folder per backup schedule), newest first."""
    files = []
    listing = {"destinationId": destination_id, "search": ""}
    for folder in call(dokploy, "backup.listBackupFiles", listing, query=True):
        if folder.get("IsDir"):
            for entry in call(dokploy, "backup.listBackupFiles", {**listing, "search": folder["Path"] + "/"}, query=True):
                name = entry["Path"].rsplit("/", 1)[-1]
                if not entry.get("IsDir") and name.startswith(BACKUP_FILE_START) and name.endswith(".zip"):
                    files.append({"path": entry["Path"], "name": name, "size": entry.get("Size")})
    # The names carry the time (webserver-backup-2026-01-02T03-04-05-678Z.zip): newest first.
    return sorted(files, key=lambda entry: entry["name"], reverse=True)


# --- the download check ------------------------------------------------------------------------------------------

def _sign(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_get(config, key):
    """A path-style GET of bucket/key signed with AWS Signature V4 (what OCI's S3 endpoint takes)."""
    endpoint = urllib.parse.urlsplit(config["endpoint"])
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    path = "/" + urllib.parse.quote(f"{config['bucket']}/{key}", safe="/-_.~")
    payload = hashlib.sha256(b"").hexdigest()
    headers = {"host": endpoint.netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(["GET", path, "", *(f"{name}:{headers[name]}" for name in sorted(headers)), "", signed, payload])
    scope = f"{day}/{config['region']}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signing_key = ("AWS4" + config["secretKey"]).encode()
    for part in (day, config["region"], "s3", "aws4_request"):
        signing_key = _sign(signing_key, part)
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={config['accessKey']}/{scope}, "
                                f"SignedHeaders={signed}, Signature={signature}")
    del headers["host"]
    return urllib.request.Request(f"{endpoint.scheme}://{endpoint.netloc}{path}", headers=headers)


def check_backup(config, key):
    """Downloads the backup and refuses it unless it is whole: zip CRCs, a custom-format dump, a filesystem/ tree."""
    with tempfile.TemporaryFile() as copy:
        try:
            with reconciler.DIRECT.open(signed_get(config, key), timeout=LONG_REQUEST_SECONDS) as response:
                while chunk := response.read(1 << 20):
                    copy.write(chunk)
        except urllib.error.HTTPError as error:
            raise Failed(f"downloading {key} to check it: HTTP {error.code} "
                         f"{reconciler.one_line(error.read().decode('utf-8', 'replace'), 200)}") from None
        except (urllib.error.URLError, OSError) as error:
            raise Failed(f"downloading {key} to check it: {getattr(error, 'reason', error)}") from None
        try:
            with zipfile.ZipFile(copy) as archive:
                broken = archive.testzip()
                if broken is not None:
                    raise Failed(f"{key} is corrupt ({broken} fails its checksum); nothing was restored")
                names = archive.namelist()
                if "database.sql" not in names:
                    raise Failed(f"{key} holds no database.sql; nothing was restored")
                with archive.open("database.sql") as dump:
                    if dump.read(len(CUSTOM_DUMP_MAGIC)) != CUSTOM_DUMP_MAGIC:
                        raise Failed(f"{key}: database.sql is not a pg_dump custom-format dump; nothing was restored")
                if not any(name.startswith("filesystem/") and not name.endswith("/") for name in names):
                    raise Failed(f"{key} holds no files of /etc/dokploy; nothing was restored")
        except (zipfile.BadZipFile, EOFError) as error:
            raise Failed(f"{key} is not a whole zip file ({error}); nothing was restored") from None


# --- Dokploy's restore, a tRPC subscription over its websocket ---------------------------------------------------

def websocket_frame(text):
    payload, mask = text.encode(), os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


def read_exactly(stream, count):
    data = stream.read(count)
    if len(data) != count:
        raise Failed("Dokploy closed the restore's connection")
    return data


def websocket_messages(stream):
    """Text messages as they come; ends when Dokploy closes the connection."""
    while True:
        first, second = read_exactly(stream, 2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(read_exactly(stream, 2), "big")
        elif length == 127:
            length = int.from_bytes(read_exactly(stream, 8), "big")
        payload = read_exactly(stream, length)
        opcode = first & 0x0F
        if opcode == 0x8:
            return
        if opcode == 0x1:
            yield payload.decode("utf-8", "replace")


def restore_with_logs(dokploy, destination_id, key):
    """backup.restoreBackupWithLogs (web-server) over /drawer-logs; Dokploy's log lines go to ours."""
    url = urllib.parse.urlsplit(dokploy.url)
    connection = socket.create_connection((url.hostname, url.port or 80), timeout=LONG_REQUEST_SECONDS)
    with connection, connection.makefile("rb") as stream:
        handshake = (f"GET /drawer-logs HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
                     f"x-api-key: {dokploy.api_key}\r\n\r\n")
        connection.sendall(handshake.encode())
        status = stream.readline().decode("latin-1").strip()
        while stream.readline() not in (b"\r\n", b""):
            pass
        if " 101 " not in status + " ":
            raise Failed(f"Dokploy refused the restore's websocket: {status}")
        request = {"id": 1, "jsonrpc": "2.0", "method": "subscription", "params": {
            "path": "backup.restoreBackupWithLogs", "input": {"json": {
                "databaseId": "", "databaseType": "web-server", "backupType": "database", "databaseName": "dokploy",
                "backupFile": key, "destinationId": destination_id}}}}
        connection.sendall(websocket_frame(json.dumps(request)))
        last, completed = None, False
        for text in websocket_messages(stream):
            message = json.loads(text) if text.startswith("{") else {}
            if "error" in message:
                raise Failed(f"restoreBackupWithLogs: {reconciler.one_line(message['error'])}")
            result = message.get("result") or {}
            if result.get("type") == "data":
                last = str((result.get("data") or {}).get("json", ""))
                log(f"Dokploy: {reconciler.one_line(last)}")
                # Its cleanup logs a line after this one; an error after it would start with "Error:".
                completed = (completed or last == RESTORED) and not last.startswith("Error:")
            elif result.get("type") == "stopped":
                break
    if not completed:
        raise Failed(f"Dokploy's restore did not finish: {reconciler.one_line(last)}")


# --- commands ----------------------------------------------------------------------------------------------------

def configure(config, _arguments):
    dokploy = dokploy_client(config)
    ensure_schedule(dokploy, config, ensure_destination(dokploy, config))


def run_now(config, _arguments):
    dokploy = dokploy_client(config)
    backup = our_backup(dokploy, config)
    dokploy = reconciler.Dokploy(dokploy.url, dokploy.api_key, LONG_REQUEST_SECONDS)
    log("running Dokploy's web-server backup")
    call(dokploy, "backup.manualBackupWebServer", {"backupId": backup["backupId"]})
    log("backup done")


def restore(config, arguments):
    if arguments.first_boot and not config["restoreAtFirstBoot"]:
        log("no restore at first boot (backups.restoreAtFirstBoot is false)")
        return NOTHING_TO_RESTORE
    dokploy = reconciler.Dokploy(config["dokploy_url"], dokploy_client(config).api_key, LONG_REQUEST_SECONDS)
    destination_id = ensure_destination(dokploy, config)
    files = backup_files(dokploy, destination_id)
    if not files:
        log(f"no Dokploy backup (webserver-backup-*.zip) in bucket {config['bucket']}: nothing to restore")
        return NOTHING_TO_RESTORE
    newest = files[0]
    log(f"checking the newest backup, {newest['path']} ({newest['size']} bytes)")
    check_backup(config, newest["path"])
    log(f"restoring {newest['path']} with Dokploy's restore (it replaces Dokploy's database and /etc/dokploy)")
    started = time.monotonic()
    restore_with_logs(dokploy, destination_id, newest["path"])
    log(f"restored {newest['path']} in {time.monotonic() - started:.0f}s")
    return 0


def status(config, _arguments):
    dokploy = dokploy_client(config)
    backup = our_backup(dokploy, config)
    runs = sorted(backup.get("deployments") or [], key=lambda run: run.get("createdAt") or "", reverse=True)
    files = backup_files(dokploy, backup["destinationId"])
    last = runs[0] if runs else {}
    print(json.dumps({"schedule": backup.get("schedule"), "keepLatestCount": backup.get("keepLatestCount"),
                      "lastRun": {"status": last.get("status"), "createdAt": last.get("createdAt"),
                                  "finishedAt": last.get("finishedAt")} if runs else None,
                      "latestFile": files[0] if files else None, "files": len(files),
                      "totalBytes": sum(entry["size"] or 0 for entry in files)}))


COMMANDS = {"configure": configure, "run": run_now, "restore": restore, "status": status}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("--first-boot", action="store_true",
                        help="restore: only with backups.restoreAtFirstBoot; backups off or that false exit 3 too")
    parser.add_argument("--config", default=CONFIG_FILE)
    arguments = parser.parse_args()
    config = load_config(arguments.config)
    if config is None:
        log("backups are off (node.json: no backups, or backups.enabled is false)")
        return NOTHING_TO_RESTORE if arguments.first_boot else 0
    try:
        return COMMANDS[arguments.command](config, arguments) or 0
    except Failed as error:
        log(f"{arguments.command} failed: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
