import { Controller, ForbiddenException, Get, Query, Res } from '@nestjs/common';
import { DASHBOARD_PATH } from '../app.setup';
import { DEMO_TOKEN_COOKIE, demoToken, sameSecret } from './local-only.guard';

/**
 * `GET /api/session?token=<DEMO_TOKEN>`: the browser's way in when the demo
 * requires a token. It checks the token and sets it as an HttpOnly,
 * SameSite=Strict cookie (no app state changes), then opens the dashboard,
 * whose actions the guard then lets through.
 */
@Controller('session')
export class DemoSessionController {
  @Get()
  open(@Query('token') token: string | undefined, @Res() res: { setHeader(name: string, value: string): void; redirect(status: number, url: string): void }): void {
    const expected = demoToken();
    if (!expected) throw new ForbiddenException('DEMO_TOKEN is not set: actions are open from this machine, no session needed');
    if (!sameSecret(typeof token === 'string' ? token : undefined, expected)) throw new ForbiddenException('wrong token');
    res.setHeader('Set-Cookie', `${DEMO_TOKEN_COOKIE}=${encodeURIComponent(expected)}; Path=/; HttpOnly; SameSite=Strict`);
    res.redirect(302, `${DASHBOARD_PATH}/`);
  }
}
