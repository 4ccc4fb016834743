import { TerraformOutput, TerraformStack, Testing } from "cdktf";
import { Container } from "@cdktf/provider-docker/lib/container";
import { Network } from "@cdktf/provider-docker/lib/network";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { DockerApiAccess, DockerSocketProxy, DockerSocketProxyProps } from "../../constructs/docker/docker-socket-proxy";
import { validateStack } from "../../scripts/lib/validate";

function synthProxy(props: DockerSocketProxyProps = {}, client?: (proxy: DockerSocketProxy, stack: TerraformStack) => void) {
  const stack = new TerraformStack(Testing.app(), "test");
  new DockerProvider(stack, "docker", {});
  const proxy = new DockerSocketProxy(stack, "SocketProxy", props);
  client?.(proxy, stack);
  const synthesized = Testing.synth(stack);
  return { proxy, synthesized, json: JSON.parse(synthesized) };
}

const containers = (json: any) => json.resource.docker_container;
const proxyContainer = (json: any) => containers(json)[Object.keys(containers(json)).find((name) => name.startsWith("SocketProxy"))!];
/** The container's env as a map. */
const flags = (json: any): Record<string, string> =>
  Object.fromEntries(proxyContainer(json).env.map((entry: string) => entry.split("=") as [string, string]));

const ALL_VARIABLES = [
  "POST", "EVENTS", "PING", "VERSION", "CONTAINERS", "EXEC", "ALLOW_START", "ALLOW_STOP", "ALLOW_RESTARTS", "AUTH",
  "BUILD", "COMMIT", "CONFIGS", "DISTRIBUTION", "GRPC", "IMAGES", "INFO", "NETWORKS", "NODES", "PLUGINS", "SECRETS",
  "SERVICES", "SESSION", "SWARM", "SYSTEM", "TASKS", "VOLUMES",
];

describe("DockerSocketProxy", () => {
  test("a pinned proxy image on an internal network, the socket mounted read-only, no published port", () => {
    const { json, synthesized } = synthProxy();
    expect(Object.values<any>(json.resource.docker_image)).toEqual([{ name: "tecnativa/docker-socket-proxy:0.3.0", keep_locally: true }]);
    expect(synthesized).toHaveResourceWithProperties(Network, { name: "docker-socket-proxy-net", driver: "bridge", internal: true });
    // attachable is an overlay's setting only.
    expect(Object.values<any>(json.resource.docker_network)).toEqual([{ name: "docker-socket-proxy-net", driver: "bridge", internal: true }]);
    const container = proxyContainer(json);
    expect(container).toMatchObject({
      name: "docker-socket-proxy",
      image: expect.stringMatching(/^\$\{docker_image\.SocketProxy_Image_\w+\.image_id\}$/),
      restart: "unless-stopped",
      mounts: [{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock", read_only: true }],
      networks_advanced: [{ name: expect.stringMatching(/^\$\{docker_network\.SocketProxy_Network_\w+\.name\}$/) }],
      security_opts: ["no-new-privileges:true"],
    });
    expect(container.ports).toBeUndefined();
    expect(container.publish_all_ports).toBeUndefined();
    expect(container.network_mode).toBeUndefined();
    expect(container.privileged).toBeUndefined();
  });

  test("by default every section is off except the image's own defaults: events, ping, version", () => {
    const { json, proxy } = synthProxy();
    expect(Object.keys(flags(json)).sort()).toEqual([...ALL_VARIABLES].sort());
    const on = Object.entries(flags(json)).filter(([, value]) => value === "1").map(([name]) => name);
    expect(on.sort()).toEqual(["EVENTS", "PING", "VERSION"]);
    expect(proxy.apiFlags).toEqual(flags(json));
  });

  test("granted sections become 1, the defaults can be turned off, everything else stays 0", () => {
    const { json } = synthProxy({ api: { containers: true, images: true, info: true, events: false, allowRestarts: true } });
    const on = Object.entries(flags(json)).filter(([, value]) => value === "1").map(([name]) => name);
    expect(on.sort()).toEqual(["ALLOW_RESTARTS", "CONTAINERS", "IMAGES", "INFO", "PING", "VERSION"]);
    expect(flags(json)).toMatchObject({ POST: "0", EXEC: "0", EVENTS: "0", SECRETS: "0", AUTH: "0" });
  });

  test("clients get DOCKER_HOST and the network as references, so they are created after the proxy", async () => {
    const { json } = synthProxy({}, (p, stack) => {
      new TerraformOutput(stack, "network_id", { value: p.networkId });
      new Container(stack, "Client", {
        name: "watcher",
        image: "example/watcher:1",
        env: [`DOCKER_HOST=${p.dockerHost}`],
        networksAdvanced: [{ name: p.networkName }],
      });
    });
    const client = containers(json)[Object.keys(containers(json)).find((name) => name.startsWith("Client"))!];
    expect(client.env).toEqual([expect.stringMatching(/^DOCKER_HOST=tcp:\/\/\$\{docker_container\.SocketProxy_\w+\.name\}:2375$/)]);
    expect(client.networks_advanced[0].name).toMatch(/^\$\{docker_network\.SocketProxy_Network_\w+\.name\}$/);
    expect(json.output.network_id.value).toMatch(/^\$\{docker_network\.SocketProxy_Network_\w+\.id\}$/);
    expect(await validateStack(json)).toEqual([]);
  });

  test("name, network name, an overlay network for swarm services, another socket path and image", () => {
    const { json, synthesized } = synthProxy({
      name: "api-proxy",
      networkName: "api-clients",
      networkDriver: "overlay",
      socketPath: "/run/user/1000/docker.sock",
      image: "tecnativa/docker-socket-proxy@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    });
    expect(synthesized).toHaveResourceWithProperties(Network, { name: "api-clients", driver: "overlay", internal: true, attachable: true });
    expect(proxyContainer(json).name).toBe("api-proxy");
    expect(proxyContainer(json).mounts[0]).toMatchObject({ source: "/run/user/1000/docker.sock", target: "/var/run/docker.sock" });
    expect(Object.values<any>(json.resource.docker_image)[0].name).toMatch(/@sha256:/);
  });

  test("synthesizes clean: every reference resolves, no stray template", async () => {
    const { json } = synthProxy({ api: { containers: true, exec: true, post: true }, acknowledgeHostRootRisk: true });
    expect(await validateStack(json)).toEqual([]);
  });
});

describe("DockerSocketProxy risk rules", () => {
  test.each<[string, DockerApiAccess, RegExp]>([
    ["containers + exec + post", { containers: true, exec: true, post: true }, /containers \+ post: clients can create and start a privileged container/],
    ["containers + post", { containers: true, post: true }, /containers \+ post: .*root on the host/],
    ["services + post", { services: true, post: true }, /services \+ post: .*bind-mounts \/ on any node/],
    ["plugins + post", { plugins: true, post: true }, /plugins \+ post: .*host privileges/],
    ["swarm", { swarm: true }, /swarm: GET \/swarm returns the manager join token/],
    ["secrets", { secrets: true }, /secrets: .*swarm secret/],
    ["auth", { auth: true }, /auth: .*security-critical/],
  ])("%s is refused without acknowledgeHostRootRisk, naming the props and the reason", (_, api, reason) => {
    const attempt = () => synthProxy({ api });
    expect(attempt).toThrow(reason);
    expect(attempt).toThrow(/^api: these grants hand the proxy's clients the host, the swarm or its secrets \(acknowledgeHostRootRisk is not set\)/);
    expect(attempt).toThrow(/set acknowledgeHostRootRisk: true if the clients must have them and only trusted containers join the proxy's network\.$/);
    expect(() => synthProxy({ api, acknowledgeHostRootRisk: false })).toThrow(reason);
  });

  test.each<[string, DockerApiAccess]>([
    ["containers + exec + post", { containers: true, exec: true, post: true }],
    ["services + post", { services: true, post: true }],
    ["plugins + post", { plugins: true, post: true }],
    ["swarm", { swarm: true }],
    ["secrets", { secrets: true }],
    ["auth", { auth: true }],
  ])("%s is accepted with acknowledgeHostRootRisk: true", (_, api) => {
    const { json } = synthProxy({ api, acknowledgeHostRootRisk: true });
    for (const section of Object.keys(api)) expect(flags(json)[section.toUpperCase()]).toBe("1");
  });

  test("several risks are listed in one error", () => {
    expect(() => synthProxy({ api: { containers: true, post: true, secrets: true } })).toThrow(/containers \+ post: [^\n]+\n\s+- secrets: /);
  });

  test.each<[string, DockerApiAccess]>([
    ["read-only containers (a dashboard, Traefik)", { containers: true }],
    ["containers + exec without post (still read-only)", { containers: true, exec: true }],
    ["post without containers, services or plugins", { post: true, images: true, networks: true, volumes: true }],
    ["start, stop and restart", { containers: true, allowStart: true, allowStop: true, allowRestarts: true }],
  ])("%s needs no acknowledgement", (_, api) => {
    expect(() => synthProxy({ api })).not.toThrow();
  });
});

describe("DockerSocketProxy bad input", () => {
  test.each<[DockerSocketProxyProps, RegExp]>([
    [{ api: { contaners: true } as DockerApiAccess }, /api: unknown section\(s\) contaners; known: post, events/],
    [{ api: { contaners: true, imgs: false } as DockerApiAccess }, /^api: unknown section\(s\) contaners, imgs; known: post, events, /],
    [{ image: "Docker Socket Proxy" }, /^image: "Docker Socket Proxy" is not allowed/],
    [{ api: { containers: "read" } as unknown as DockerApiAccess }, /api\.containers: expected true or false, got "read"/],
    [{ name: "my proxy" }, /name: "my proxy" must be 2 or more letters/],
    [{ networkName: "-net" }, /networkName: "-net" must be/],
    [{ socketPath: "docker.sock" }, /socketPath: "docker\.sock" must be an absolute path/],
    [{ networkDriver: "host" as "bridge" }, /networkDriver: "host" is not one of bridge, overlay/],
  ])("%j is refused naming the prop", (props, message) => {
    expect(() => synthProxy(props)).toThrow(message);
  });
});
