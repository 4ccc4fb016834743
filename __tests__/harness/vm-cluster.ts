/**
 * A whole cluster on real machines (sandbox/vm): the stack is synthesized with the lab's installer URLs, the real
 * terraform renders each instance's metadata, freeform tags, hostname and private IP from it (helpers/user-data.ts),
 * and each machine boots from exactly that, through cloud-init's Oracle datasource and the lab's stand-in metadata
 * service. The fake Dokploy answers the Dokploy API (Dokploy's images cannot be pulled here; the real Dokploy has
 * its own suite). Nothing here edits the rendered user_data.
 */
import * as fs from "fs";
import * as path from "path";
import { TerraformStack, TerraformVariable, Testing } from "cdktf";
import { DokployCluster } from "../../constructs/oci/dokploy-cluster";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { buildRelease } from "../../lib/host-release";
import { accessUri, newBucket, writeDirectoryBucket } from "../../sandbox/object-storage";
import { LAB_SERVER_IP } from "../../sandbox/vm/lab-state";
import { Vm, VmLab } from "../../sandbox/vm/vm-lab";
import { RenderedMetadata, renderMetadata } from "../helpers/user-data";
import { FakeDokploy } from "./fake-dokploy";

const INSTALLERS = path.join(__dirname, "..", "..", "sandbox", "vm", "installers");
export const DOKPLOY_INSTALLER = "dokploy-install.sh";
export const DOCKER_INSTALLER = "docker-install.sh";
export const ADMIN_EMAIL = "admin@example.com";
/** The releases bucket as the lab's HTTPS server serves it (sandbox/vm/lab-services.ts), at OCI's PAR path. */
const RELEASES = newBucket();
const STAND_INS = {
  random_password: { result: "Zq8x3Lr5Vt2Nw7Kp4Hs9Jm6Bc1Df0GgA" },
  random_id: { hex: "1a2b3c4d" },
  oci_objectstorage_preauthrequest: { access_uri: accessUri(RELEASES), full_path: `https://${LAB_SERVER_IP}${accessUri(RELEASES)}` },
};
const MANAGER_MEMORY_IN_MB = 2048;
const WORKER_MEMORY_IN_MB = 1536;

/** The stack a user would write, with the installers pointed at the lab and the worker count a variable (grow/shrink). */
export function labStack(lab: VmLab): any {
  const stack = new TerraformStack(Testing.app(), "vmlab");
  const workerCount = new TerraformVariable(stack, "worker_count", { type: "number" });
  new DokployCluster(stack, "Cluster", {
    compartmentId: "ocid1.compartment.oc1..lab",
    sshPublicKeys: [lab.sshPublicKey],
    adminEmail: ADMIN_EMAIL,
    // The lab's gateway stands for the admin's address: SSH and the dashboard are open to it.
    adminCidrs: ["10.0.0.0/24"],
    dokployInstallerUrl: lab.installerUrl(DOKPLOY_INSTALLER),
    dockerInstallerUrl: lab.installerUrl(DOCKER_INSTALLER),
    workerCount: workerCount.numberValue,
    encryptedOverlays: true,
  });
  return JSON.parse(Testing.synth(stack));
}

export class VmCluster {
  static async start(): Promise<VmCluster> {
    const fake = new FakeDokploy();
    await fake.start();
    let lab: VmLab | undefined;
    try {
      lab = await VmLab.start(Number(new URL(fake.url).port));
      for (const name of [DOKPLOY_INSTALLER, DOCKER_INSTALLER]) lab.publish(name, fs.readFileSync(path.join(INSTALLERS, name), "utf8"));
      // What the stack uploads: the host release every node's loader fetches.
      const release = buildRelease();
      writeDirectoryBucket(path.join(lab.dir, "releases"), { ...RELEASES, objects: new Map([[release.objectName, release.bytes]]) });
      return new VmCluster(fake, lab, labStack(lab));
    } catch (error) {
      await lab?.teardown();
      await fake.stop();
      throw error;
    }
  }

  private constructor(
    readonly fake: FakeDokploy,
    readonly lab: VmLab,
    readonly stackJson: any,
  ) {}

  /** Every instance's metadata, tags, hostname and address for this worker count, by the real terraform. */
  render(workerCount: number): RenderedMetadata[] {
    return renderMetadata(this.stackJson, { worker_count: String(workerCount) }, STAND_INS);
  }

  get manager(): Vm {
    return this.lab.machines[0];
  }

  get workers(): Vm[] {
    return this.lab.machines.slice(1);
  }

  /** Creates the machines of a render that do not exist yet (the manager first), without starting them. */
  createMachines(rendered: RenderedMetadata[]): Vm[] {
    const known = new Set(this.lab.machines.map((vm) => vm.ip));
    const ordered = [...rendered].sort((a, b) => Number(b.instance.includes("Manager")) - Number(a.instance.includes("Manager")));
    return ordered
      .filter((node) => !known.has(node.privateIp!))
      .map((node) =>
        this.lab.addMachine(
          { name: node.hostname!, privateIp: node.privateIp!, metadata: node.metadata, freeformTags: node.freeformTags },
          node.instance.includes("Manager") ? MANAGER_MEMORY_IN_MB : WORKER_MEMORY_IN_MB,
        ),
      );
  }

  /** What `terraform apply` changes in place on the manager: its workers tag. */
  updateManagerTags(rendered: RenderedMetadata[]): void {
    const manager = rendered.find((node) => node.instance.includes("Manager"))!;
    this.lab.updateInstance(manager.privateIp!, (instance) => ({ ...instance, document: { ...instance.document, freeformTags: manager.freeformTags } }));
  }

  managerWorkersTag(rendered: RenderedMetadata[]): string {
    return rendered.find((node) => node.instance.includes("Manager"))!.freeformTags[WORKERS_TAG_KEY];
  }

  async stop(): Promise<void> {
    await this.lab.teardown();
    await this.fake.stop();
  }
}
