/**
 * Each instance's `metadata` as the real terraform binary computes it: a provider-free copy of a stack whose
 * instances become terraform_data resources (same count, same metadata expression), applied with realistic
 * values, then user_data decoded (base64, gunzip) into the cloud-config a node receives. A counted resource's
 * stand-in is the list Terraform would have: its values once, or nothing when the count is 0 (a switched-off option).
 */
import { gunzipSync } from "zlib";
import { parse } from "yaml";
import { applyAndReadOutputs } from "./terraform";
import { withStandIns } from "./oci-provider";

export interface RenderedMetadata {
  /** Instance resource name, with `[i]` for counted instances. */
  readonly instance: string;
  readonly metadata: Record<string, string>;
  /** The instance's freeform tags as Terraform computes them (the manager's workers tag). */
  readonly freeformTags: Record<string, string>;
  /** The VNIC's hostname label and fixed private IP (null when OCI chooses). */
  readonly hostname: string | null;
  readonly privateIp: string | null;
  /** What OCI counts against its limit: every key and value of `metadata`, in bytes. */
  readonly bytes: number;
  readonly cloudConfig: string;
}

/**
 * Evaluates every oci_core_instance's metadata in `stackJson`. `variables` are -var values; `standIns` give each
 * stand-in resource (e.g. random_password) its attributes, keyed by resource type ("data_<type>" for a data source).
 */
export function renderMetadata(stackJson: any, variables: Record<string, string>, standIns: Record<string, Record<string, string>>): RenderedMetadata[] {
  // OCI resources and data sources given stand-in values (data sources keyed "data_<type>") are replaced too.
  const json = withStandIns(stackJson, Object.keys(standIns).filter((type) => /^(data_)?oci_/.test(type)).map((type) => type.replace(/^data_/, "")));
  const counted = countedStandIns(stackJson, json);
  const asList = (value: any): any =>
    typeof value === "string"
      ? counted.reduce((text, [variable, count]) => text.replace(new RegExp(`\\bvar\\.${variable}(?![\\w-])`, "g"), `slice([var.${variable}], 0, ${count})`), value)
      : value !== null && typeof value === "object"
        ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, asList(inner)]))
        : value;
  const instances: Record<string, any> = json.resource.oci_core_instance;
  // Locals are left out: they describe instances (addresses), which metadata never refers to.
  const config: any = { variable: json.variable, resource: { terraform_data: {} }, output: {} };
  for (const [name, instance] of Object.entries(instances)) {
    config.resource.terraform_data[name] = {
      input: {
        metadata: asList(instance.metadata),
        freeform_tags: instance.freeform_tags ?? {},
        hostname: instance.create_vnic_details?.hostname_label ?? null,
        private_ip: instance.create_vnic_details?.private_ip ?? null,
      },
      ...(instance.count !== undefined ? { count: instance.count } : {}),
    };
    config.output[name] = { value: `\${terraform_data.${name}${instance.count !== undefined ? "[*]" : ""}}`, sensitive: true };
  }
  const standInValues: Record<string, string> = {};
  for (const name of Object.keys(json.variable).filter((variable) => variable.startsWith("standin_"))) {
    const type = Object.keys(standIns).find((prefix) => name.startsWith(`standin_${prefix}_`));
    if (!type) throw new Error(`no stand-in values for ${name}`);
    standInValues[name] = `{${Object.entries(standIns[type]).map(([key, value]) => `${key} = ${JSON.stringify(value)}`).join(", ")}}`;
  }
  const outputs = applyAndReadOutputs(config, { ...variables, ...standInValues });
  return Object.entries(outputs).flatMap(([name, { value }]) => {
    const list = Array.isArray(value) ? (value as any[]).map((item, index) => [`${name}[${index}]`, item] as const) : [[name, value] as const];
    return list.map(([instance, data]) => {
      const { metadata, freeform_tags: freeformTags, hostname, private_ip: privateIp } = (data as any).output as {
        metadata: Record<string, string>;
        freeform_tags: Record<string, string>;
        hostname: string | null;
        private_ip: string | null;
      };
      const bytes = Object.entries(metadata).reduce((sum, [key, text]) => sum + Buffer.byteLength(key) + Buffer.byteLength(text), 0);
      return { instance, metadata, freeformTags, hostname, privateIp, bytes, cloudConfig: gunzipSync(Buffer.from(metadata.user_data, "base64")).toString("utf8") };
    });
  });
}

/** [stand-in variable, its resource's count expression] for every stand-in of a resource or data source with a count. */
function countedStandIns(stackJson: any, json: any): Array<[string, string]> {
  const counted: Array<[string, string]> = [];
  for (const [block, prefix] of [["resource", ""], ["data", "data_"]] as const) {
    for (const [type, resources] of Object.entries<any>(stackJson[block] ?? {})) {
      for (const [name, resource] of Object.entries<any>(resources)) {
        const variable = `standin_${prefix}${type}_${name}`;
        if (resource.count !== undefined && json.variable?.[variable]) counted.push([variable, String(resource.count).replace(/^\$\{([\s\S]*)\}$/, "$1")]);
      }
    }
  }
  return counted;
}

export interface CarriedFile {
  readonly path: string;
  readonly permissions: string;
  /** Decoded text (b64 files decoded). */
  readonly text: string;
}

/** write_files of a cloud-config, decoded. */
export function carriedFiles(cloudConfig: string): CarriedFile[] {
  const document = parse(cloudConfig);
  return (document.write_files ?? []).map((file: any) => {
    if (typeof file.content !== "string") throw new Error(`${file.path}: content is ${JSON.stringify(file.content)}, not a string`);
    const text = file.encoding === "b64" ? Buffer.from(file.content, "base64").toString("utf8") : file.content;
    return { path: file.path, permissions: file.permissions, text };
  });
}
