/**
 * Seeds 001 and 002 on a real engine (one lab node): an app container deployed from the synthesized resources of
 * `SharedVolumes` (named volume, read-only upload directory, the node's Docker socket) and a docker_container, with
 * the real drop-privileges entrypoint (templates/app-entrypoint) as its entrypoint. The entrypoint copies the upload
 * into the volume for the app user, joins the socket's real group and drops to the app user; the app then spawns a
 * sibling container through the socket, binding the volume's HOST path (from the construct's environment), and the
 * sibling sees the uploaded file.
 * The app image is the SSH proxy's (Debian: docker-cli, setpriv, groupmod and the www-data user are in it).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TerraformStack, Testing } from "cdktf";
import { Container } from "@cdktf/provider-docker/lib/container";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { SharedVolumes } from "../../constructs/docker/shared-volumes";
import { DockerApplier } from "../harness/docker-applier";
import { BASE_IMAGE, buildImage, Lab, startLab } from "../harness/lab";

jest.setTimeout(600_000);

const REPO = path.resolve(__dirname, "../..");
const ENTRYPOINT = path.join(REPO, "templates/app-entrypoint/entrypoint.sh");
const APP_IMAGE = "dokploy-oci/lab-app:latest";
const UPLOADED = "uploaded for the sibling\n";
/** Runs as the app user: who am I, which groups, then a sibling that reads the volume through its host path. */
const APP = [
  'echo "user=$(id -un) uid=$(id -u) groups=$(id -G) socket_gid=$(stat -c %g /var/run/docker.sock) owner=$(stat -c %U /data/hello.txt)"',
  `docker run --rm -v "$HOST_LAB_SHARED_DATA_PATH:/seen:ro" ${BASE_IMAGE} cat /seen/hello.txt`,
].join(" && ");

let lab: Lab;
let uploads: string;

beforeAll(async () => {
  uploads = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-lab-uploads-"));
  fs.writeFileSync(path.join(uploads, "hello.txt"), UPLOADED);
  lab = await startLab({ nodes: 1 });
  await lab.loadImage(await buildImage(path.join(REPO, "templates/ssh-proxy")), APP_IMAGE);
});

afterAll(async () => {
  await lab?.teardown();
  if (uploads) fs.rmSync(uploads, { recursive: true, force: true });
});

test("the app drops to its user with the socket's group and its sibling sees the named volume at the host path", async () => {
  const stack = new TerraformStack(Testing.app(), "lab");
  new DockerProvider(stack, "docker", {});
  const shared = new SharedVolumes(stack, "Shared", {
    volumes: [{ name: "lab-shared-data", containerPath: "/data" }],
    uploadDirectory: { hostPath: uploads },
    mountDockerSocket: true,
  });
  new Container(stack, "App", {
    name: "lab-app",
    image: APP_IMAGE,
    mounts: [...shared.mounts, { type: "bind", source: ENTRYPOINT, target: "/usr/local/bin/app-entrypoint", readOnly: true }],
    env: [...shared.hostPathEnvironment, "APP_USER=www-data", "UPLOAD_TARGET=/data", "PRIVILEGE_DROP=setpriv"],
    entrypoint: ["/usr/local/bin/app-entrypoint"],
    command: ["sh", "-c", APP],
  });
  const json = JSON.parse(Testing.synth(stack));
  const node = lab.nodes[0];
  await new DockerApplier(lab).apply(json);

  expect(await node.mustDocker(["wait", "lab-app"], { timeoutMs: 300_000 })).toBe("0");
  const logs = await node.docker(["logs", "lab-app"]);
  const socketGid = (await node.mustDocker(["run", "--rm", "-v", "/var/run/docker.sock:/s", BASE_IMAGE, "stat", "-c", "%g", "/s"])).trim();
  expect(socketGid).not.toBe("0");
  const facts = /user=(\S+) uid=(\d+) groups=([\d ]+) socket_gid=(\d+) owner=(\S+)/.exec(logs.stdout);
  expect(facts).not.toBeNull();
  const [, user, uid, groups, seenGid, owner] = facts!;
  expect([user, uid, seenGid, owner]).toEqual(["www-data", "33", socketGid, "www-data"]);
  expect(groups.split(" ")).toContain(socketGid);
  expect(logs.stdout).toContain(UPLOADED.trim());
  const mountpoint = JSON.parse(await node.mustDocker(["volume", "inspect", "lab-shared-data"]))[0].Mountpoint;
  expect(logs.stdout).not.toContain("No such file");
  expect(json.resource.docker_container[Object.keys(json.resource.docker_container)[0]].env).toContain(
    `HOST_LAB_SHARED_DATA_PATH=\${docker_volume.${Object.keys(json.resource.docker_volume)[0]}.mountpoint}`,
  );
  expect(mountpoint).toMatch(/\/volumes\/lab-shared-data\/_data$/);
});
