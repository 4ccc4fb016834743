import { DataResource, TerraformOutput, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { parse } from "yaml";
import { ADDONS_STACK_NAME, OCI_STACK_NAME, adminCidrsFromForm, buildApp, selectedAddons } from "../../main";
import { buildSchemaYaml } from "../../lib/orm-schema";
import { ormStackJson } from "../../scripts/lib/orm-package";
import { tailscaleHostConfig } from "../../lib/tailscale-node";
import { validateStack } from "../../scripts/lib/validate";
import { ormSchemaErrors } from "../helpers/orm";
import { applyAndReadOutputs, applyExpectingFailure } from "../helpers/terraform";


describe("main.ts", () => {
  test("synthesizes the OCI stack and the add-ons stack, both clean", async () => {
    const { stack, addons } = buildApp(undefined, ["ssh-proxy", "tailscale-sidecar", "socket-proxy"]);
    expect(stack.node.id).toBe(OCI_STACK_NAME);
    expect(addons.node.id).toBe(ADDONS_STACK_NAME);
    const oci = JSON.parse(Testing.synth(stack));
    const addonsJson = JSON.parse(Testing.synth(addons));
    expect(await validateStack(oci)).toEqual([]);
    expect(await validateStack(addonsJson)).toEqual([]);
    expect(addonsJson.provider.docker[0].host).toBe("ssh://${var.manager_ssh_user}@${var.manager_host}");
    expect(Object.keys(addonsJson.resource)).toEqual(expect.arrayContaining(["docker_service", "docker_container", "docker_network"]));
    expect(addonsJson.variable.tailscale_auth_key.sensitive).toBe(true);
  });

  test("capacity: the provider retries for 30 minutes and the form says what to try when the apply still fails", () => {
    const { stack } = buildApp(undefined, []);
    const json = JSON.parse(Testing.synth(stack));
    expect(json.provider.oci[0].retry_duration_seconds).toBe(1800);
    const form = parse(buildSchemaYaml(stack, json, { title: "t", description: "d" }));
    const text = form.variables.availability_domain.description;
    expect(text).toContain('"Out of host capacity" is retried for 30 minutes');
    expect(text).toMatch(/another domain.*fewer OCPUs.*later/);
  });

  test("the Ubuntu release: a form enumeration, 24.04 first, checked again on every instance at plan time", () => {
    const { stack } = buildApp(undefined, []);
    const json = JSON.parse(Testing.synth(stack));
    expect(json.variable.ubuntu_version.default).toBe("24.04");
    const form = parse(buildSchemaYaml(stack, json, { title: "t", description: "d" }));
    expect(form.variables.ubuntu_version).toMatchObject({ type: "enum", enum: ["24.04", "22.04"], default: "24.04" });
    expect(Object.values<any>(json.data.oci_core_images).map((images) => images.operating_system_version)).toEqual(["${var.ubuntu_version}"]);
    for (const instance of Object.values<any>(json.resource.oci_core_instance)) {
      expect(instance.lifecycle.precondition.map((check: any) => check.error_message)).toContain("ubuntuVersion: the value is not allowed; use one of 24.04, 22.04.");
    }
  });

  test("each add-on sits behind its own flag", () => {
    expect(selectedAddons(undefined)).toEqual(["ssh-proxy", "tailscale-sidecar", "socket-proxy"]);
    expect(selectedAddons("socket-proxy")).toEqual(["socket-proxy"]);
    expect(selectedAddons("none")).toEqual([]);
    expect(() => selectedAddons("ssh-proxy,vpn")).toThrow(/DOKPLOY_ADDONS: "vpn" is not one of ssh-proxy, tailscale-sidecar, socket-proxy/);
    const only = JSON.parse(Testing.synth(buildApp(undefined, ["socket-proxy"]).addons));
    expect(Object.keys(only.resource).sort()).toEqual(["docker_container", "docker_image", "docker_network"]);
    expect(only.variable.tailscale_auth_key).toBeUndefined();
  });

  test("the ORM form has a Private access group with the Tailscale key as a password field", () => {
    const { stack } = buildApp(undefined, []);
    const schema = buildSchemaYaml(stack, JSON.parse(Testing.synth(stack)), { title: "t", description: "d" });
    expect(ormSchemaErrors(schema)).toEqual([]);
    const form = parse(schema);
    const group = form.variableGroups.find((g: any) => g.title === "Private access");
    expect(group.variables).toEqual(["${tailscale_auth_key}", "${tailscale_tags}", "${tailscale_ssh}", "${admin_access}"]);
    expect(form.variables.tailscale_auth_key).toMatchObject({ type: "password", required: false, sensitive: true });
    expect(form.variables.admin_access).toMatchObject({ type: "enum", enum: ["internet", "tailnet"], default: "internet" });
    expect(form.outputs.dokploy_tailnet_url).toMatchObject({ type: "copyableString" });
  });
});

describe("the form's expressions, evaluated by the real terraform binary", () => {
  function formStack() {
    const stack = new TerraformStack(Testing.app(), "form");
    const cidrs = new TerraformVariable(stack, "admin_cidrs", { type: "string" });
    const access = new TerraformVariable(stack, "admin_access", { type: "string" });
    const key = new TerraformVariable(stack, "key", { type: "string", sensitive: true, default: "" });
    new TerraformOutput(stack, "cidrs", { value: adminCidrsFromForm(cidrs.stringValue, access.stringValue) });
    const { Fn, Op } = require("cdktf");
    const host = tailscaleHostConfig({ authKey: key.stringValue, enabled: Op.gte(Fn.lengthOf(key.stringValue), 1) }, "manager");
    new DataResource(stack, "node", { input: { ok: true }, lifecycle: { precondition: host.preconditions } });
    return ormStackJson(JSON.parse(Testing.synth(stack)));
  }

  test("admin CIDRs: a list from the comma-separated text, none at all with tailnet access", () => {
    const config = formStack();
    expect(applyAndReadOutputs(config, { admin_cidrs: "203.0.113.7/32, 198.51.100.0/24", admin_access: "internet" }).cidrs.value).toEqual([
      "203.0.113.7/32",
      "198.51.100.0/24",
    ]);
    expect(applyAndReadOutputs(config, { admin_cidrs: "0.0.0.0/0", admin_access: "tailnet" }).cidrs.value).toEqual([]);
  });

  test("a wrong Tailscale key fails the plan; an empty one does not", () => {
    const config = formStack();
    expect(applyAndReadOutputs(config, { admin_cidrs: "0.0.0.0/0", admin_access: "internet" }).cidrs).toBeDefined();
    expect(applyAndReadOutputs(config, { admin_cidrs: "0.0.0.0/0", admin_access: "internet", key: "tskey-auth-abc123" }).cidrs).toBeDefined();
    expect(applyExpectingFailure(config, { admin_cidrs: "0.0.0.0/0", admin_access: "internet", key: "not-a-key" })).toMatch(/not a Tailscale auth key/);
    expect(applyExpectingFailure(config, { admin_cidrs: "0.0.0.0/0", admin_access: "internet", key: "tskey-client-abc" })).toMatch(/OAuth client secret/);
  });
});
