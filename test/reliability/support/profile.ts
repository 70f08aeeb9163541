/**
 * The size of each scenario. CI (`npm test`) runs the short profile;
 * `npm run test:reliability -- --long` sets RELIABILITY_PROFILE=long.
 */
export const LONG = process.env.RELIABILITY_PROFILE === 'long';

export const PROFILE = {
  sigkill: LONG ? { tasks: 50_000, killEveryMs: 3000 } : { tasks: 3000, killEveryMs: 1500 },
  outage: LONG ? { outageMs: 10_000, pushes: 500 } : { outageMs: 4000, pushes: 200 },
  racing: LONG ? { burst: 1000, everySecond: 200, seconds: 60 } : { burst: 300, everySecond: 50, seconds: 8 },
  failures: LONG ? { tasks: 10_000 } : { tasks: 1000 },
  stalls: LONG ? { leaseMs: 30_000, short: [500, 5000, 15_000], long: [40_000] } : { leaseMs: 3000, short: [500, 1000], long: [4500] },
} as const;

/** Prints a scenario's figures, for docs/reliability.md. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  process.stdout.write(`RELIABILITY ${JSON.stringify({ scenario, profile: LONG ? 'long' : 'short', ...figures })}\n`);
}
