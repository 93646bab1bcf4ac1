// A small HTTP server for the engine test: the engine fetches its files over
// real HTTP, as in the page (Node's fetch has no file: URLs).
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';

/**
 * Serve `routes`: URL prefix -> directory. `overrides` maps a URL path to a
 * body served instead of a file (a tampered manifest, say).
 * @param {Record<string, string>} routes
 * @param {Record<string, string>} [overrides]
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export async function serveStatic(routes, overrides = {}) {
  const server = createServer((req, res) => {
    // No keep-alive: session creation blocks this (shared) event loop for
    // seconds, and a pooled socket the server times out meanwhile resets the
    // next fetch that picks it.
    res.setHeader('connection', 'close');
    const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (urlPath in overrides) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(overrides[urlPath]);
      return;
    }
    for (const [prefix, dir] of Object.entries(routes)) {
      if (!urlPath.startsWith(prefix)) continue;
      const file = path.join(dir, urlPath.slice(prefix.length));
      if (!file.startsWith(dir)) break;
      try {
        const { size } = statSync(file);
        res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
        createReadStream(file).pipe(res);
      } catch {
        break;
      }
      return;
    }
    res.writeHead(404).end('not found');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
