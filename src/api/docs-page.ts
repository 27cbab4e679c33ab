/** A self-contained HTML page listing the REST API from its OpenAPI document (no external scripts or styles). */
const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderDocsPage(document: unknown): string {
  const doc = document as {
    info?: { title?: string; description?: string };
    paths?: Record<
      string,
      Record<
        string,
        { summary?: string; tags?: string[]; parameters?: { name: string; in: string; required?: boolean }[] }
      >
    >;
  };
  const rows: string[] = [];
  for (const [path, methods] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters ?? [])
        .map((p) => `<code>${esc(p.name)}</code> <small>(${esc(p.in)}${p.required ? ', required' : ''})</small>`)
        .join(', ');
      rows.push(
        `<tr><td><b>${esc(method.toUpperCase())}</b></td><td><code>/api/v1${esc(path)}</code></td><td>${esc(op.summary)}</td><td>${esc((op.tags ?? []).join(', '))}</td><td>${params}</td></tr>`,
      );
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(doc.info?.title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}code{background:#f4f4f4;padding:0 .2rem}</style>
</head><body><h1>${esc(doc.info?.title)}</h1><p>${esc(doc.info?.description)}</p>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>. TypeScript clients: tRPC at <code>/trpc</code>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>Summary</th><th>Tags</th><th>Parameters</th></tr></thead><tbody>${rows.join('')}</tbody></table></body></html>`;
}
