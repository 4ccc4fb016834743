/** jest's globalTeardown (jest.config.js): removes the run's folder of synthesized apps (scripts/jest-global-setup.js). */
const fs = require("fs");

module.exports = async () => {
  const root = process.env.DOKPLOY_OCI_SYNTH_ROOT;
  if (root) fs.rmSync(root, { recursive: true, force: true });
  delete process.env.DOKPLOY_OCI_SYNTH_ROOT;
};
