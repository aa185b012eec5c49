// normal.js: the Beta 500 normal load. VUs ramp to the plateau at 10 per second and stay there, each
// running the Beta 500 user (lib/user.js) on an account of its own. A refusal for insufficient credits is
// a red flag here: no account comes near empty, so one means credits went missing.
//
//   tally run scripts/normal.js                                  # full: 500 VUs, 15 min
//   tally run -e PROFILE=quick -e BASE_URL=http://127.0.0.1:8000 scripts/normal.js
//
// Criteria: thresholds/normal.json. Configuration: lib/config.js and docs/scenarios.md.

import { pick } from './lib/config.js';
import { betaUsers } from './lib/user.js';

// The size of the run, chosen with PROFILE. vus: VUs at the plateau; rate: VUs started per second;
// duration: seconds in all, ramp included.
const profile = pick({
  full: { vus: 500, rate: 10, duration: 900 },
  quick: { vus: 150, rate: 10, duration: 40 },
  smoke: { vus: 30, rate: 10, duration: 12 },
  soak: { vus: 500, rate: 10, duration: 1800 }, // make soak: the full load for 30 minutes
});

const users = betaUsers('normal', 'n', profile);

export const options = users.options;
export const setup = users.setup;
export default users.iteration;
export const teardown = users.teardown;
