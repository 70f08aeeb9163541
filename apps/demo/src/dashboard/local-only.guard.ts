import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';

/**
 * The demo's stand-in for a real admin guard: the dashboard's actions
 * (retry, cancel, pause, run now, edit) are allowed from this machine only.
 * A real app checks its own session or token here.
 */
@Injectable()
export class LocalOnlyGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const address = context.switchToHttp().getRequest<{ socket?: { remoteAddress?: string } }>().socket?.remoteAddress ?? '';
    return ['127.0.0.1', '::1', '::ffff:127.0.0.1'].includes(address);
  }
}
