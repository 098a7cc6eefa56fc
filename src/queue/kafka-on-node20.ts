/**
 * @platformatic/kafka 2 declares Node.js 22.22 or later; the project's
 * machines and CI run Node 20. The one Node 22 API the client calls is
 * `Promise.withResolvers` (every promise-returning method goes through it), so
 * it is supplied here, as the language defines it, where the runtime lacks it.
 * Imported by kafka.ts before the client. Remove once the project runs on
 * Node 22.
 */

interface WithResolvers {
  withResolvers?: <T>() => { promise: Promise<T>; resolve: (value: T | PromiseLike<T>) => void; reject: (reason?: unknown) => void };
}

const promise = Promise as PromiseConstructor & WithResolvers;

promise.withResolvers ??= <T>() => {
  let resolve!: (value: T | PromiseLike<T>) => void;
  let reject!: (reason?: unknown) => void;
  const settled = new Promise<T>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise: settled, resolve, reject };
};
