#!/usr/bin/env python3
"""The manager's Dokploy API steps, one per subcommand, run by the manager bootstrap (which keeps their order and
their markers): wait for Dokploy, create the admin, sign in, make and check the API key, register the workers' SSH
key, save and publish the credentials."""
# Dokploy's client is the reconciler's (register-workers.py, installed beside this program). Every request that gets
# no answer or a 5xx is retried here, with the delays of node.json's dokploy.wait; any other answer is decided by its
# status and, where Dokploy gives one, its error code. A create is never sent twice blindly: before sending it again
# after a lost answer, the step looks for what the first one made (create()).
# Secrets (the admin password, the API key, the private key, the session cookie) come from 0600 files and go to 0600
# files or to Dokploy: never to the output or a command line. The session made by sign-in or sign-up lives in a 0600
# cookie file between steps; the bootstrap deletes it when the API steps are over.
# Output: one line per event on stdout, which the bootstrap timestamps into its log; a failed step prints one
# "ERROR: " line and exits 1. Paths and node.json keys: docs/host-contract.md.
import argparse
import importlib.util
import json
import os
import re
import sys
import time

ROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")
CONFIG_FILE = ROOT + "/etc/dokploy-oci/node.json"
STATE_ROOT = ROOT + "/var/lib/dokploy-oci"
COOKIE_JAR = STATE_ROOT + "/dokploy-session.cookies"
# Holds the id of the API key this program created to replace a rejected one (see check_api_key).
KEY_REPLACED_FILE = STATE_ROOT + "/api-key-replaced"
SSH_KEY = ROOT + "/etc/dokploy-oci/ssh/dokploy_ed25519"
# Attempts for a request that gets no answer or a 5xx; the delays between them follow dokploy.wait.
API_ATTEMPTS = 8
# Seconds one request may take. Sign-up awaits Dokploy's public-IP lookup, which takes minutes without a reply
# (measured on v0.30.2: 143 s with no route); a sign-up cut short still creates the admin (see admin).
REQUEST_MAX_SECONDS = 60
SIGN_UP_MAX_SECONDS = 300
HEALTH_MAX_SECONDS = 20
# The port of Dokploy's dashboard on the manager's addresses (its installer publishes it in host mode).
DASHBOARD_PORT = 3000
# What better-auth answers (422) a sign-up for an email that already signed up.
USER_EXISTS = "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
# Dokploy's sign-up hook refuses a second owner with 400 and this message only (no code, v0.30.2 auth.ts).
ADMIN_EXISTS = "Admin is already created"
CREDENTIALS_WANTED = ["admin_email", "api_key", "api_key_id", "organization_id", "ssh_key_id", "ssh_public_key",
                      "dashboard_url"]



def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BIN = os.path.dirname(os.path.abspath(__file__))
# The reconciler's Dokploy client, installed beside this program, and the node.json reader of the host library.
reconciler = _load("register_workers", os.path.join(_BIN, "register-workers.py"))
node_config = _load("node_config", os.path.join(_BIN, "..", "lib", "node-config.py"))
CREDENTIALS_FILE = reconciler.CREDENTIALS_FILE


class Failed(Exception):
    """Stops the step: printed as its ERROR line."""


class Refused(Failed):
    """Dokploy answered a request with a refusal (a status below 500): error is its ApiError."""

    def __init__(self, what, error):
        super().__init__(f"{what} failed: {describe(error)}")
        self.error = error


class NotYet(Exception):
    """One attempt of retry() that did not succeed; the message says what it saw."""


def log(message):
    print(message, flush=True)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_private(path, text):
    """Writes text to path (0600), replacing it atomically: readers never see half a file."""
    temporary = path + ".tmp"
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def saved_credentials():
    return read_json(CREDENTIALS_FILE) if os.path.exists(CREDENTIALS_FILE) else {}


def update_credentials(values):
    write_private(CREDENTIALS_FILE, json.dumps({**saved_credentials(), **values}, indent=2) + "\n")


def describe(error):
    return str(error) if error.status is None else f"HTTP {error.status}: {error}"


def answered(error):
    """Whether Dokploy decided (any status but a 5xx): retrying would get the same answer."""
    return error.status is not None and error.status < 500


class Setup:
    def __init__(self):
        try:
            config = node_config.load(CONFIG_FILE)
            self.value = lambda key: node_config.value(config, key, CONFIG_FILE)
            self.url = str(self.value("dokploy.url")).rstrip("/")
            self.email, self.api_key_name = self.value("dokploy.adminEmail"), self.value("dokploy.apiKeyName")
            self.ssh_key_name = self.value("dokploy.sshKeyName")
            self.private_ip, self.state_dir = self.value("privateIp"), ROOT + self.value("tokenServer.stateDir")
            self.step, self.max_delay = self.number("dokploy.wait.stepSeconds"), self.number("dokploy.wait.maxDelaySeconds")
            self.wait_attempts = self.value("dokploy.wait.maxAttempts")
        except node_config.ConfigError as error:
            raise Failed(str(error)) from None
        if isinstance(self.wait_attempts, bool) or not isinstance(self.wait_attempts, int) or self.wait_attempts < 1:
            raise Failed("dokploy.wait.maxAttempts must be a positive integer")
        cookie = open(COOKIE_JAR, encoding="utf-8").read().strip() if os.path.exists(COOKIE_JAR) else None
        self.session = reconciler.Dokploy(self.url, None, REQUEST_MAX_SECONDS, cookie=cookie)

    def number(self, key):
        found = self.value(key)
        if isinstance(found, bool) or not isinstance(found, (int, float)) or found < 0:
            raise Failed(f"{key} must be a number of seconds")
        return found

    def retry(self, attempts, what, attempt):
        """Runs attempt() until it returns without NotYet, attempts times at most, waiting a delay that grows by
        dokploy.wait.stepSeconds per failed attempt, capped at maxDelaySeconds."""
        number = 0
        while True:
            number += 1
            try:
                return attempt()
            except NotYet as note:
                if number >= attempts:
                    raise Failed(f"{what}: {note}; gave up after {attempts} attempts") from None
                delay = min(self.step * number, self.max_delay)
                log(f"{what}: {note}; attempt {number}/{attempts}, next in {delay:g}s")
                time.sleep(delay)

    def request(self, request_line, what, send):
        """send() retried while Dokploy gives no answer or a 5xx (logged with request_line); any other refusal
        raises Refused, named what."""
        def attempt():
            try:
                return send()
            except reconciler.ApiError as error:
                if answered(error):
                    raise Refused(what, error) from None
                raise NotYet(describe(error)) from None
        return self.retry(API_ATTEMPTS, request_line, attempt)

    def query(self, procedure, client=None):
        client = client or self.session
        return self.request(f"GET /api/trpc/{procedure}", procedure, lambda: client.query(procedure))

    def mutation(self, procedure, data):
        return self.request(f"POST /api/trpc/{procedure}", procedure, lambda: self.session.mutation(procedure, data))

    def create(self, procedure, data, find):
        """A create never sent twice blindly: an attempt whose answer is lost (no answer, a 5xx) may have been
        committed, so before the next attempt find() looks for what it made and returns it, or None."""
        sent = []

        def attempt():
            if sent:
                found = find()
                if found is not None:
                    return found
            sent.append(True)
            try:
                return self.session.mutation(procedure, data)
            except reconciler.ApiError as error:
                if answered(error):
                    raise Refused(procedure, error) from None
                raise NotYet(f"{describe(error)} (Dokploy may have created it: looked for first)") from None
        return self.retry(API_ATTEMPTS, procedure, attempt)

    def auth_body(self, action):
        body = {"email": self.email, "password": self.value("dokploy.adminPassword")}
        if action == "sign-up":
            body["name"] = self.value("dokploy.adminName")
        return body

    def sign(self, action, what, timeout):
        """Signs up or in; the session cookie is kept (0600) for the next steps."""
        cookie = self.request(f"POST /api/auth/{action}/email", what,
                              lambda: self.session.sign_in(action, self.auth_body(action), timeout))
        if cookie:
            write_private(COOKIE_JAR, cookie + "\n")
            self.session.cookie = cookie

    # --- steps -------------------------------------------------------------------------------------------------------

    def wait(self):
        log(f"waiting for Dokploy at {self.url}")
        # settings.health answers without auth once Dokploy serves its API.
        anonymous = reconciler.Dokploy(self.url, None, HEALTH_MAX_SECONDS)

        def healthy():
            try:
                anonymous.query("settings.health")
            except reconciler.ApiError as error:
                raise NotYet(f"not ready (HTTP {error.status or '000'})") from None
        self.retry(self.wait_attempts, f"Dokploy at {self.url}", healthy)
        log("Dokploy is up")

    def admin(self):
        try:
            self.sign("sign-up", f"sign-up of {self.email}", SIGN_UP_MAX_SECONDS)
        except Refused as refused:
            # 422: this email already signed up (better-auth checks that first), e.g. an earlier sign-up whose answer
            # was lost to a timeout or a reboot. 400: another admin exists. Either way the sign-in that follows decides.
            if refused.error.status == 422 and refused.error.code == USER_EXISTS:
                log(f"Dokploy already has a user {self.email} (an earlier sign-up finished): signing in instead")
                return
            if refused.error.status == 400 and str(refused.error) == ADMIN_EXISTS:
                log("Dokploy admin already exists")
                return
            raise
        log(f"Dokploy admin {self.email} created")

    def sign_in(self):
        self.sign("sign-in", f"sign-in as {self.email}", REQUEST_MAX_SECONDS)
        log(f"signed in to Dokploy as {self.email}")

    def organization(self):
        """The admin's organization id. organization.all is [] until sign-up's hook has created "My Organization"
        (after the public-IP lookup), so an empty list is checked again, a bounded number of times."""
        late = []

        def found():
            organizations = self.query("organization.all")
            if organizations:
                return organizations[0]["id"]
            late.append(True)
            raise NotYet("organization.all is empty: Dokploy's sign-up has not created it yet")
        organization_id = self.retry(self.wait_attempts, "the admin's organization", found)
        if late:
            log("the admin's organization exists now")
            # The session was opened before the organization existed and has no active organization: renew it.
            self.sign_in()
        return organization_id

    def create_api_key(self):
        """Creates an API key for the admin's organization and saves it (0600) the moment it exists.
        rateLimitEnabled: false, as Dokploy's own UI sends: otherwise better-auth allows 10 requests per 24 hours and
        then answers 401."""
        organization_id = self.organization()
        keep = saved_credentials().get("api_key_id")
        self.delete_orphan_api_keys(keep)
        key = {"name": self.api_key_name, "metadata": {"organizationId": organization_id}, "rateLimitEnabled": False}
        created = self.create("user.createApiKey", key, lambda: self.delete_orphan_api_keys(keep))
        update_credentials({"api_key": created["key"], "api_key_id": created["id"], "organization_id": organization_id})
        return organization_id

    def delete_orphan_api_keys(self, keep):
        """Deletes the admin's API keys named apiKeyName but the saved one: a create whose answer was lost, or a run
        stopped before saving it, leaves a key whose secret nobody has. Returns None: a key is never adopted."""
        for key in self.query("user.get")["user"]["apiKeys"]:
            if key["name"] == self.api_key_name and key["id"] != keep:
                self.mutation("user.deleteApiKey", {"apiKeyId": key["id"]})
                log(f"deleted API key {key['id']} named '{self.api_key_name}': an interrupted create made it and its "
                    "secret was never saved")
        return None

    def api_key(self):
        # The key is saved the moment it exists: a run interrupted after that must not create a second one.
        if saved_credentials().get("api_key"):
            log(f"API key already saved in {CREDENTIALS_FILE}; not creating another")
            return
        organization_id = self.create_api_key()
        log(f"API key '{self.api_key_name}' created (id {saved_credentials()['api_key_id']}) for organization "
            f"{organization_id}")

    def new_api_key(self):
        """After a restore: the restored database has the old manager's users and keys."""
        self.sign_in()
        self.create_api_key()

    def probe_api_key(self):
        """Dokploy's refusal of a read with the saved API key, or None when it answers."""
        with_key = reconciler.Dokploy(self.url, saved_credentials()["api_key"], REQUEST_MAX_SECONDS)
        try:
            self.query("organization.all", with_key)
        except Refused as refused:
            return refused.error
        return None

    def check_api_key(self):
        """A key saved by an older bootstrap (created without rateLimitEnabled: false) answers 401 after 10 requests.
        Such a key is replaced once: a new key is created and saved, the old one deleted. A key this program created
        as a replacement is never replaced again (that would loop once a minute): a 401 for it stops the run."""
        refusal = self.probe_api_key()
        if refusal is None:
            log("the saved API key works")
            return
        if refusal.status != 401:
            raise Failed(f"checking the saved API key failed: {describe(refusal)}")
        old_id = saved_credentials()["api_key_id"]
        if os.path.exists(KEY_REPLACED_FILE) and open(KEY_REPLACED_FILE, encoding="utf-8").read().strip() == old_id:
            raise Failed(f"the saved API key (id {old_id}, created by this script as a replacement) is rejected with "
                         f"HTTP 401; not replacing it again. Check Dokploy's API keys, then delete {KEY_REPLACED_FILE} "
                         "to allow one more replacement")
        log(f"the saved API key (id {old_id}) is rejected with HTTP 401 (rate-limited: created without "
            "rateLimitEnabled: false, or revoked); replacing it once")
        self.sign_in()
        self.create_api_key()
        new_id = saved_credentials()["api_key_id"]
        write_private(KEY_REPLACED_FILE, new_id + "\n")
        refusal = self.probe_api_key()
        if refusal is not None:
            raise Failed(f"the new API key is rejected too: {describe(refusal)}")
        self.mutation("user.deleteApiKey", {"apiKeyId": old_id})
        log(f"API key replaced: new id {new_id}, old key {old_id} deleted")

    def registered_ssh_key(self):
        """{"ssh_key_id", "ssh_public_key"} of the key named sshKeyName in Dokploy, or None."""
        for row in self.query("sshKey.all"):
            if row["name"] == self.ssh_key_name:
                return {"ssh_key_id": row["sshKeyId"], "ssh_public_key": row["publicKey"].strip()}
        return None

    def ssh_key_listed(self):
        """After a lost sshKey.create answer: the key it made, if Dokploy lists it, is ours (the name is this
        cluster's)."""
        registered = self.registered_ssh_key()
        if registered is not None:
            log(f"SSH key '{self.ssh_key_name}' is in Dokploy after all (the create's answer was lost): using it")
        return registered

    def ssh_key(self):
        registered = self.registered_ssh_key()
        if registered is not None:
            log(f"SSH key '{self.ssh_key_name}' already registered in Dokploy; not creating another")
        else:
            with open(SSH_KEY + ".pub", encoding="utf-8") as public, open(SSH_KEY, encoding="utf-8") as private:
                key = {"name": self.ssh_key_name, "description": "dokploy-oci: Dokploy's key to the swarm workers",
                       "publicKey": public.read().strip(), "privateKey": private.read(),
                       "organizationId": saved_credentials()["organization_id"]}
            # sshKey.create answers nothing: the id comes from listing the keys again.
            self.create("sshKey.create", key, self.ssh_key_listed)
            registered = self.registered_ssh_key()
            if registered is None:
                raise Failed(f"sshKey.create succeeded but sshKey.all lists no key named '{self.ssh_key_name}'")
            log(f"SSH key '{self.ssh_key_name}' registered in Dokploy")
        # The public key is taken from Dokploy, so it always matches the private key Dokploy holds.
        update_credentials(registered)

    def save_credentials(self):
        update_credentials({"admin_email": self.email, "dashboard_url": f"http://{self.private_ip}:{DASHBOARD_PORT}"})
        missing = [name for name in CREDENTIALS_WANTED if not saved_credentials().get(name)]
        if missing:
            raise Failed("credentials file lacks " + ", ".join(missing))
        log(f"credentials saved in {CREDENTIALS_FILE}")

    def publish_credentials(self):
        """What workers may read from the token server: the SSH key id and public key, nothing secret."""
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        saved = saved_credentials()
        write_private(os.path.join(self.state_dir, "credentials.json"),
                      json.dumps({"ssh_key_id": saved["ssh_key_id"], "public_key": saved["ssh_public_key"]}) + "\n")
        write_private(os.path.join(self.state_dir, "public-key"), saved["ssh_public_key"] + "\n")
        log("SSH key id and public key published for the token server")


def check_config(_):
    """Setup() has read every key the steps use: a node.json that lacks one stops the bootstrap before any step."""


STEPS = {"check-config": check_config, "wait": Setup.wait, "admin": Setup.admin, "sign-in": Setup.sign_in, "api-key": Setup.api_key,
         "new-api-key": Setup.new_api_key, "check-api-key": Setup.check_api_key, "ssh-key": Setup.ssh_key,
         "credentials": Setup.save_credentials, "publish-credentials": Setup.publish_credentials}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("step", choices=STEPS)
    step = STEPS[parser.parse_args().step]
    try:
        step(Setup())
    except Failed as error:
        log(f"ERROR: {error}")
        sys.exit(1)


if __name__ == "__main__":
    main()
