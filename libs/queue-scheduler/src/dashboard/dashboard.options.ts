import type { CanActivate, Type } from '@nestjs/common';
import { describeValue, InvalidOptionsError } from '../errors/errors';

/**
 * Runtime settings of the dashboard (`forRoot` or the `forRootAsync` factory).
 * @publicApi
 */
export interface QueueSchedulerDashboardOptions {
  /**
   * Refuse every action (403) and show no action buttons.
   * @default true, unless `guards` are given
   */
  readOnly?: boolean | undefined;
  /** Shown in the page's header and tab. @default 'nestjs-queue-scheduler' */
  title?: string | undefined;
  /** Open live-update streams at once; one more is answered 503. @default 20 */
  maxClients?: number | undefined;
  /** Show the public store's values; masked by default, as it holds cookies and tokens. @default false */
  showStoreValues?: boolean | undefined;
  /**
   * Origins (`https://ops.example.com`) allowed to send actions besides the
   * request's own host, for a dashboard reached through a proxy that rewrites `Host`.
   * @default []
   */
  allowedOrigins?: string[] | undefined;
}

/**
 * What shapes the routes, so it sits beside `useFactory` in `forRootAsync`,
 * never inside it: the controller is built when the module is.
 * @publicApi
 */
export interface QueueSchedulerDashboardExtras {
  /** Where the page and its API are mounted (`/queues` serves the page, `/queues/api/*` the API). @default '/queues' */
  path: string;
  /**
   * `CanActivate` classes run before every action (POST/PUT routes); giving
   * any opens the actions unless `readOnly: true`. Their dependencies must be
   * global or come from the `imports` of `forRootAsync`.
   * @default []
   */
  guards: Type<CanActivate>[];
}

export interface ResolvedDashboardOptions {
  readOnly: boolean;
  title: string;
  maxClients: number;
  showStoreValues: boolean;
  allowedOrigins: string[];
  /** Whether the app passed guards: actions open without any is worth a warning. */
  guarded: boolean;
}

export const DEFAULT_DASHBOARD_PATH = '/queues';
export const DEFAULT_MAX_CLIENTS = 20;

export function validateDashboardExtras(extras: QueueSchedulerDashboardExtras): void {
  const { path, guards } = extras;
  // route parameters or wildcards in the mount point would swallow the dashboard's own routes
  if (typeof path !== 'string' || !/^\/[A-Za-z0-9._~\-/]*$/.test(path)) {
    throw new InvalidOptionsError('path', `path must start with '/' and hold only letters, digits, '.', '_', '~', '-' and '/', got ${describeValue(path)}`);
  }
  if (!Array.isArray(guards) || guards.some((g) => typeof g !== 'function')) {
    throw new InvalidOptionsError('guards', `guards must be an array of CanActivate classes, got ${describeValue(guards)}`);
  }
}

export function resolveDashboardOptions(options: QueueSchedulerDashboardOptions, guarded: boolean): ResolvedDashboardOptions {
  const { readOnly, title, maxClients, showStoreValues, allowedOrigins } = options ?? {};
  if (readOnly !== undefined && typeof readOnly !== 'boolean') throw new InvalidOptionsError('readOnly', `readOnly must be true or false, got ${describeValue(readOnly)}`);
  if (title !== undefined && (typeof title !== 'string' || title.length > 200)) throw new InvalidOptionsError('title', `title must be a string of at most 200 characters, got ${describeValue(title)}`);
  if (maxClients !== undefined && (!Number.isInteger(maxClients) || maxClients < 0 || maxClients > 10_000)) {
    throw new InvalidOptionsError('maxClients', `maxClients must be an integer from 0 to 10000, got ${describeValue(maxClients)}`);
  }
  if (showStoreValues !== undefined && typeof showStoreValues !== 'boolean') {
    throw new InvalidOptionsError('showStoreValues', `showStoreValues must be true or false, got ${describeValue(showStoreValues)}`);
  }
  const origins = allowedOrigins ?? [];
  const badOrigin = Array.isArray(origins) ? origins.find((o) => typeof o !== 'string' || !isOrigin(o)) : origins;
  if (badOrigin !== undefined) {
    throw new InvalidOptionsError('allowedOrigins', `allowedOrigins must list origins such as 'https://ops.example.com' (scheme, host, port; no path), got ${describeValue(badOrigin)}`);
  }
  return {
    readOnly: readOnly ?? !guarded,
    title: title ?? 'nestjs-queue-scheduler',
    maxClients: maxClients ?? DEFAULT_MAX_CLIENTS,
    showStoreValues: showStoreValues ?? false,
    allowedOrigins: origins,
    guarded,
  };
}

function isOrigin(value: string): boolean {
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}
