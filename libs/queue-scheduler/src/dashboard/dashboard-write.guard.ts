import { type CanActivate, type ExecutionContext, ForbiddenException, Inject, Injectable } from '@nestjs/common';
import type { ResolvedDashboardOptions } from './dashboard.options';
import { RESOLVED_DASHBOARD_OPTIONS } from './dashboard.tokens';

type Headers = Record<string, string | string[] | undefined>;

const first = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? value[0] : value);

/**
 * Runs before every action, ahead of the app's own guards: refuses all of
 * them in read-only mode, and refuses a request that a page of another site
 * could have sent (CSRF). A browser always sends `Origin` with a POST or PUT,
 * so a request without `Origin` or `Referer` is refused too: scripts say
 * where they come from with an `Origin` header.
 */
@Injectable()
export class DashboardWriteGuard implements CanActivate {
  constructor(@Inject(RESOLVED_DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions) {}

  canActivate(context: ExecutionContext): boolean {
    if (this.options.readOnly) {
      throw new ForbiddenException('the dashboard is read-only: pass guards to QueueSchedulerDashboardModule.forRoot (or readOnly: false) to allow actions');
    }
    const headers = (context.switchToHttp().getRequest<{ headers: Headers }>().headers ?? {}) as Headers;
    const refusal = sameOriginRefusal(headers, this.options.allowedOrigins);
    if (refusal) throw new ForbiddenException(`same-origin check: ${refusal}`);
    return true;
  }
}

/** Why a request does not come from a page of this host (or an allowed origin), or null when it does. */
export function sameOriginRefusal(headers: Headers, allowedOrigins: readonly string[]): string | null {
  if (first(headers['sec-fetch-site']) === 'cross-site') return 'the browser says this request comes from another site';
  const claimed = first(headers.origin) ?? first(headers.referer);
  if (!claimed) return 'an action must send an Origin (or Referer) header naming this host';
  let origin: URL;
  try {
    origin = new URL(claimed);
  } catch {
    return `origin ${JSON.stringify(claimed)} is not a URL`;
  }
  if (allowedOrigins.includes(origin.origin)) return null;
  // a cross-site page cannot set X-Forwarded-Host without a CORS preflight, so a proxy's value may be trusted
  const hosts = [first(headers['x-forwarded-host']), first(headers.host)].filter((h): h is string => !!h).map((h) => h.split(',')[0].trim().toLowerCase());
  if (hosts.includes(origin.host.toLowerCase())) return null;
  return `origin ${origin.origin} does not match host ${hosts[hosts.length - 1] ?? '(none)'}`;
}
