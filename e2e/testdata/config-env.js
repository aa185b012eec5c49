// config-env.js: prints the configuration scripts/lib/config.js builds (TestConfigEnv), twice, after
// changing the first one, to show that each load() returns a configuration of its own.
import { load } from '../../scripts/lib/config.js';

const first = load();
first.paths.health = '/changed';
export const options = { iterations: 1 };

export default function () {
  console.log(`CFG ${JSON.stringify(load())}`);
}
