/**
 * The host programs' mutation table: each row breaks the shipped text of templates/ on purpose, the way a careless
 * change would, and names the test that must notice. The row runs that test against a copy of the package holding
 * the broken text (sandbox/package-copy.ts) and passes only when the test fails there; a mutant that survives fails
 * its row. The control runs every named test on the unbroken copy first: each must pass there, so a row's failure
 * comes from its mutation and not from the copy.
 */
import { NamedTest, PackageCopy, TemplateEdit } from "../../sandbox/package-copy";
import { CHAIN_TEST_LIMIT_MS } from "../../sandbox/wait";

const MANAGER = "__tests__/behaviour/manager-bootstrap.test.ts";
const WORKER = "__tests__/behaviour/worker-bootstrap.test.ts";
const TOKEN_SERVER = "__tests__/behaviour/token-server.test.ts";
const TAILSCALE = "__tests__/behaviour/tailscale-up.test.ts";
const METADATA_GUARD = "__tests__/firewall/metadata-guard.test.ts";
const HOST_PORTS = "__tests__/firewall/host-ports.test.ts";
const MANAGER_REPLACED = "__tests__/lab/manager-replaced.test.ts";
const RELEASE = "__tests__/behaviour/host-release.test.ts";

interface Row {
  readonly mutant: string;
  readonly edit: TemplateEdit;
  readonly killedBy: NamedTest;
}

const TABLE: Row[] = [
  {
    mutant: "the manager bootstrap without errexit",
    edit: { file: "manager/bootstrap.sh", find: "set -Eeuo pipefail\n", replace: "" },
    killedBy: { file: MANAGER, name: "manager bootstrap a command that fails where nothing expects it (the SSH key's folder is a file) stops the run in that step, unmarked" },
  },
  {
    mutant: "the worker bootstrap without errexit",
    edit: { file: "worker/bootstrap.sh", find: "set -Eeuo pipefail\n", replace: "" },
    killedBy: { file: WORKER, name: "worker bootstrap a command that fails where nothing expects it (root's .ssh is a file) stops the setup there: logged, no marker" },
  },
  {
    mutant: "the worker skips the join-address check",
    edit: { file: "worker/bootstrap.sh", find: 'if [[ ${BASH_REMATCH[2]} != "$MANAGER_ADDRESS" ]]; then', replace: "if false; then" },
    killedBy: { file: WORKER, name: "worker bootstrap a well-formed join command naming another manager is refused: the worker joins only its own cluster's" },
  },
  {
    mutant: "harden.sh skips the metadata guard",
    edit: { file: "common/harden.sh", find: "guard_metadata() {\n", replace: "guard_metadata() {\n  return 0\n" },
    killedBy: { file: METADATA_GUARD, name: "after the guard: root services of the host still read it; unprivileged users and containers are refused" },
  },
  {
    mutant: "harden.sh appends host ports after the image's REJECT",
    edit: { file: "common/harden.sh", find: 'iptables -w -I INPUT "$position" "${rule[@]}"', replace: 'iptables -w -A INPUT "${rule[@]}"' },
    killedBy: { file: HOST_PORTS, name: "a port open to everyone lets the outside in; one open to the subnet or not listed still refuses it" },
  },
  {
    mutant: "the API key is created without rateLimitEnabled: false",
    edit: { file: "manager/dokploy-setup.py", find: ', "rateLimitEnabled": False}', replace: "}" },
    killedBy: { file: MANAGER, name: "manager bootstrap fresh run: installs, publishes the worker join command, sets Dokploy up, saves credentials" },
  },
  {
    mutant: "a second sign-up's 422 is not recognised by its code",
    edit: { file: "manager/dokploy-setup.py", find: "refused.error.code == USER_EXISTS", replace: 'refused.error.code == "USER_EXISTS"' },
    killedBy: { file: MANAGER, name: "manager bootstrap admin already signed up (answer lost): the 422 for the same email counts as done and the run signs in" },
  },
  {
    mutant: "a finished step leaves no marker",
    edit: { file: "common/host-lib.sh", find: 'then touch "$done_file"; fi', replace: "then :; fi" },
    killedBy: { file: MANAGER, name: "manager bootstrap a re-run that only lacks the marker checks the saved key and creates nothing" },
  },
  {
    mutant: "the token server's TTL comparison inverted",
    edit: { file: "manager/token-server.py", find: 'now - entry["openedAt"] >= self.ttl_seconds', replace: 'now - entry["openedAt"] < self.ttl_seconds' },
    killedBy: { file: TOKEN_SERVER, name: "each worker's window ends after ttlSeconds, and a restart does not reopen it; a newly expected worker gets its own" },
  },
  {
    mutant: "the token server skips the credential check",
    edit: { file: "manager/token-server.py", find: "if not hmac.compare_digest(", replace: "if False and not hmac.compare_digest(" },
    killedBy: { file: TOKEN_SERVER, name: "answers 401 alike for no name, a missing or wrong credential, another worker's credential; /healthz without auth" },
  },
  {
    mutant: "the worker's rejoin check leaves its swarm whenever it is offered a token",
    edit: { file: "worker/bootstrap.sh", find: '    if [[ $(swarm_digest) == "$digest" ]]; then', replace: "    if false; then" },
    killedBy: { file: MANAGER_REPLACED, name: "workers of a recreated manager's old swarm move to its new swarm by their rejoin check, registered once; a check in a healthy cluster changes nothing" },
  },
  {
    mutant: "tailscale-up.sh ignores enabled: false",
    edit: { file: "common/tailscale-up.sh", find: "config_read TAILSCALE_ENABLED tailscale.enabled true", replace: "TAILSCALE_ENABLED=true" },
    killedBy: { file: TAILSCALE, name: "tailscale-up.sh enabled: false (the ORM form left the key empty): exits 0 at once, installs nothing, runs no `up`" },
  },
  {
    mutant: "the loader takes any sha256 release.conf gives",
    edit: { file: "common/loader.sh", find: "[sha256]='[0-9a-f]{64}'", replace: "[sha256]='.*'" },
    killedBy: { file: RELEASE, name: "release.conf, what the loader reads sha256 in capitals: refused in the role's setup log, exit 1, nothing fetched" },
  },
];

let copy: PackageCopy;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error("the mutation table runs the firewall tests, which need root");
  copy = new PackageCopy();
});

afterAll(() => copy?.dispose());

test(
  "control: every named test passes on the unbroken text",
  () => {
    const outcomes = copy.run([...new Set(TABLE.map((row) => row.killedBy.file))], TABLE.map((row) => row.killedBy.name));
    for (const { killedBy } of TABLE) expect({ ...killedBy, ...outcomes.get(killedBy.name) }).toEqual({ ...killedBy, status: "passed", message: "" });
  },
  CHAIN_TEST_LIMIT_MS,
);

test.each(TABLE)(
  "$mutant: killed by $killedBy.name",
  ({ edit, killedBy }) => {
    copy.mutate([edit]);
    const outcome = copy.run(killedBy.file, [killedBy.name]).get(killedBy.name);
    copy.restore();
    expect(outcome?.status).toBe("failed");
  },
  CHAIN_TEST_LIMIT_MS,
);
