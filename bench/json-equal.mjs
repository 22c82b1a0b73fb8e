// json-equal.mjs -- deep JSON equality as RFC 6902 "test" defines it: same type, numbers equal
// as numbers, strings equal, arrays element-wise in order, objects with the same key set in any
// order. Recursive: the corpus nests 200 deep, far below the JS stack limit.
export function deepEqual(x, y) {
  if (x === y) return true;
  if (typeof x !== "object" || typeof y !== "object" || x === null || y === null) return false;
  if (Array.isArray(x) !== Array.isArray(y)) return false;
  if (Array.isArray(x)) {
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!deepEqual(x[i], y[i])) return false;
    return true;
  }
  const kx = Object.keys(x);
  if (kx.length !== Object.keys(y).length) return false;
  for (const k of kx) {
    if (!Object.prototype.hasOwnProperty.call(y, k) || !deepEqual(x[k], y[k])) return false;
  }
  return true;
}
