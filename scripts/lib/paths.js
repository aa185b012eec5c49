// resolvePath turns a path given on the command line (CONFIG, THRESHOLDS) into one open() reads. open()
// resolves relative paths against the entry script's directory, but users mean their working directory:
// use PWD when the environment has it.
export function resolvePath(p) {
  if (p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p) || !__ENV.PWD) {
    return p;
  }
  return `${__ENV.PWD}/${p}`;
}
