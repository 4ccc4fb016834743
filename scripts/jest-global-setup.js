/**
 * jest's globalSetup (jest.config.js): the folder of this jest run's synthesized apps (__tests__/setup.ts puts each
 * test file's under it), removed by scripts/jest-global-teardown.js when the run ends. A file's own folder goes
 * after its tests, but jest runs no afterAll in a file whose tests are all filtered out by name (how Stryker picks a
 * mutant's tests), and such a file's module-level apps are still synthesized.
 */
const fs = require("fs");
const os = require("os");
const path = require("path");

module.exports = async () => {
  process.env.DOKPLOY_OCI_SYNTH_ROOT = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-synth-"));
};
