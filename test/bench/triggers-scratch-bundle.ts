// TEMPORARY (deleted after use): workflow bundle size and its biggest modules.
import pino from 'pino';
import { workflowBundle } from '../../src/worker/worker.js';
const b = await workflowBundle(pino({ level: 'silent' }));
console.log('bundle chars', b.code.length);
const mods = new Map<string, number>();
const re = /\/\*\*\*\/ "([^"]+)":/g;
let m: RegExpExecArray | null;
let last: { name: string; at: number } | undefined;
while ((m = re.exec(b.code))) {
  if (last) mods.set(last.name, m.index - last.at);
  last = { name: m[1]!, at: m.index };
}
const byPkg = new Map<string, number>();
for (const [name, size] of mods) {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(name)?.[1] ?? name.replace(/^\.\//, '').split('/').slice(0, 2).join('/');
  byPkg.set(pkg, (byPkg.get(pkg) ?? 0) + size);
}
console.log([...byPkg].sort((a, b) => b[1] - a[1]).slice(0, 15));
console.log('modules', mods.size);
import fs from 'node:fs';
fs.writeFileSync('/tmp/wf-bundle.js', b.code);
