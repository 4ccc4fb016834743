/**
 * constructs/oci/swarm-worker-pool.ts on its own, beside a stand-in network and token server that record what the
 * pool asks of them: the instances it declares, what each worker's node.json gets, the limits and their messages.
 * Expected values are written out.
 */
import { DefaultTokenResolver, StringConcat, TerraformStack, TerraformVariable, Testing, Tokenization } from "cdktf";
import { SwarmWorkerPool, SwarmWorkerPoolProps } from "../../constructs/oci/swarm-worker-pool";
import { IWorkerJoinSource } from "../../constructs/oci/token-server";
import { standInNetwork } from "../helpers/stand-in-network";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJYnQ0PvQe6w3Iakxq2pc9wZ5gsHIZRo0XAi7D4QjSS me@laptop";
const SECRET = "s".repeat(40);
const NAME = 'format("%s-%d", "worker", (count.index + 1))';

function pool(props: Partial<SwarmWorkerPoolProps> = {}, stack = new TerraformStack(Testing.app(), "pool")) {
  const { network, opened, reserved } = standInNetwork();
  const expected: unknown[][] = [];
  const joinSource: IWorkerJoinSource = {
    managerAddress: "10.0.0.10",
    url: "http://10.0.0.10:9999",
    secret: SECRET,
    expectWorkerPool: (...args: unknown[]) => expected.push(args),
  };
  const workers = new SwarmWorkerPool(stack, "Workers", { compartmentId: "ocid1.compartment.oc1..aaaa", network, joinSource, sshPublicKeys: [KEY], ...props });
  const synthesized = JSON.parse(Testing.synth(stack));
  const instance = Object.values(synthesized.resource.oci_core_instance)[0] as Record<string, any>;
  return { workers, instance, synthesized, opened, reserved, expected };
}

test("defaults: one Always Free worker of 1 OCPU and 6 GB, named worker-1, at host number 20, SSH from admins and the manager", () => {
  const { workers, instance, opened, reserved, expected } = pool();
  expect([workers.count, workers.namePrefix, workers.ocpus, workers.memoryInGbs, workers.bootVolumeSizeInGbs, workers.alwaysFree, workers.firstHostNumber]).toEqual([
    1, "worker", 1, 6, 100, true, 20,
  ]);
  expect(expected).toEqual([["worker", 1]]);
  expect(opened).toEqual([
    { role: "workers", protocol: "tcp", port: 22, from: "admin", description: "SSH" },
    { role: "workers", protocol: "tcp", port: 22, from: "manager", description: "SSH from Dokploy on the manager" },
  ]);
  expect(reserved).toEqual([[undefined, 1, "firstHostNumber", 'worker pool "worker"']]);
  expect(instance.count).toBe(1);
  expect(instance.display_name).toBe(`\${${NAME}}`);
  expect(instance.fault_domain).toBe('${element(["FAULT-DOMAIN-1", "FAULT-DOMAIN-2", "FAULT-DOMAIN-3"], count.index)}');
  expect(instance.availability_domain).toBe("${data.oci_identity_availability_domains.AvailabilityDomains.availability_domains[0].name}");
  expect(instance.create_vnic_details).toEqual({
    assign_public_ip: "true",
    hostname_label: `\${${NAME}}`,
    nsg_ids: ["WORKER_NSG_ID"],
    private_ip: '${cidrhost("10.0.0.0/24", (20 + count.index))}',
    subnet_id: "SUBNET_ID",
  });
  expect(instance.shape_config).toEqual({ memory_in_gbs: 6, ocpus: 1 });
  expect(instance.metadata.ssh_authorized_keys).toBe(`\${join("\\n", ["${KEY}"])}`);
});

test("each worker's node.json: its own name, its own credential (never the secret itself), the manager's address, the join delays, the workers' ports", () => {
  const userData: string = pool({ joinMaxDelayInSeconds: 40, dockerInstallerUrl: "https://mirror.example/docker.sh" }).instance.metadata.user_data;
  expect(userData).toContain(`"role" = "worker", "name" = ${NAME}, "docker" = {"installerUrl" = "https://mirror.example/docker.sh"}`);
  expect(userData).toContain(`"tokenServer" = {"url" = "http://10.0.0.10:9999", "credential" = sha256(format("%s:%s", "${SECRET}", ${NAME}))}`);
  expect(userData).toContain('"swarm" = {"managerAddress" = "10.0.0.10"}, "join" = {"initialDelaySeconds" = 1, "maxDelaySeconds" = 40, "requestTimeoutSeconds" = 5}');
  expect(userData).toContain('"hostPorts" = [{"protocol" = "tcp", "port" = 22, "sources" = ["workers-source"]}]');
  // The secret appears only inside the hash Terraform computes.
  expect(userData.split(SECRET)).toHaveLength(2);
});

test("given size, count, names, first address, tags and availability domains", () => {
  const { workers, instance, reserved, expected } = pool({
    count: 3,
    namePrefix: "gpu",
    ocpus: 2,
    memoryInGbs: 12,
    firstHostNumber: 40,
    spreadAcrossAvailabilityDomains: true,
    freeformTags: { team: "web" },
    alwaysFree: false,
  });
  expect([workers.count, workers.namePrefix, workers.ocpus, workers.memoryInGbs, workers.alwaysFree, workers.firstHostNumber]).toEqual([3, "gpu", 2, 12, false, 40]);
  expect(expected).toEqual([["gpu", 3]]);
  expect(reserved).toEqual([[40, 3, "firstHostNumber", 'worker pool "gpu"']]);
  expect(instance.count).toBe(3);
  expect(instance.display_name).toBe('${format("%s-%d", "gpu", (count.index + 1))}');
  expect(instance.create_vnic_details.private_ip).toBe('${cidrhost("10.0.0.0/24", (40 + count.index))}');
  expect(instance.availability_domain).toBe("${element(data.oci_identity_availability_domains.AvailabilityDomains.availability_domains, count.index).name}");
  expect(instance.freeform_tags).toMatchObject({ team: "web" });
});

test("a count from Terraform: the pool reserves room for the most a pool may have, and counts by the variable", () => {
  const stack = new TerraformStack(Testing.app(), "counted");
  const count = new TerraformVariable(stack, "worker_count", { type: "number" }).numberValue;
  const { instance, reserved } = pool({ count }, stack);
  expect(reserved).toEqual([[undefined, 100, "firstHostNumber", 'worker pool "worker"']]);
  expect(instance.count).toBe("${var.worker_count}");
  expect(pool({ count: 0 }).instance.count).toBe(0);
});

test("the pool's nodes: name to public and private address, as one local", () => {
  const stack = new TerraformStack(Testing.app(), "nodes");
  const { workers, synthesized } = pool({}, stack);
  expect(synthesized.locals).toEqual({
    Workers_Nodes_C5F14D74:
      "${{for worker in oci_core_instance.Workers_96E39E36 : worker.display_name => { public_ip = worker.public_ip, private_ip = worker.private_ip }}}",
  });
  const resolved = Tokenization.resolve(workers.nodes, { scope: stack, preparing: false, resolver: new DefaultTokenResolver(new StringConcat()) });
  expect(resolved).toBe("${local.Workers_Nodes_C5F14D74}");
});

test("limits, each naming the prop the user wrote", () => {
  const range = "is out of range; use a whole number of workers from 0 to 100";
  expect(() => pool({ count: -1 })).toThrow(`count: -1 ${range}`);
  expect(() => pool({ count: 101 })).toThrow(`count: 101 ${range}`);
  expect(() => pool({ count: 1.5 })).toThrow(`count: 1.5 ${range}`);
  expect(() => pool({ count: 101, propNames: { count: "workerCount" } })).toThrow(`workerCount: 101 ${range}`);
  expect(pool({ count: 100 }).instance.count).toBe(100);
  expect(() => pool({ namePrefix: "Worker" })).toThrow(
    'namePrefix: "Worker" is not allowed; use 1 to 21 lowercase letters, digits and dashes, starting with a letter and not ending with a dash',
  );
  expect(() => pool({ joinMaxDelayInSeconds: 0 })).toThrow("joinMaxDelayInSeconds: 0 is out of range; use a number of seconds from 1 to 600");
  expect(() => pool({ joinMaxDelayInSeconds: 601 })).toThrow("joinMaxDelayInSeconds: 601 is out of range; use a number of seconds from 1 to 600");
  expect(pool({ joinMaxDelayInSeconds: 600 }).instance.metadata.user_data).toContain('"maxDelaySeconds" = 600');
  expect(pool({ joinMaxDelayInSeconds: 1 }).instance.metadata.user_data).toContain('"maxDelaySeconds" = 1,');
  expect(() => pool({ dockerInstallerUrl: "http://get.docker.com" })).toThrow(
    'dockerInstallerUrl: "http://get.docker.com" is not allowed; use an https:// URL such as "https://dokploy.com/install.sh"',
  );
  expect(() => pool({ sshPublicKeys: [] })).toThrow("sshPublicKeys: give at least one OpenSSH public key, or you cannot log in to the nodes");
  expect(() => pool({ sshPublicKeys: ["nope"] })).toThrow('sshPublicKeys[0]: not an OpenSSH public key (type "nope" is not one of');
});

test("an installer URL from Terraform is checked at plan time, on the instances", () => {
  const stack = new TerraformStack(Testing.app(), "installer");
  const dockerInstallerUrl = new TerraformVariable(stack, "docker_installer_url", { type: "string" }).stringValue;
  const { instance } = pool({ dockerInstallerUrl }, stack);
  const checks = instance.lifecycle.precondition as { condition: string; error_message: string }[];
  expect(checks.map((check) => check.error_message)).toEqual([expect.stringMatching(/^dockerInstallerUrl: .*https:\/\//)]);
  expect(checks[0].condition).toContain("var.docker_installer_url");
});
