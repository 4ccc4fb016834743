/**
 * Hostile values for every prop rule (issue 17, class 7), through the constructs a user calls: each is refused at
 * synth time with an error naming the prop the user set, and the good values next to them pass. Keys come from
 * freshly generated key pairs (helpers/ssh-keys.ts), encoded independently of the validator.
 */
import { TerraformStack, Testing } from "cdktf";
import { ClusterNetwork } from "../../constructs/oci/cluster-network";
import { DokployCluster, DokployClusterProps } from "../../constructs/oci/dokploy-cluster";
import { SshProxy } from "../../constructs/docker/ssh-proxy";
import { TailscaleSidecar } from "../../constructs/docker/tailscale-sidecar";
import { parseCidr } from "../../lib/cidr";
import { DOKPLOY_VERSION, INSTALLER_URL, NAME_PREFIX, checkSshPublicKey } from "../../lib/rules";
import { ACCEPTED_EMAILS, REFUSED_EMAILS } from "../helpers/email-addresses";
import { openSshPublicKey } from "../helpers/ssh-keys";

const ED25519 = openSshPublicKey("ed25519", "me@laptop");
const RSA = openSshPublicKey("rsa-2048", "me@laptop");
const ECDSA = openSshPublicKey("ecdsa-256");
const [, ED_BODY] = ED25519.split(" ");
const [, RSA_BODY] = RSA.split(" ");

const BASE: DokployClusterProps = { compartmentId: "c", sshPublicKeys: [ED25519], adminEmail: "a@example.com" };
function cluster(props: Partial<DokployClusterProps>): void {
  const stack = new TerraformStack(Testing.app(), "rules");
  new DokployCluster(stack, "Cluster", { ...BASE, ...props });
  Testing.synth(stack);
}

describe("adminEmail: an address Dokploy's sign-up accepts, with nothing a shell or a template reads", () => {
  test.each(ACCEPTED_EMAILS)("%s is accepted", (_what, email) => {
    expect(() => cluster({ adminEmail: email })).not.toThrow();
  });

  test.each(REFUSED_EMAILS)("%s is refused, naming adminEmail", (_what, email) => {
    expect(() => cluster({ adminEmail: email })).toThrow(/^adminEmail: ".*" is not allowed; use an email address such as admin@example.com/s);
  });

  test("the refusal shows control characters escaped", () => {
    expect(() => cluster({ adminEmail: "\u001b[31ma@example.com" })).toThrow(/^adminEmail: "\\u001b\[31ma@example.com"/);
  });
});

describe("SSH public keys: a whole key line, whose body decodes and names its own type", () => {
  test.each([
    ["ed25519", ED25519],
    ["rsa", RSA],
    ["ecdsa", ECDSA],
    ["ed25519 without a comment", ED25519.split(" ").slice(0, 2).join(" ")],
    ["ed25519 with surrounding spaces", `  ${ED25519}  `],
  ])("%s is accepted", (_name, key) => {
    expect(() => cluster({ sshPublicKeys: [key] })).not.toThrow();
  });

  test.each([
    ["the type alone", "ssh-ed25519"],
    ["the type and a space", "ssh-ed25519 "],
    ["a prefix only", "ssh-ed25519 AAAA"],
    ["the type's own header only", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"],
    ["a body cut short", `ssh-ed25519 ${ED_BODY.slice(0, 60)}`],
    ["a body one group too long", `ssh-ed25519 ${ED_BODY}AAAA`],
    ["characters outside base64", `ssh-ed25519 ${ED_BODY.slice(0, 64)}!!!!`],
    ["an rsa body under the ed25519 type", `ssh-ed25519 ${RSA_BODY}`],
    ["an ed25519 body under the rsa type", `ssh-rsa ${ED_BODY}`],
    ["an rsa body cut to its header", `ssh-rsa ${RSA_BODY.slice(0, 16)}`],
    ["padding in the middle", `ssh-rsa ${RSA_BODY.slice(0, 20)}==${RSA_BODY.slice(22)}`],
    ["DSA, which OpenSSH no longer accepts", `ssh-dss ${ED_BODY}`],
    ["a second key smuggled after a newline", `${ED25519}\nssh-ed25519 ${ED_BODY} attacker`],
    ["a comment with a carriage return", `${ED25519}\rcommand="sh"`],
    ["an options prefix", `command="id" ${ED25519}`],
    ["an empty string", ""],
  ])("%s is refused naming sshPublicKeys[0]", (_name, key) => {
    expect(() => cluster({ sshPublicKeys: [key] })).toThrow(/^sshPublicKeys\[0\]: not an OpenSSH public key/);
  });

  test("the second key is named by its index", () => {
    expect(() => cluster({ sshPublicKeys: [ED25519, "ssh-ed25519 AAAA"] })).toThrow(/^sshPublicKeys\[1\]: /);
    expect(() => checkSshPublicKey(42 as unknown as string, "key")).toThrow(/key: not an OpenSSH public key \(not text\)/);
  });
});

describe("namePrefix: a DNS label's characters, nothing Terraform reads as a template", () => {
  test.each(["a", "acme", "my-prefix1", "a".repeat(21)])("%j is accepted", (namePrefix) => {
    expect(() => cluster({ namePrefix })).not.toThrow();
    expect(NAME_PREFIX.test(namePrefix)).toBe(true);
  });
  test.each(["", "A", "Acme", "1abc", "-ab", "abc-", "a".repeat(22), "a${var.x}", "a%{if true}x%{endif}", "a b", "a\nb", "ab_c", "a.b", "äb", "a/b", "a\"b"])(
    "%j is refused naming namePrefix",
    (namePrefix) => {
      expect(() => cluster({ namePrefix })).toThrow(/^namePrefix: .* is not allowed; use 1 to 21 lowercase letters/);
    },
  );
  test("a worker pool's namePrefix follows the same rule", () => {
    const stack = new TerraformStack(Testing.app(), "pool-prefix");
    const c = new DokployCluster(stack, "Cluster", BASE);
    expect(() => c.addWorkerPool("Bad", { namePrefix: "x${y}", count: 0 })).toThrow(/^namePrefix: "x\$\{y\}" is not allowed/);
  });
});

describe("installer URLs: https only, nothing a shell or Terraform would read", () => {
  const good = ["https://dokploy.com/install.sh", "https://mirror.example.com:8443/a/b.sh?x=1&y=2", "https://10.0.0.5/install.sh"];
  const bad = [
    "http://dokploy.com/install.sh",
    "HTTPS://dokploy.com/install.sh",
    "ftp://dokploy.com/install.sh",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "https://",
    "https:// dokploy.com",
    " https://dokploy.com/install.sh",
    "https://dokploy.com/install.sh\n",
    "https://dokploy.com/$(id)",
    "https://dokploy.com/`id`",
    'https://dokploy.com/"x',
    "https://dokploy.com/${var.x}",
    "https://dokploy.com/%{x}",
    "https://-bad-.com/x",
    "https://dokploy.com/a b",
    "//dokploy.com/install.sh",
  ];
  test.each(good)("%j is accepted", (url) => {
    expect(() => cluster({ dokployInstallerUrl: url })).not.toThrow();
  });
  test.each(bad)("%j is refused for the manager, naming dokployInstallerUrl", (url) => {
    expect(() => cluster({ dokployInstallerUrl: url })).toThrow(/^dokployInstallerUrl: .* is not allowed; use an https:\/\/ URL/);
    expect(INSTALLER_URL.test(url)).toBe(false);
  });
  test.each(bad)("%j is refused for the workers' Docker installer and Tailscale's", (url) => {
    const stack = new TerraformStack(Testing.app(), "urls");
    const c = new DokployCluster(stack, "Cluster", BASE);
    expect(() => c.addWorkerPool("More", { namePrefix: "more", count: 0, dockerInstallerUrl: url })).toThrow(/^dockerInstallerUrl: /);
    const { TerraformVariable } = require("cdktf");
    const key = new TerraformVariable(stack, "k", { type: "string", sensitive: true }).stringValue;
    expect(() => c.addWorkerPool("Ts", { namePrefix: "ts", count: 0, tailscale: { authKey: key, installerUrl: url } })).toThrow(/^tailscale\.installerUrl: /);
  });
});

describe("dokployVersion: latest, canary or a release tag (the image tags Dokploy publishes)", () => {
  test.each(["latest", "canary", "v0.30.2", "v1.0.0", "v0.25.3"])("%j is accepted", (dokployVersion) => {
    expect(() => cluster({ dokployVersion })).not.toThrow();
  });
  test.each(["", "0.30.2", "v0.30", "v0.30.2-rc1", "v0.30.2; rm -rf /", "v0.30.2\n", "latest ", "LATEST", "feature", "../../etc", "${var.v}", "v0.30.2 ", "v00000.1.2"])(
    "%j is refused naming dokployVersion",
    (dokployVersion) => {
      expect(() => cluster({ dokployVersion })).toThrow(/^dokployVersion: .* is not allowed; use latest, canary or a release tag/);
      expect(DOKPLOY_VERSION.test(dokployVersion)).toBe(false);
    },
  );
});

describe("CIDR blocks: strict octets, no leading zeros, no host bits", () => {
  test.each(["0.0.0.0/0", "10.0.0.0/8", "203.0.113.7/32", "198.51.100.0/24", "255.255.255.255/32"])("%j is accepted", (cidr) => {
    expect(() => cluster({ adminCidrs: [cidr] })).not.toThrow();
  });
  test.each([
    ["010.0.0.0/8", /not an IPv4 CIDR block/],
    ["10.00.0.0/16", /not an IPv4 CIDR block/],
    ["10.0.0.0/08", /not an IPv4 CIDR block/],
    ["1.2.3.4/33", /not an IPv4 CIDR block/],
    ["256.0.0.0/8", /not an IPv4 CIDR block/],
    ["10.0.0.0", /not an IPv4 CIDR block/],
    ["10.0.0.0/-1", /not an IPv4 CIDR block/],
    [" 10.0.0.0/8", /not an IPv4 CIDR block/],
    ["10.0.0.0/8\n", /not an IPv4 CIDR block/],
    ["10.0.0.0/8,10.1.0.0/16", /not an IPv4 CIDR block/],
    ["１0.0.0.0/8", /not an IPv4 CIDR block/],
    ["10.0.0.1/24", /has host bits set; the network address is 10\.0\.0\.0\/24/],
    ["203.0.113.7/24", /has host bits set/],
  ])("%j is refused naming adminCidrs[0]", (cidr, message) => {
    expect(() => cluster({ adminCidrs: [cidr] })).toThrow(new RegExp(`^adminCidrs\\[0\\]: .*${message.source}`));
  });
  test.each([["vcnCidr", "010.0.0.0/16"], ["subnetCidr", "10.0.0.01/24"], ["swarmAddressPool", "10.20.0.1/16"]] as const)("%s %j is refused naming it", (prop, value) => {
    expect(() => cluster({ [prop]: value })).toThrow(new RegExp(`^${prop}: `));
  });
  test("parseCidr refuses what is not text", () => {
    expect(() => parseCidr(undefined as unknown as string, "cidr")).toThrow(/^cidr: "undefined" is not an IPv4 CIDR block/);
  });
});

describe("numbers: finite, in range, named as the user wrote them", () => {
  test.each([
    [{ workerCount: NaN }, /^workerCount: NaN is out of range/],
    [{ workerCount: Infinity }, /^workerCount: Infinity is out of range/],
    [{ workerCount: 1.5 }, /^workerCount: 1\.5 is out of range; use a whole number of workers/],
    [{ workerCount: 101 }, /^workerCount: 101 is out of range/],
    [{ ocpusPerNode: NaN }, /^ocpusPerNode: NaN is out of range/],
    [{ ocpusPerNode: Infinity }, /^ocpusPerNode: Infinity is out of range/],
    [{ ocpusPerNode: 0 }, /^ocpusPerNode: 0 is out of range/],
    [{ memoryInGbsPerNode: Infinity }, /^memoryInGbsPerNode: Infinity is out of range/],
    [{ memoryInGbsPerNode: 0.5 }, /^memoryInGbsPerNode: 0\.5 is out of range/],
    [{ bootVolumeSizeInGbsPerNode: NaN }, /^bootVolumeSizeInGbsPerNode: NaN is out of range/],
    [{ bootVolumeSizeInGbsPerNode: 49 }, /^bootVolumeSizeInGbsPerNode: 49 is out of range/],
    [{ availabilityDomainIndex: NaN }, /^availabilityDomainIndex: NaN is out of range/],
    [{ availabilityDomainIndex: 3 }, /^availabilityDomainIndex: 3 is out of range/],
    [{ swarmAddressPoolMaskLength: NaN }, /^swarmAddressPoolMaskLength: NaN is out of range/],
    [{ managerHostNumber: NaN }, /^hostNumber: host number NaN is outside/],
    [{ tokenServerTtlInSeconds: 59 }, /^tokenServerTtlInSeconds: 59 is out of range; use a whole number of seconds from 60 to 604800/],
    [{ tokenServerTtlInSeconds: 604801 }, /^tokenServerTtlInSeconds: 604801 is out of range/],
    [{ tokenServerTtlInSeconds: 1e12 }, /^tokenServerTtlInSeconds: 1000000000000 is out of range/],
    [{ tokenServerTtlInSeconds: Infinity }, /^tokenServerTtlInSeconds: Infinity is out of range/],
    [{ tokenServerTtlInSeconds: NaN }, /^tokenServerTtlInSeconds: NaN is out of range/],
    [{ tokenServerTtlInSeconds: 3600.5 }, /^tokenServerTtlInSeconds: 3600\.5 is out of range/],
    [{ budget: { ocpus: Infinity } }, /^budget\.ocpus: Infinity is out of range/],
    [{ budget: { memoryInGbs: NaN } }, /^budget\.memoryInGbs: NaN is out of range/],
    [{ budget: { bootVolumeInGbs: -1 } }, /^budget\.bootVolumeInGbs: -1 is out of range/],
  ])("%p is refused", (props, message) => {
    expect(() => cluster(props as Partial<DokployClusterProps>)).toThrow(message);
  });

  test("a worker pool's own count names count; the cluster's names workerCount", () => {
    const stack = new TerraformStack(Testing.app(), "count");
    const c = new DokployCluster(stack, "Cluster", BASE);
    expect(() => c.addWorkerPool("More", { namePrefix: "more", count: Infinity })).toThrow(/^count: Infinity is out of range/);
    expect(() => c.addWorkerPool("Big", { namePrefix: "big", count: 0, ocpus: NaN, alwaysFree: false })).toThrow(/^ocpus: NaN is out of range/);
    expect(() => c.addWorkerPool("Slow", { namePrefix: "slow", count: 0, joinMaxDelayInSeconds: Infinity })).toThrow(/^joinMaxDelayInSeconds: Infinity is out of range/);
  });

  test("limits of the swarm-side constructs", () => {
    const stack = () => new TerraformStack(Testing.app(), "docker");
    const proxy = (props: object) => SshProxy.nextcloud(stack(), "Proxy", { targetService: "nextcloud", authorizedKeys: [ED25519], ...props });
    expect(() => proxy({ memoryLimitInMib: Infinity })).toThrow(/^memoryLimitInMib: Infinity is out of range/);
    expect(() => proxy({ cpuLimit: Infinity })).toThrow(/^cpuLimit: Infinity is out of range/);
    expect(() => proxy({ cpuLimit: NaN })).toThrow(/^cpuLimit: NaN is out of range/);
    expect(() => proxy({ port: NaN })).toThrow(/^port: NaN is not a port number/);
    const { TerraformVariable } = require("cdktf");
    const sidecar = (props: object) => {
      const s = stack();
      return new TailscaleSidecar(s, "Ts", { authKey: new TerraformVariable(s, "k", { type: "string", sensitive: true }).stringValue, hostname: "web", ...props });
    };
    expect(() => sidecar({ joinTimeoutInSeconds: Infinity })).toThrow(/^joinTimeoutInSeconds: Infinity is out of range/);
    expect(() => sidecar({ joinTimeoutInSeconds: 86400 })).toThrow(/^joinTimeoutInSeconds: 86400 is out of range; use a whole number of seconds from 0 to 3600/);
  });

  describe("SshProxy placementConstraints: the swarm constraint grammar", () => {
    const proxy = (placementConstraints: string[]) =>
      SshProxy.nextcloud(new TerraformStack(Testing.app(), "docker"), "Proxy", { targetService: "nextcloud", authorizedKeys: [ED25519], placementConstraints });
    test.each(["node.role==manager", "node.role != worker", "node.labels.tier==edge", "engine.labels.operatingsystem==ubuntu-24.04", "node.hostname!=worker-1", "node.platform.arch==aarch64", "node.id==2ivku8v2gvtg4", "node.platform.os==linux"])(
      "%s is accepted",
      (constraint) => expect(() => proxy(["node.role==worker", constraint])).not.toThrow(),
    );
    test.each([
      "node.role==manager\nnode.role==worker",
      "node.role==manager ",
      "node.role = manager",
      "node.role===manager",
      "node.role",
      "==manager",
      "node.labels.==x",
      "node.name==x",
      "labels.tier==edge",
      "node.labels.tier==a b",
      "node.labels.tier==$(id)",
      "node.labels.tier==${x}",
      "node.role==manager;node.role==worker",
      "node.role==\u001b[2J",
      "",
    ])("%j is refused, naming the entry", (constraint) => {
      expect(() => proxy(["node.role==worker", constraint])).toThrow(/^placementConstraints\[1\]: .* is not allowed; use a constraint such as "node\.role==manager"/);
    });
  });

  test("the network's own props", () => {
    const network = (props: object) => new ClusterNetwork(new TerraformStack(Testing.app(), "net"), "Network", { compartmentId: "c", ...props });
    expect(() => network({ dnsLabel: "a-b" })).toThrow(/^dnsLabel: "a-b" is not allowed/);
    expect(() => network({ dnsLabel: "a".repeat(16) })).toThrow(/^dnsLabel: /);
    expect(() => network({ namePrefix: "x%{y}" })).toThrow(/^namePrefix: /);
  });
});
