/**
 * The app's copy of the optional peer `name`, or null when it is not
 * installed. A plain require, resolved from the app, keeps the package
 * optional: nothing loads it until a feature asks. A module the package
 * itself fails to find is a broken install, not a missing package, and is
 * thrown as it is. `load` stands in for `require` in tests.
 */
export function requireOptional<T>(name: string, load: (name: string) => unknown = require): T | null {
  try {
    return load(name) as T;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'MODULE_NOT_FOUND' || !String((err as Error).message).includes(`'${name}'`)) throw err;
    return null;
  }
}
