/**
 * constructs/oci/token-server.ts on its own, beside a stand-in network that records what it is asked to open:
 * defaults, limits and their messages, the worker pools it expects, and node.json's `tokenServer`. Expected values
 * are written out.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { IClusterNetwork, IngressRule } from "../../constructs/oci/cluster-network";
import { TokenServer, TokenServerProps } from "../../constructs/oci/token-server";

const SECRET = "s".repeat(40);
function server(props: Partial<TokenServerProps> = {}) {
  const stack = new TerraformStack(Testing.app(), "token-server");
  const opened: IngressRule[] = [];
  const network = { allowIngress: (rule: IngressRule) => opened.push(rule) } as unknown as IClusterNetwork;
  const resolve = (value: unknown) => Tokenization.resolve(value, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
  const tokenServer = new TokenServer(stack, "TokenServer", { network, privateIp: "10.0.0.10", secret: SECRET, ...props });
  return { stack, tokenServer, opened, resolve };
}

test("defaults: port 9999, six hours, the manager's address; workers may reach the port", () => {
  const { tokenServer, opened } = server();
  expect(tokenServer.port).toBe(9999);
  expect(tokenServer.ttlInSeconds).toBe(21600);
  expect(tokenServer.url).toBe("http://10.0.0.10:9999");
  expect(tokenServer.managerAddress).toBe("10.0.0.10");
  expect(opened).toEqual([{ role: "manager", protocol: "tcp", port: 9999, from: "workers", description: "Dokploy token server (workers fetch the join command)" }]);
  expect(tokenServer.hostConfig()).toEqual({ bindAddress: "10.0.0.10", port: 9999, secret: SECRET, stateDir: "/var/lib/dokploy-oci/token-server", ttlSeconds: 21600 });
});

test("given port and window", () => {
  const { tokenServer, opened } = server({ port: 1024, ttlInSeconds: 60 });
  expect(tokenServer.url).toBe("http://10.0.0.10:1024");
  expect(opened[0].port).toBe(1024);
  expect(tokenServer.hostConfig()).toMatchObject({ port: 1024, ttlSeconds: 60 });
  expect(() => server({ ttlInSeconds: 604800 })).not.toThrow();
});

test("limits, each naming the prop the user wrote", () => {
  expect(() => server({ port: 1023 })).toThrow("tokenServerPort: 1023 is not a port number (a whole number from 1024 to 65535; the server runs without privileges)");
  expect(() => server({ ttlInSeconds: 59 })).toThrow("tokenServerTtlInSeconds: 59 is out of range; use a whole number of seconds from 60 to 604800");
  expect(() => server({ ttlInSeconds: 604801 })).toThrow("tokenServerTtlInSeconds: 604801 is out of range");
  expect(() => server({ privateIp: "10.0.0.256" })).toThrow('privateIp: "10.0.0.256" is not allowed; use an IPv4 address such as "10.0.0.10"');
  expect(() => server({ secret: "short" })).toThrow("tokenServerSecret: the secret must be at least 32 characters (got 5)");
});

test("the secret travels in an HTTP header: printable ASCII without spaces; a Terraform value is not checked here", () => {
  expect(() => server({ secret: `${"a".repeat(39)} ` })).toThrow("tokenServerSecret: use printable ASCII characters without spaces (it travels in an HTTP header)");
  expect(() => server({ secret: `${"a".repeat(39)}é` })).toThrow("tokenServerSecret: use printable ASCII");
  expect(() => server({ secret: `\n${"a".repeat(39)}` })).toThrow("tokenServerSecret: use printable ASCII");
  expect(() => server({ secret: `!~${"a".repeat(38)}` })).not.toThrow();
  const stack = new TerraformStack(Testing.app(), "secret");
  const secret = new TerraformVariable(stack, "secret", { type: "string", sensitive: true }).stringValue;
  expect(() => server({ secret })).not.toThrow();
});

test("no secret given: a generated one (a sensitive Terraform value)", () => {
  const { tokenServer, resolve } = server({ secret: undefined });
  expect(resolve(tokenServer.secret)).toMatch(/^\$\{random_password\.TokenServer_Secret_[0-9A-F]+\.result\}$/);
});

test("worker pools: each name once, in order, while they fit the manager's tag", () => {
  const { tokenServer } = server();
  tokenServer.expectWorkerPool("worker", 2);
  tokenServer.expectWorkerPool("gpu", 1);
  expect(tokenServer.workerPools).toEqual([
    { namePrefix: "worker", count: 2 },
    { namePrefix: "gpu", count: 1 },
  ]);
  expect(() => tokenServer.expectWorkerPool("worker", 1)).toThrow('namePrefix: a worker pool named "worker" already exists in this cluster; give each pool its own namePrefix');
  // At the longest, each pool takes its name, ":100" and a comma of the tag's 256 characters: 23 pools of 6-letter
  // names take 23 * 10 + 22 = 252, a 24th would need 263.
  const { tokenServer: crowded } = server();
  const names = Array.from({ length: 24 }, (_, index) => `pool${String(index).padStart(2, "0")}`);
  names.slice(0, 23).forEach((name) => crowded.expectWorkerPool(name, 1));
  expect(() => crowded.expectWorkerPool(names[23], 1)).toThrow(/^addWorkerPool: 24 worker pools \(pool00, .*pool23\) do not fit/);
  expect(crowded.workerPools).toHaveLength(23);
});
