// spike.js: a sudden burst. VUs jump from 0 to 1,000 at 100 per second and stay for the rest of the
// 5 minutes, each running the same Beta 500 user as normal.js (lib/user.js) on an account of its own. The
// bar is graceful degradation: the service keeps answering (error rate < 5 %, p95 within the spike
// objective), does not crash, and still keeps its books straight.
//
//   tally run scripts/spike.js                                   # full: 1,000 VUs, 5 min
//   tally run -e PROFILE=quick scripts/spike.js
//
// Criteria: thresholds/spike.json. Configuration: lib/config.js and docs/scenarios.md.

import { pick } from './lib/config.js';
import { betaUsers } from './lib/user.js';

// The size of the run, chosen with PROFILE. vus: VUs at the peak; rate: VUs started per second;
// duration: seconds in all, ramp included.
const profile = pick({
  full: { vus: 1000, rate: 100, duration: 300 },
  quick: { vus: 200, rate: 100, duration: 40 },
  smoke: { vus: 60, rate: 30, duration: 10 },
});

const users = betaUsers('spike', 's', profile);

export const options = users.options;
export const setup = users.setup;
export default users.iteration;
export const teardown = users.teardown;
