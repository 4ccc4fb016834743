import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Testing } from "cdktf";
// Types of toHaveResource / toHaveResourceWithProperties / toHaveDataSourceWithProperties.
import "cdktf/lib/testing/adapters/jest";

Testing.setupJest();

// cdktf's Testing.app() makes a new output folder in the temporary directory for every app and never removes it
// (tens of thousands after a few runs): each test file's apps write under one folder, removed after the file, inside
// the jest run's folder (scripts/jest-global-setup.js and -teardown.js), which takes what a file leaves when jest
// skips its afterAll (every test filtered out by name, while its module-level apps still synthesize).
const synthRoot = fs.mkdtempSync(path.join(process.env.DOKPLOY_OCI_SYNTH_ROOT ?? os.tmpdir(), "dokploy-oci-synth-"));
const testingApp = Testing.app.bind(Testing);
Testing.app = (options = {}) => testingApp({ outdir: fs.mkdtempSync(path.join(synthRoot, "app-")), ...options });
afterAll(() => fs.rmSync(synthRoot, { recursive: true, force: true }));

// Synthesized stacks are also checked against the newest oracle/oci release's schema when the shared inputs are
// beside the repo (scripts/lib/validate.ts takes the path from here; it never looks outside the package itself).
const newestOciSchema = path.join(__dirname, "..", "..", "shared", "schemas", "oracle-oci-8.28.0.core.json");
if (!process.env.DOKPLOY_OCI_EXTRA_SCHEMAS && fs.existsSync(newestOciSchema)) process.env.DOKPLOY_OCI_EXTRA_SCHEMAS = newestOciSchema;
