// Profiles: the sizes and durations of a scenario, chosen with PROFILE (default full: the sizes of the
// original Beta 500 plan). quick keeps the shape at <= 200 VUs and under a minute (make run); smoke is a
// few seconds for the end-to-end tests. A scenario may add its own variants (race.js: full-200).

import { resolvePath } from './config.js';

// pick returns the profile named by PROFILE from a scenario's table, with its name. DURATION=seconds, when
// set, replaces the profile's duration (e.g. a shortened full-size run); the other sizes stay.
export function pick(table) {
  const name = (__ENV.PROFILE || 'full').trim().toLowerCase();
  const p = table[name];
  if (!p) {
    throw new Error(`PROFILE=${name}: unknown profile; this scenario has ${Object.keys(table).join(', ')}`);
  }
  const picked = Object.assign({ name }, p);
  if (__ENV.DURATION) {
    const d = Number(__ENV.DURATION);
    if (!Number.isInteger(d) || d < 1) {
      throw new Error(`DURATION=${__ENV.DURATION}: expected whole seconds, e.g. DURATION=180`);
    }
    picked.duration = d;
  }
  return picked;
}

// rampingStages ramps 0 -> vus at `rate` VUs per second, then holds, for `duration` seconds in all.
export function rampingStages(vus, rate, duration) {
  const ramp = Math.max(1, Math.ceil(vus / rate));
  const stages = [{ duration: `${ramp}s`, target: vus }];
  if (duration > ramp) {
    stages.push({ duration: `${duration - ramp}s`, target: vus });
  }
  return stages;
}

// thresholds reads a thresholds profile: THRESHOLDS=path when set (relative to the working directory),
// else thresholds/<name>.json of this repository. The file holds {"description", "thresholds": {...}}
// with k6's threshold syntax; it must run in the init context.
export function thresholds(name) {
  const file = __ENV.THRESHOLDS ? resolvePath(__ENV.THRESHOLDS) : `../thresholds/${name}.json`;
  let doc;
  try {
    doc = JSON.parse(open(file));
  } catch (e) {
    throw new Error(`thresholds ${file}: ${e.message || e}`);
  }
  if (!doc || typeof doc.thresholds !== 'object' || Array.isArray(doc.thresholds)) {
    throw new Error(`thresholds ${file}: expected {"thresholds": {"metric": ["expression", ...]}}`);
  }
  return doc.thresholds;
}
