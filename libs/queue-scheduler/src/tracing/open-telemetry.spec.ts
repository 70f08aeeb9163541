import { InvalidOptionsError, MissingPackageError } from '../errors/errors';
import { resolveOptions } from '../queue-scheduler.options';
import { loadOpenTelemetry, OTEL_PACKAGE, requireOpenTelemetry } from './open-telemetry';

/** A require that cannot see `missing`, as Node reports it. */
function requireWithout(missing: string): (name: string) => unknown {
  return (name) => {
    if (name === missing) throw Object.assign(new Error(`Cannot find module '${name}'\nRequire stack:\n- /app/main.js`), { code: 'MODULE_NOT_FOUND' });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name);
  };
}

describe('loading @opentelemetry/api', () => {
  it('answers null when the package is not installed', () => {
    expect(loadOpenTelemetry(requireWithout(OTEL_PACKAGE))).toBeNull();
  });

  it('with tracing asked for, stops with a MissingPackageError naming the package and the fix', () => {
    const error = (() => {
      try {
        requireOpenTelemetry(requireWithout(OTEL_PACKAGE));
      } catch (err) {
        return err;
      }
    })();
    expect(error).toBeInstanceOf(MissingPackageError);
    expect(error).toMatchObject({ packageName: '@opentelemetry/api', message: "tracing: true needs the package '@opentelemetry/api', which is not installed: run npm install @opentelemetry/api" });
  });

  it('passes on any other failure to load it (a broken install is not a missing one)', () => {
    const broken = (): never => {
      throw Object.assign(new Error("Cannot find module './build/src/index.js'"), { code: 'MODULE_NOT_FOUND' });
    };
    expect(() => loadOpenTelemetry(broken)).toThrow("Cannot find module './build/src/index.js'");
  });

  it('loads the installed package once and keeps it', () => {
    const api = loadOpenTelemetry();
    expect(api).not.toBeNull();
    expect(typeof api!.trace.getTracer).toBe('function');
    expect(loadOpenTelemetry()).toBe(api);
    // a stand-in require is asked each time and changes nothing kept
    expect(loadOpenTelemetry(requireWithout(OTEL_PACKAGE))).toBeNull();
    expect(loadOpenTelemetry()).toBe(api);
  });
});

describe('the tracing option', () => {
  it('is off by default, and must be a boolean', () => {
    expect(resolveOptions().tracing).toBe(false);
    expect(resolveOptions({ tracing: true }).tracing).toBe(true);
    expect(() => resolveOptions({ tracing: 'yes' as never })).toThrow(new InvalidOptionsError('tracing', "tracing must be true or false, got 'yes'"));
  });
});
