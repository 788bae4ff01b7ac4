/**
 * The few `Reflect` metadata functions that `@peculiar/x509` needs (its dependency
 * `tsyringe` refuses to load without a metadata polyfill, and `reflect-metadata` is not a
 * dependency). Installed only when nothing else provides them, and only by the code that
 * issues certificates, so a process embedding a node is not touched unless it makes a CA.
 */
type Key = string | symbol | undefined;

export function installReflectMetadata(): void {
  const R = Reflect as unknown as Record<string, unknown>;
  if (typeof R.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<Key, Map<unknown, unknown>>>();
  const bucket = (target: object, prop: Key, create: boolean): Map<unknown, unknown> | undefined => {
    let byProp = store.get(target);
    if (!byProp) {
      if (!create) return undefined;
      byProp = new Map();
      store.set(target, byProp);
    }
    let values = byProp.get(prop);
    if (!values && create) {
      values = new Map();
      byProp.set(prop, values);
    }
    return values;
  };
  const getMetadata = (key: unknown, target: object, prop?: Key): unknown => {
    for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o) as object | null) {
      const values = bucket(o, prop, false);
      if (values?.has(key)) return values.get(key);
    }
    return undefined;
  };
  const defineMetadata = (key: unknown, value: unknown, target: object, prop?: Key): void => {
    bucket(target, prop, true)!.set(key, value);
  };
  Object.assign(R, {
    defineMetadata,
    getMetadata,
    getOwnMetadata: (key: unknown, target: object, prop?: Key) => bucket(target, prop, false)?.get(key),
    hasMetadata: (key: unknown, target: object, prop?: Key) => getMetadata(key, target, prop) !== undefined,
    metadata: (key: unknown, value: unknown) => (target: object, prop?: Key) =>
      defineMetadata(key, value, target, prop),
  });
}
