import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';

/** The cookie DemoSessionController sets once the token was shown. */
export const DEMO_TOKEN_COOKIE = 'demo_token';

/**
 * The demo's stand-in for a real admin guard on the dashboard's actions
 * (retry, cancel, delete, pause, run now, edit). With DEMO_TOKEN set, an
 * action needs that token, in the `x-demo-token` header or the cookie
 * `/api/session?token=…` sets, from wherever it comes (HOST may have opened
 * the demo to the network). Without it, actions are allowed from this machine only.
 * A real app checks its own session here.
 */
@Injectable()
export class LocalOnlyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ socket?: { remoteAddress?: string }; headers: Record<string, string | string[] | undefined> }>();
    const token = demoToken();
    if (token) return sameSecret(presentedToken(request.headers), token);
    const address = request.socket?.remoteAddress ?? '';
    return ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(address);
  }
}

/**
 * The same rule for the demo's own REST API: every request that changes
 * something (anything but GET and HEAD; the dashboard's actions are guarded
 * by its module), so widening HOST with DEMO_TOKEN set opens reads only.
 */
@Injectable()
export class ApiWriteGuard implements CanActivate {
  private readonly local = new LocalOnlyGuard();

  canActivate(context: ExecutionContext): boolean {
    const { method } = context.switchToHttp().getRequest<{ method: string }>();
    return method === 'GET' || method === 'HEAD' || this.local.canActivate(context);
  }
}

export function demoToken(): string | undefined {
  return process.env.DEMO_TOKEN?.trim() || undefined;
}

/** The token an action carries: the header first, else the cookie. */
function presentedToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const header = headers['x-demo-token'];
  if (typeof header === 'string' && header) return header;
  const cookies = typeof headers.cookie === 'string' ? headers.cookie.split(';') : [];
  for (const cookie of cookies) {
    const [name, ...value] = cookie.trim().split('=');
    if (name !== DEMO_TOKEN_COOKIE) continue;
    try {
      return decodeURIComponent(value.join('='));
    } catch {
      // a malformed escape (`%zz`) is no token: refused, not a 500
      return undefined;
    }
  }
  return undefined;
}

/** Compared in constant time: a guessing client learns nothing from how long a refusal takes. */
export function sameSecret(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
