import type { ResolvedRetryPolicy } from '../interfaces/options.interface';

/**
 * Delay before the try that follows failed try number `attempt` (1-based):
 * fixed → delayMs; exponential → delayMs · 2^(attempt−1); capped at
 * maxDelayMs, then spread by ±jitter so many failures do not retry in step.
 */
export function backoffDelay(policy: ResolvedRetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = policy.backoff === 'fixed' ? policy.delayMs : policy.delayMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(base, policy.maxDelayMs);
  if (policy.jitter <= 0) return capped;
  return Math.max(0, Math.round(capped * (1 + policy.jitter * (2 * random() - 1))));
}
