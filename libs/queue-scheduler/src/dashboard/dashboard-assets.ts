import { NotFoundException, StreamableFile } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The page's files, shipped in the package next to this file (`assets/`,
 * copied by the build): no CDN, nothing to build, works offline. Only the
 * names listed here are served, so no request can reach another file.
 */
const TYPES: Record<string, string> = {
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'tables.js': 'text/javascript; charset=utf-8',
  'panels.js': 'text/javascript; charset=utf-8',
};

const cache = new Map<string, Buffer>();

function read(name: string): Buffer {
  let body = cache.get(name);
  if (!body) {
    body = readFileSync(join(__dirname, 'assets', name));
    cache.set(name, body);
  }
  return body;
}

export function asset(name: string): StreamableFile {
  const type = Object.hasOwn(TYPES, name) ? TYPES[name] : undefined;
  if (!type) throw new NotFoundException(`no dashboard file '${name}'`);
  return new StreamableFile(read(name), { type });
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** index.html with its base (so relative URLs work under any mount point or global prefix) and title filled in. */
export function page(requestPath: string, title: string): StreamableFile {
  const pathname = requestPath.split('?')[0];
  const base = pathname.endsWith('/') ? pathname : `${pathname}/`;
  const html = read('index.html').toString('utf8').replace('%BASE%', escapeHtml(base)).replaceAll('%TITLE%', escapeHtml(title));
  return new StreamableFile(Buffer.from(html, 'utf8'), { type: 'text/html; charset=utf-8' });
}

/** Scripts and styles from this origin only, nothing inline, no framing: an injected value could not run or clickjack. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'";
