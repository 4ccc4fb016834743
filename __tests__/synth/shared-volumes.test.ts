import { TerraformOutput, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { Container } from "@cdktf/provider-docker/lib/container";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { Volume } from "@cdktf/provider-docker/lib/volume";
import { SharedVolumes, SharedVolumesProps } from "../../constructs/docker/shared-volumes";
import { StrongSecret } from "../../lib/secret";
import { validateStack } from "../../scripts/lib/validate";

const SEED_VOLUMES: SharedVolumesProps["volumes"] = [
  { name: "claude-config", containerPath: "/home/node/.claude" },
  { name: "claude-sessions", containerPath: "/app/sessions" },
  { name: "claude-aws", containerPath: "/root/.aws", hostPathVariable: "HOST_AWS_PATH", readOnly: true },
];

/** The seed's webhook app: the volumes, the upload directory, and a sibling it spawns, declared here as Terraform. */
function synthApp(props: Partial<SharedVolumesProps> = {}) {
  const stack = new TerraformStack(Testing.app(), "test");
  new DockerProvider(stack, "docker", {});
  const shared = new SharedVolumes(stack, "Shared", { volumes: SEED_VOLUMES, ...props });
  const apiKey = new StrongSecret(stack, "ApiKey", { propName: "apiKey" }).value;
  new Container(stack, "Webhook", {
    name: "webhook",
    image: "ghcr.io/example/claude-hub:1.0.0",
    mounts: shared.mounts,
    env: [...shared.hostPathEnvironment, `API_KEY=${apiKey}`],
  });
  new Container(stack, "Sibling", {
    name: "claude-general-1",
    image: "ghcr.io/example/claude-hub-claudecode:1.0.0",
    mounts: [{ type: "bind", source: shared.hostPath("claude-config"), target: "/home/node/.claude" }],
  });
  const synthesized = Testing.synth(stack);
  return { shared, synthesized, json: JSON.parse(synthesized) };
}

const container = (json: any, prefix: string) =>
  Object.entries<any>(json.resource.docker_container).find(([name]) => name.startsWith(prefix))![1];
const volumeAddress = (json: any, name: string) =>
  `docker_volume.${Object.entries<any>(json.resource.docker_volume).find(([, volume]) => volume.name === name)![0]}`;

describe("SharedVolumes", () => {
  test("one docker_volume per volume, named exactly as given", () => {
    const { json, synthesized } = synthApp();
    expect(Object.values<any>(json.resource.docker_volume).map((volume) => volume.name).sort()).toEqual(["claude-aws", "claude-config", "claude-sessions"]);
    expect(synthesized).toHaveResourceWithProperties(Volume, { name: "claude-config" });
  });

  test("HOST_<NAME>_PATH carries each volume's mountpoint attribute to the app", () => {
    const { json } = synthApp();
    const env: string[] = container(json, "Webhook").env;
    expect(env.slice(0, 3)).toEqual([
      `HOST_CLAUDE_CONFIG_PATH=\${${volumeAddress(json, "claude-config")}.mountpoint}`,
      `HOST_CLAUDE_SESSIONS_PATH=\${${volumeAddress(json, "claude-sessions")}.mountpoint}`,
      `HOST_AWS_PATH=\${${volumeAddress(json, "claude-aws")}.mountpoint}`,
    ]);
  });

  test("a spawned container's bind mount is the volume's host path (mountpoint), not the app's container path", () => {
    const { json } = synthApp();
    expect(container(json, "Sibling").mounts).toEqual([
      { type: "bind", source: `\${${volumeAddress(json, "claude-config")}.mountpoint}`, target: "/home/node/.claude" },
    ]);
  });

  test("the app mounts each volume at its path; no upload directory and no socket unless asked for", () => {
    const { json } = synthApp();
    expect(container(json, "Webhook").mounts).toEqual([
      { type: "volume", source: `\${${volumeAddress(json, "claude-config")}.name}`, target: "/home/node/.claude" },
      { type: "volume", source: `\${${volumeAddress(json, "claude-sessions")}.name}`, target: "/app/sessions" },
      { type: "volume", source: `\${${volumeAddress(json, "claude-aws")}.name}`, target: "/root/.aws", read_only: true },
    ]);
    expect(JSON.stringify(json)).not.toContain("docker.sock");
  });

  test("the upload directory is mounted read-only; the Docker socket only when mountDockerSocket is on", () => {
    const { json } = synthApp({ uploadDirectory: { hostPath: "/home/deploy/claude-uploads" }, mountDockerSocket: true });
    expect(container(json, "Webhook").mounts.slice(3)).toEqual([
      { type: "bind", source: "/home/deploy/claude-uploads", target: "/uploads", read_only: true },
      { type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" },
    ]);
  });

  test("upload container path and socket path can be changed", () => {
    const { json } = synthApp({
      uploadDirectory: { hostPath: "/srv/uploads", containerPath: "/incoming" },
      mountDockerSocket: true,
      dockerSocketPath: "/run/user/1000/docker.sock",
    });
    expect(container(json, "Webhook").mounts.slice(3)).toEqual([
      { type: "bind", source: "/srv/uploads", target: "/incoming", read_only: true },
      { type: "bind", source: "/run/user/1000/docker.sock", target: "/var/run/docker.sock" },
    ]);
  });

  test("volume() and hostPath() name the volume, and refuse an unknown one", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    const shared = new SharedVolumes(stack, "Shared", { volumes: SEED_VOLUMES });
    new TerraformOutput(stack, "volume_name", { value: shared.volume("claude-sessions").name });
    new TerraformOutput(stack, "host_path", { value: shared.hostPath("claude-sessions") });
    const json = JSON.parse(Testing.synth(stack));
    expect(json.output.volume_name.value).toBe(`\${${volumeAddress(json, "claude-sessions")}.name}`);
    expect(json.output.host_path.value).toBe(`\${${volumeAddress(json, "claude-sessions")}.mountpoint}`);
    expect(() => shared.hostPath("claude-cache")).toThrow(/volume: no volume named "claude-cache" here; there are claude-config, claude-sessions, claude-aws/);
  });

  test("a secret the app gets next to the paths stays a reference, never plain text in the JSON", () => {
    const { json } = synthApp();
    expect(container(json, "Webhook").env[3]).toMatch(/^API_KEY=\$\{random_password\.ApiKey_\w+\.result\}$/);
    expect(Object.values<any>(json.resource.random_password)).toEqual([expect.objectContaining({ length: 64, special: false })]);

    const stack = new TerraformStack(Testing.app(), "supplied");
    const supplied = new TerraformVariable(stack, "api_key", { type: "string", sensitive: true });
    const shared = new SharedVolumes(stack, "Shared", { volumes: SEED_VOLUMES });
    const apiKey = new StrongSecret(stack, "ApiKey", { value: supplied.stringValue, propName: "apiKey" }).value;
    new Container(stack, "Webhook", { name: "webhook", image: "example/app:1", mounts: shared.mounts, env: [`API_KEY=${apiKey}`] });
    const suppliedJson = JSON.parse(Testing.synth(stack));
    expect(container(suppliedJson, "Webhook").env).toEqual(["API_KEY=${var.api_key}"]);
    expect(suppliedJson.variable.api_key.sensitive).toBe(true);
  });

  test("synthesizes clean: every reference resolves, no stray template", async () => {
    const { json } = synthApp({ uploadDirectory: { hostPath: "/home/deploy/claude-uploads" }, mountDockerSocket: true });
    expect(await validateStack(json)).toEqual([]);
  });
});

describe("SharedVolumes bad input", () => {
  test.each<[Partial<SharedVolumesProps>, RegExp]>([
    [{ volumes: [] }, /volumes: give at least one volume/],
    [{ volumes: [{ name: "x", containerPath: "/x" }] }, /volumes\[0\]\.name: "x" must be 2 or more letters/],
    [{ volumes: [{ name: "claude config", containerPath: "/x" }] }, /volumes\[0\]\.name: "claude config"/],
    [{ volumes: [{ name: "data", containerPath: "/a" }, { name: "data", containerPath: "/b" }] }, /volumes\[1\]\.name: "data" is used twice/],
    [{ volumes: [{ name: "data", containerPath: "data" }] }, /volumes\[0\]\.containerPath: "data" must be an absolute path/],
    [{ volumes: [{ name: "data", containerPath: "/" }] }, /volumes\[0\]\.containerPath: "\/" would hide/],
    [{ volumes: [{ name: "a1", containerPath: "/data" }, { name: "b1", containerPath: "/data/" }] }, /volumes\[1\]\.containerPath: "\/data\/" is already the mount point of volumes\[0\]\.containerPath/],
    [{ volumes: [{ name: "a1", containerPath: "/data" }, { name: "b1", containerPath: "/data//" }] }, /volumes\[1\]\.containerPath: "\/data\/\/" is already the mount point of volumes\[0\]\.containerPath/],
    [{ mountDockerSocket: true, volumes: [{ name: "sock", containerPath: "/var/run/docker.sock" }] }, /^the Docker socket: "\/var\/run\/docker\.sock" is already the mount point of volumes\[0\]\.containerPath/],
    [{ volumes: [{ name: "data", containerPath: "/data", hostPathVariable: "HOST-PATH" }] }, /volumes\[0\]\.hostPathVariable: "HOST-PATH" is not an environment variable name/],
    [{ volumes: [{ name: "a.b", containerPath: "/a" }, { name: "a-b", containerPath: "/b" }] }, /volumes\[1\]\.hostPathVariable: HOST_A_B_PATH is used twice/],
    [{ uploadDirectory: { hostPath: "uploads" } }, /uploadDirectory\.hostPath: "uploads" must be an absolute path/],
    [{ uploadDirectory: { hostPath: "/srv/u", containerPath: "/app/sessions" } }, /uploadDirectory\.containerPath: "\/app\/sessions" is already the mount point of volumes\[1\]\.containerPath/],
    [{ mountDockerSocket: true, dockerSocketPath: "docker.sock" }, /dockerSocketPath: "docker\.sock" must be an absolute path/],
    [{ dockerSocketPath: "/var/run/docker.sock" }, /dockerSocketPath: set only with mountDockerSocket: true/],
  ])("%j is refused naming the prop", (props, message) => {
    expect(() => synthApp(props)).toThrow(message);
  });

  test("a volume name must be a literal, not a Terraform value", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    const name = new TerraformVariable(stack, "volume_name", { type: "string" });
    expect(() => new SharedVolumes(stack, "Shared", { volumes: [{ name: name.stringValue, containerPath: "/data" }] })).toThrow(
      /volumes\[0\]\.name: must be known at synth time/,
    );
  });

  test("a container path and a socket path from Terraform variables are accepted (Terraform checks nothing of them; Docker does)", () => {
    const stack = new TerraformStack(Testing.app(), "test");
    const text = (name: string) => new TerraformVariable(stack, name, { type: "string" }).stringValue;
    const shared = new SharedVolumes(stack, "Shared", {
      volumes: [{ name: "data", containerPath: text("data_path") }],
      mountDockerSocket: true,
      dockerSocketPath: text("socket_path"),
    });
    new Container(stack, "App", { name: "app", image: "example/app:1", mounts: shared.mounts });
    const mounts = container(JSON.parse(Testing.synth(stack)), "App").mounts;
    expect(mounts[0].target).toBe("${var.data_path}");
    expect(mounts[1]).toEqual({ type: "bind", source: "${var.socket_path}", target: "/var/run/docker.sock" });
  });

  test("an upload host path from a Terraform variable is accepted", async () => {
    const stack = new TerraformStack(Testing.app(), "test");
    const uploads = new TerraformVariable(stack, "uploads", { type: "string" });
    const shared = new SharedVolumes(stack, "Shared", {
      volumes: [{ name: "data", containerPath: "/data" }],
      uploadDirectory: { hostPath: uploads.stringValue },
    });
    new Container(stack, "App", { name: "app", image: "example/app:1", mounts: shared.mounts });
    const json = JSON.parse(Testing.synth(stack));
    expect(container(json, "App").mounts[1]).toEqual({ type: "bind", source: "${var.uploads}", target: "/uploads", read_only: true });
    expect(await validateStack(json)).toEqual([]);
  });
});
