// The mesh in a browser, served by sluice-cp on its API port (control-plane/dashboard/):
// the Services as a graph whose edges carry requests/s, success rate and p99 (from what
// the proxies send the control plane, GET /debug/stats), the proxies and their sync state
// per zone, the resources whose conditions are False, and a page per Service (its routes,
// policies, zones and instances' health). Everything comes from the same API sluicectl
// reads, with the same token; nothing is sent anywhere else. Plain DOM, no library: every
// value from the API goes in as text, never as markup.

const REFRESH_MS = 5000;
const STATS_WINDOW = '1m';
const TOKEN_KEY = 'sluice-token';

let token = sessionStorage.getItem(TOKEN_KEY) ?? '';
let kinds = [];
let timer = null;

// A link `sluicectl dashboard` printed carries the token in the fragment, which no request sends: kept for this tab, then dropped from the address bar.
const fromLink = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (fromLink !== null) {
  token = decodeURIComponent(fromLink[1]);
  sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, '', `${location.pathname}#/`);
}

class Unauthorized extends Error {}

async function api(path) {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (res.status === 401) throw new Unauthorized('the token was refused');
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
}

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  for (const c of children.flat()) e.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return e;
}

const pct = (v) => (v === null || v === undefined ? '-' : `${(v * 100).toFixed(2)}%`);
const ms = (v) => (v === null || v === undefined ? '-' : `${v} ms`);
const rateClass = (v) => (v === null || v === undefined ? '' : v >= 0.99 ? 'ok' : v >= 0.95 ? 'warn' : 'bad');

function table(head, rows, empty) {
  if (rows.length === 0) return el('p', { class: 'empty' }, empty);
  return el('table', {}, el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}

function section(title, id, wide, ...body) {
  return el('section', { id, class: wide ? 'wide' : '' }, el('h2', {}, title), ...body);
}

/** Everything one refresh needs, fetched together. */
async function load() {
  if (kinds.length === 0) kinds = await (await fetch('/dashboard/kinds.json')).json();
  const [version, stats, proxies, zones, ...lists] = await Promise.all([
    api('/version'),
    api(`/debug/stats?window=${STATS_WINDOW}`),
    api('/debug/xds/proxies'),
    api('/debug/zones').catch(() => ({ role: 'standalone', items: [] })),
    ...kinds.map((k) => api(k.path).then((l) => l.items).catch(() => [])),
  ]);
  const resources = new Map(kinds.map((k, i) => [k.kind, lists[i]]));
  return { version, stats, proxies: proxies.items, zones, resources };
}

/** Service nodes by host, and the Service each workload is an instance of. */
function meshModel(data) {
  const services = data.resources.get('Service') ?? [];
  const serviceOfWorkload = new Map();
  for (const s of services) for (const w of s.status?.workloads ?? []) serviceOfWorkload.set(`${s.metadata.namespace}/${w}`, `${s.metadata.namespace}/${s.metadata.name}`);
  const statsOf = new Map(data.stats.services.map((r) => [`${r.namespace}/${r.name}`, r]));
  const byHost = (host) => {
    const [name, ns] = host.split('.');
    return services.some((s) => s.metadata.name === name && s.metadata.namespace === ns) ? `${ns}/${name}` : host;
  };
  return { services, serviceOfWorkload, statsOf, byHost };
}

function graph(data, model) {
  const nodes = new Map();
  const add = (id, label, kind) => nodes.get(id) ?? nodes.set(id, { id, label, kind, rank: 0 }).get(id);
  for (const s of model.services) add(`${s.metadata.namespace}/${s.metadata.name}`, `${s.metadata.name}.${s.metadata.namespace}`, 'service');
  const edges = data.stats.edges.map((e) => {
    const fromKey = `${e.sourceNamespace}/${e.source}`;
    const from = model.serviceOfWorkload.get(fromKey) ?? fromKey;
    if (!nodes.has(from)) add(from, `${e.source}.${e.sourceNamespace}`, 'workload');
    const to = model.byHost(e.destination);
    if (!nodes.has(to)) add(to, e.destination, 'service');
    return { from, to, e };
  });
  // Callers left of what they call: each node one rank right of its deepest caller (bounded, for cycles).
  for (let i = 0; i < nodes.size; i++) for (const { from, to } of edges) if (from !== to) nodes.get(to).rank = Math.max(nodes.get(to).rank, Math.min(nodes.get(from).rank + 1, nodes.size));
  const columns = new Map();
  for (const n of nodes.values()) columns.set(n.rank, [...(columns.get(n.rank) ?? []), n]);
  const W = 200, H = 34, GX = 220, GY = 40;
  const ranks = [...columns.keys()].sort((a, b) => a - b);
  ranks.forEach((r, c) => columns.get(r).sort((a, b) => a.label.localeCompare(b.label)).forEach((n, i) => Object.assign(n, { x: 10 + c * (W + GX), y: 10 + i * (H + GY) })));
  const width = 20 + ranks.length * (W + GX) - GX;
  const height = 20 + Math.max(1, ...[...columns.values()].map((c) => c.length)) * (H + GY) - GY;
  const [vw, vh] = [Math.max(width, 300), Math.max(height, 60)];
  const root = svg('svg', { viewBox: `0 0 ${vw} ${vh}`, width: vw, height: vh, role: 'img', 'aria-label': 'Services and the calls between them' });
  for (const { from, to, e } of edges) {
    const a = nodes.get(from), b = nodes.get(to);
    const [x1, y1, x2, y2] = from === to ? [a.x + W, a.y + H / 2, a.x + W, a.y + H / 2 + 1] : [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
    const mid = (x1 + x2) / 2;
    root.append(svg('g', { class: `edge ${rateClass(e.successRate) === 'bad' ? 'bad' : ''}`, 'data-from': from, 'data-to': to },
      svg('path', { d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' }),
      svg('text', { x: mid, y: (y1 + y2) / 2 - 6, 'text-anchor': 'middle' }, `${e.rps}/s · ${pct(e.successRate)} · p99 ${ms(e.p99)}`)));
  }
  for (const n of nodes.values()) {
    const s = model.statsOf.get(n.id);
    const g = svg('g', { class: `node ${n.kind}`, 'data-id': n.id, transform: `translate(${n.x},${n.y})` },
      svg('rect', { width: W, height: H }),
      svg('text', { x: 8, y: 14 }, n.label),
      svg('text', { x: 8, y: 28 }, s === undefined ? (n.kind === 'service' ? 'no requests' : 'caller') : `${s.rps}/s · ${pct(s.successRate)} · p99 ${ms(s.p99)}`));
    if (n.kind === 'service' && model.services.some((x) => `${x.metadata.namespace}/${x.metadata.name}` === n.id)) {
      const [ns, name] = n.id.split('/');
      g.addEventListener('click', () => (location.hash = `#/service/${ns}/${name}`));
      g.style.cursor = 'pointer';
    }
    root.append(g);
  }
  root.prepend(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#59636e' }))));
  return root;
}

function servicesTable(model) {
  return table(
    ['Namespace', 'Service', 'RPS', 'Success', 'P50', 'P99', 'Instances'],
    model.services.map((s) => {
      const k = `${s.metadata.namespace}/${s.metadata.name}`;
      const st = model.statsOf.get(k);
      return el('tr', { 'data-service': k },
        el('td', {}, s.metadata.namespace),
        el('td', {}, el('a', { href: `#/service/${s.metadata.namespace}/${s.metadata.name}` }, s.metadata.name)),
        el('td', { class: 'num' }, st?.rps ?? 0),
        el('td', { class: `num ${rateClass(st?.successRate)}` }, pct(st?.successRate)),
        el('td', { class: 'num' }, ms(st?.p50)),
        el('td', { class: 'num' }, ms(st?.p99)),
        el('td', { class: 'num' }, s.status?.selectedWorkloads ?? 0));
    }),
    'No Services yet (sluicectl apply -f a Service).',
  );
}

function proxyState(p) {
  if (p.status === 'OFFLINE') return 'OFFLINE';
  const states = Object.values(p.types ?? {}).map((t) => t?.state);
  return states.includes('NACKED') ? 'NACKED' : states.includes('STALE') ? 'STALE' : 'SYNCED';
}

function proxiesByZone(data) {
  const zones = new Map();
  for (const p of data.proxies) zones.set(p.zone ?? '-', [...(zones.get(p.zone ?? '-') ?? []), p]);
  const rows = [...zones.entries()].sort(([a], [b]) => a.localeCompare(b)).flatMap(([zone, list]) => list.map((p) => {
    const state = proxyState(p);
    return el('tr', {}, el('td', {}, zone), el('td', {}, p.id), el('td', {}, p.mode ?? p.kind), el('td', { class: state === 'SYNCED' ? 'ok' : state === 'STALE' ? 'warn' : 'bad' }, state));
  }));
  const zoneRows = (data.zones.items ?? []).map((z) => el('tr', {}, el('td', {}, z.name), el('td', { class: z.status === 'online' ? 'ok' : 'bad' }, z.status), el('td', {}, z.proxies ?? '-'), el('td', {}, z.ingress ?? '-'), el('td', {}, z.ingressHealth ?? '-')));
  return [
    table(['Zone', 'Proxy', 'Kind', 'State'], rows, 'No proxy is connected.'),
    ...(zoneRows.length === 0 ? [] : [el('h2', {}, `Zones (this control plane: ${data.zones.role})`), table(['Zone', 'Status', 'Proxies', 'Ingress', 'Ingress health'], zoneRows, '')]),
  ];
}

function problems(data) {
  const rows = [];
  for (const [kind, items] of data.resources) {
    for (const r of items) for (const c of r.status?.conditions ?? []) {
      if (c.status === 'False') rows.push(el('tr', {}, el('td', {}, kind), el('td', {}, r.metadata.namespace ?? '-'), el('td', {}, r.metadata.name), el('td', {}, c.type), el('td', { class: 'bad' }, c.reason), el('td', { class: 'wrap' }, c.message)));
    }
  }
  return table(['Kind', 'Namespace', 'Name', 'Condition', 'Reason', 'Message'], rows, 'Every condition is True.');
}

function overview(data) {
  const model = meshModel(data);
  return [
    section('Services and calls', 'graph', true, graph(data, model)),
    section(`Services (last ${data.stats.windowSeconds}s, ${data.stats.proxies} proxies reporting)`, 'services', false, servicesTable(model)),
    section('Proxies', 'proxies', false, ...proxiesByZone(data)),
    section('Resources with a condition False', 'problems', true, problems(data)),
  ];
}

function servicePage(data, ns, name) {
  const model = meshModel(data);
  const s = model.services.find((x) => x.metadata.namespace === ns && x.metadata.name === name);
  if (s === undefined) return [section('Service not found', 'service', true, el('p', {}, `There is no Service ${name} in namespace ${ns}.`))];
  const st = model.statsOf.get(`${ns}/${name}`);
  const status = s.status ?? {};
  const workloads = new Map((data.resources.get('Workload') ?? []).filter((w) => w.metadata.namespace === ns).map((w) => [w.metadata.name, w]));
  const instances = (status.workloads ?? []).map((wn) => {
    const w = workloads.get(wn);
    const proxies = w?.status?.proxies ?? [];
    const state = proxies.length === 0 ? 'NO PROXY' : proxies.map((p) => p.state).join(', ');
    return el('tr', {}, el('td', {}, wn), el('td', {}, w?.spec?.address ?? '-'), el('td', {}, w?.spec?.zone ?? '-'), el('td', { class: state === 'SYNCED' ? 'ok' : 'bad' }, state));
  });
  const callers = data.stats.edges.filter((e) => model.byHost(e.destination) === `${ns}/${name}`).map((e) => el('tr', {}, el('td', {}, `${e.source}.${e.sourceNamespace}`), el('td', { class: 'num' }, e.rps), el('td', { class: `num ${rateClass(e.successRate)}` }, pct(e.successRate)), el('td', { class: 'num' }, ms(e.p99))));
  const conditions = (status.conditions ?? []).map((c) => el('tr', {}, el('td', {}, c.type), el('td', { class: c.status === 'True' ? 'ok' : 'bad' }, c.status), el('td', {}, c.reason), el('td', { class: 'wrap' }, c.message)));
  return [
    section(`Service ${name}.${ns}`, 'service', true,
      el('dl', {},
        el('dt', {}, 'Ports'), el('dd', {}, (s.spec?.ports ?? []).map((p) => `${p.name ?? ''} ${p.port}${p.appProtocol ? ` (${p.appProtocol})` : ''}`).join(', ')),
        el('dt', {}, 'Requests/s'), el('dd', {}, st?.rps ?? 0),
        el('dt', {}, 'Success rate'), el('dd', { class: rateClass(st?.successRate) }, pct(st?.successRate)),
        el('dt', {}, 'p50 / p99'), el('dd', {}, `${ms(st?.p50)} / ${ms(st?.p99)}`),
        el('dt', {}, 'Routes'), el('dd', {}, (status.routes ?? []).join(', ') || 'none'),
        el('dt', {}, 'Policies'), el('dd', {}, (status.policies ?? []).join(', ') || 'none'),
        el('dt', {}, 'Zones'), el('dd', {}, (status.zones ?? []).map((z) => `${z.zone}: ${z.instances} (${z.via})`).join(', ') || '-'))),
    section('Instances', 'instances', false, table(['Workload', 'Address', 'Zone', 'Proxy'], instances, 'No instance selected.')),
    section('Callers', 'callers', false, table(['From', 'RPS', 'Success', 'P99'], callers, 'No calls in the last minute.')),
    section('Conditions', 'conditions', true, table(['Type', 'Status', 'Reason', 'Message'], conditions, 'No conditions yet.')),
  ];
}

async function refresh() {
  clearTimeout(timer);
  try {
    const data = await load();
    document.getElementById('login').hidden = true;
    document.getElementById('meta').textContent = `sluice-cp ${data.version.version} · revision ${data.version.revision} · ${data.zones.role}`;
    document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    const m = /^#\/service\/([^/]+)\/([^/]+)$/.exec(location.hash);
    document.getElementById('main').replaceChildren(...(m === null ? overview(data) : servicePage(data, decodeURIComponent(m[1]), decodeURIComponent(m[2]))));
    document.body.dataset.loaded = 'true';
  } catch (err) {
    if (err instanceof Unauthorized) {
      document.getElementById('login').hidden = false;
      document.getElementById('login-error').textContent = token === '' ? '' : 'That token was refused.';
      document.getElementById('main').replaceChildren();
      return;
    }
    document.getElementById('updated').textContent = `refresh failed: ${err.message}`;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

document.getElementById('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = document.getElementById('token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  void refresh();
});
window.addEventListener('hashchange', () => void refresh());
void refresh();
