// SPDX-License-Identifier: Apache-2.0
// The soak test's load and invariant checker (run by tests/soak/soak.sh, which owns the
// processes and the fault schedule). Everything a customer or an organizer does goes through the
// gateway:
//   1. setup: the admin logs in, creates a venue and one event with three tiers (two currencies)
//      and publishes it; BX_SOAK_USERS customers register and log in (Argon2id: a few at a time);
//   2. load (BX_SOAK_DURATION_S): BX_SOAK_CLIENTS concurrent clients race for the tiers: holds
//      (Idempotency-Key, retried on 5xx, lost answers and "concurrent request" 409s), confirms
//      (Idempotency-Key, retried the same way for up to 30 s), releases, abandoned holds left to
//      expire, late confirms past the hold's time (must be refused), cancels; a monitor polls
//      availability and checks sold + held <= capacity as clients see it;
//   3. settle: waits (bounded) for the fault schedule to finish, holds to expire, the outbox and
//      order documents to drain, tickets to render and analytics to catch up;
//   4. check: the invariants below, from booking's PostgreSQL database, the gateway and both
//      analytics replicas; a Markdown report to BX_SOAK_REPORT. Exit 1 when one fails.
// Node 18 compatible (global fetch, AbortController); no packages.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const env = process.env;
const DIR = env.BX_SOAK_DIR;
const GATEWAY = env.BX_SOAK_GATEWAY;
const ANALYTICS_B = env.BX_SOAK_ANALYTICS_B;
const PSQL = env.BX_SOAK_PSQL;
const PG_PORT = env.BX_SOAK_PG_PORT;
const USERS = Number(env.BX_SOAK_USERS || 200);
const CLIENTS = Number(env.BX_SOAK_CLIENTS || 40);
const DURATION_S = Number(env.BX_SOAK_DURATION_S || 180);
const HOLD_TTL_S = Number(env.BX_SOAK_HOLD_TTL_S || 10);
const SLOW_MS = Number(env.BX_SOAK_SLOW_MS || 200);
const REPORT = env.BX_SOAK_REPORT;
const PROCS = (env.BX_SOAK_PROCS || '').split(/\s+/).filter(Boolean);

const REQUEST_TIMEOUT_MS = 15000; // the gateway answers 504 after 10 s
const RETRY_FOR_MS = 30000; // how long a confirm, cancel or hold is retried
const REGISTER_CONCURRENCY = 6; // users hashes 4 at once; a few more keep its queue full
const REGISTER_LIMIT_MS = 300000; // registration stops here (the run goes on with whoever made it)
const FAULT_GRACE_MS = 10000; // 5xx this soon after a fault ended still count as "during faults"
const SETTLE = {
  faultsMs: 240000,
  holdsMs: (HOLD_TTL_S + 30) * 1000,
  outboxMs: 90000,
  ticketsMs: 150000,
  analyticsMs: 90000,
};
const TIERS = [
  { name: 'Floor', price_cents: 5000, currency: 'EUR', capacity: 120, max_per_order: 4, weight: 4 },
  { name: 'Seated', price_cents: 8950, currency: 'EUR', capacity: 200, max_per_order: 4, weight: 4 },
  { name: 'VIP', price_cents: 25000, currency: 'GBP', capacity: 40, max_per_order: 2, weight: 2 },
  // a large tier, so that seats keep selling (and every fault meets writes) for most of the run
  { name: 'Standing', price_cents: 3900, currency: 'EUR', capacity: 2000, max_per_order: 4, weight: 3 },
];
const MAX_PER_USER = 20;
const REGRET_EVERY_MS = 1000; // a customer cancels one of their orders this often: seats come back

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const log = (...a) => console.log(`[soak.mjs +${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
const rand = (n) => Math.floor(Math.random() * n);
const uuid = () => randomUUID();

/* ------------------------------------------------------------------ HTTP, with accounting */

const stats = {
  byRoute: new Map(), // "POST /api/holds" -> {statuses: {code: n}, ms: [latencies]}
  errors5xx: [], // {t, route, status, code}
  lost: [], // {t, route, error}: no answer (timeout, reset)
  writes: [], // {t, ms}: answered booking writes (holds, releases, orders, cancels), for latency by window
};
const WRITE_ROUTE = /^(POST \/api\/holds|DELETE \/api\/holds\/\{id\}|POST \/api\/orders(\/\{id\}\/cancel)?)$/;

function routeKey(method, p) {
  const q = p.split('?')[0];
  return `${method} ${q.replace(/\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '/{id}')}`;
}

async function api(method, p, { token, body, headers = {}, base = GATEWAY, timeoutMs = REQUEST_TIMEOUT_MS, raw = false } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const key = routeKey(method, p);
  let st = stats.byRoute.get(key);
  if (!st) stats.byRoute.set(key, (st = { statuses: {}, ms: [] }));
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const start = Date.now();
  try {
    const res = await fetch(base + p, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: ac.signal,
    });
    const buf = Buffer.from(await res.arrayBuffer());
    const ms = Date.now() - start;
    st.statuses[res.status] = (st.statuses[res.status] || 0) + 1;
    st.ms.push(ms);
    if (base === GATEWAY && WRITE_ROUTE.test(key)) stats.writes.push({ t: start, ms });
    let json = null;
    if (!raw) {
      try {
        json = buf.length ? JSON.parse(buf.toString('utf8')) : null;
      } catch {
        /* not JSON */
      }
    }
    const code = json && json.error ? json.error.code : null;
    if (res.status >= 500 && base === GATEWAY) {
      stats.errors5xx.push({ t: Date.now(), route: key, status: res.status, code, message: json && json.error ? json.error.message : '' });
    }
    return { status: res.status, body: json, buf, code, message: json && json.error ? json.error.message || '' : '', ms, headers: res.headers };
  } catch (err) {
    st.statuses['lost'] = (st.statuses['lost'] || 0) + 1;
    if (base === GATEWAY) stats.lost.push({ t: Date.now(), route: key, error: err.name === 'AbortError' ? 'timeout' : String(err.cause?.code || err.message) });
    return { status: 0, body: null, code: null, message: String(err.message), ms: Date.now() - start };
  } finally {
    clearTimeout(timer);
  }
}

/** Worth another try with the same Idempotency-Key: no answer, a 5xx, or booking's "a concurrent
 * request used this key; retry" 409 (a retry that overtook its own first attempt). */
function retryable(r) {
  return r.status === 0 || r.status >= 500 || r.status === 429 || (r.status === 409 && r.code === 'conflict' && /retry/i.test(r.message));
}

async function retrying(fn, forMs = RETRY_FOR_MS) {
  const deadline = Date.now() + forMs;
  const attempts = [];
  let delay = 200;
  for (;;) {
    const r = await fn();
    attempts.push(r.status);
    if (!retryable(r) || Date.now() >= deadline) return { r, attempts, lostBefore: attempts.slice(0, -1).some((s) => s === 0 || s >= 500) };
    await sleep(delay + rand(delay));
    delay = Math.min(delay * 2, 2000);
  }
}

async function must(method, p, opts, want) {
  const { r } = await retrying(() => api(method, p, opts), 60000);
  if (r.status !== want) throw new Error(`${method} ${p} -> ${r.status} ${r.buf ? r.buf.toString().slice(0, 300) : r.message} (wanted ${want})`);
  return r.body;
}

/* ------------------------------------------------------------------ PostgreSQL (psql) */

function sql(db, q) {
  const out = execFileSync(PSQL, ['-X', '-q', '-At', '-F', '\t', '-h', '127.0.0.1', '-p', PG_PORT, '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-c', q], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 30000,
  });
  return out.split('\n').filter((l) => l.length).map((l) => l.split('\t'));
}
const scalar = (q) => Number(sql('booking', q)[0][0]);

/* ------------------------------------------------------------------ setup */

let adminToken;
let eventId;
const tiers = []; // {id, ...TIERS[i]}
const users = []; // {email, password, token, id}

async function setup() {
  adminToken = (await must('POST', '/api/sessions', { body: { email: env.BX_SOAK_ADMIN_EMAIL, password: env.BX_SOAK_ADMIN_PASSWORD } }, 201)).token;
  const venue = await must('POST', '/api/venues', {
    token: adminToken,
    headers: { 'Idempotency-Key': `soak-venue-${uuid()}` },
    body: { name: 'Soak Arena', address: '1 Fault Street', city: 'Leeds', country: 'GB', timezone: 'Europe/London' },
  }, 201);
  const starts = new Date(Date.now() + 30 * 86400e3);
  starts.setUTCHours(19, 30, 0, 0);
  const ends = new Date(starts.getTime() + 3 * 3600e3);
  const ev = await must('POST', '/api/events', {
    token: adminToken,
    headers: { 'Idempotency-Key': `soak-event-${uuid()}` },
    body: {
      title: 'Soak: the flash sale',
      description: 'tests/soak',
      category: 'concert',
      venue_id: venue.id,
      starts_at: starts.toISOString().replace(/\.\d+Z$/, 'Z'),
      ends_at: ends.toISOString().replace(/\.\d+Z$/, 'Z'),
      max_tickets_per_user: MAX_PER_USER,
      tiers: TIERS.map(({ name, price_cents, currency, capacity, max_per_order }) => ({ name, price_cents, currency, capacity, max_per_order })),
    },
  }, 201);
  eventId = ev.id;
  for (const t of TIERS) {
    const got = ev.tiers.find((x) => x.name === t.name);
    if (!got) throw new Error(`tier ${t.name} missing from ${JSON.stringify(ev.tiers)}`);
    tiers.push({ ...t, id: got.id });
  }
  await must('POST', `/api/events/${eventId}/publish`, { token: adminToken }, 200);
  log(`event ${eventId} published: ${tiers.map((t) => `${t.name} ${t.capacity} x ${t.price_cents} ${t.currency}`).join(', ')}`);

  const started = Date.now();
  let next = 0;
  let failures = 0;
  async function registrar() {
    while (next < USERS && Date.now() - started < REGISTER_LIMIT_MS) {
      const i = next++;
      const u = { email: `soak-${i}@soak.invalid`, password: `soak password ${i} ✓`, name: `Zoë Soak ${i}` };
      const reg = await retrying(() => api('POST', '/api/users', { body: u }), 60000);
      if (reg.r.status !== 201 && !(reg.r.status === 409 && reg.r.code === 'email_taken' && reg.lostBefore)) {
        failures++;
        log(`register ${u.email}: ${reg.r.status} ${reg.r.message}`);
        continue;
      }
      const s = await retrying(() => api('POST', '/api/sessions', { body: { email: u.email, password: u.password } }), 60000);
      if (s.r.status !== 201) {
        failures++;
        log(`log in ${u.email}: ${s.r.status} ${s.r.message}`);
        continue;
      }
      users.push({ email: u.email, token: s.r.body.token, id: s.r.body.user.id });
    }
  }
  await Promise.all(Array.from({ length: REGISTER_CONCURRENCY }, registrar));
  log(`${users.length} customers registered and logged in in ${((Date.now() - started) / 1000).toFixed(1)} s (${failures} failed)`);
  if (users.length < Math.max(2, USERS / 2)) throw new Error(`only ${users.length} of ${USERS} customers could register`);
  return { registerS: (Date.now() - started) / 1000, registerFailures: failures };
}

/* ------------------------------------------------------------------ load */

const told = {
  orders: new Map(), // order id -> {user, tier, quantity, amount, cancel: 'no'|'yes'|'unknown', holdId}
  unknownConfirms: [], // {holdId, user}: a confirm that never got a final answer, or whose retry got a final 4xx after a lost answer
  holds: 0,
  holdIds: new Set(),
  holdsUnknown: 0, // hold requests that never got a final answer (may have committed)
  soldOut: 0,
  limitExceeded: 0,
  releases: 0,
  abandoned: 0,
  lateConfirmsRefused: 0,
  lateConfirmsAccepted: [], // order ids confirmed after the hold's time: must not happen
  confirmRefused: {}, // code -> n (final refusals with no lost answer before)
  cancelsOk: 0,
  cancelsUnknown: 0,
  cancelAnomalies: [], // a first-attempt 409 for a cancel
  holdFailures: {}, // status/code -> n for holds that failed after retries
};
const availability = { polls: 0, failures: 0, oversold: [], maxTaken: {} };
let loadEnd = 0;

function pickTier() {
  const total = tiers.reduce((a, t) => a + t.weight, 0);
  let x = rand(total);
  for (const t of tiers) {
    if ((x -= t.weight) < 0) return t;
  }
  return tiers[0];
}

async function confirm(u, tier, hold, late) {
  const key = `soak-order-${uuid()}`;
  const { r, lostBefore } = await retrying(() => api('POST', '/api/orders', { token: u.token, headers: { 'Idempotency-Key': key }, body: { hold_id: hold.id } }));
  if (r.status === 201) {
    const o = r.body;
    if (late) told.lateConfirmsAccepted.push(o.id);
    told.orders.set(o.id, { user: u, tier: tier.id, quantity: hold.quantity, amount: hold.amount_cents, currency: hold.currency, cancel: 'no', holdId: hold.id, late });
    return o;
  }
  if (retryable(r) || lostBefore) {
    told.unknownConfirms.push({ holdId: hold.id, user: u, final: r.status, code: r.code, message: r.message, retryable: retryable(r), late });
    return null;
  }
  if (late && r.code === 'hold_expired') told.lateConfirmsRefused++;
  else told.confirmRefused[r.code || r.status] = (told.confirmRefused[r.code || r.status] || 0) + 1;
  return null;
}

async function cancel(u, orderId) {
  const o = told.orders.get(orderId);
  const { r, lostBefore } = await retrying(() => api('POST', `/api/orders/${orderId}/cancel`, { token: u.token }));
  if (r.status === 200) {
    o.cancel = 'yes';
    told.cancelsOk++;
  } else if (r.status === 409 && lostBefore) {
    o.cancel = 'yes'; // an earlier attempt whose answer was lost cancelled it; only we cancel it
    told.cancelsOk++;
  } else if (retryable(r)) {
    o.cancel = 'unknown';
    told.cancelsUnknown++;
  } else {
    told.cancelAnomalies.push({ orderId, status: r.status, code: r.code });
  }
}

async function client() {
  while (Date.now() < loadEnd) {
    const u = users[rand(users.length)];
    const tier = pickTier();
    const quantity = 1 + rand(tier.max_per_order);
    const hkey = `soak-hold-${uuid()}`;
    const { r } = await retrying(() => api('POST', '/api/holds', { token: u.token, headers: { 'Idempotency-Key': hkey }, body: { event_id: eventId, tier_id: tier.id, quantity } }), 15000);
    if (r.status !== 201) {
      if (retryable(r)) told.holdsUnknown++;
      if (r.code === 'sold_out') {
        told.soldOut++;
        await sleep(100 + rand(300));
      } else if (r.code === 'limit_exceeded') {
        told.limitExceeded++;
        await sleep(50);
      } else {
        const k = `${r.status} ${r.code || ''}`.trim();
        told.holdFailures[k] = (told.holdFailures[k] || 0) + 1;
        await sleep(300 + rand(500));
      }
      continue;
    }
    told.holds++;
    const hold = r.body;
    told.holdIds.add(hold.id);
    const dice = Math.random();
    if (dice < 0.55) {
      await sleep(rand(800)); // the customer reads the checkout page
      const o = await confirm(u, tier, hold, false);
      if (o && Math.random() < 0.15 && !told.orders.get(o.id).cancelling) {
        told.orders.get(o.id).cancelling = true;
        await sleep(rand(2000));
        await cancel(u, o.id);
      }
    } else if (dice < 0.60) {
      await sleep((HOLD_TTL_S + 2) * 1000); // too late: must be refused with hold_expired
      await confirm(u, tier, hold, true);
    } else if (dice < 0.80) {
      await sleep(rand(1000));
      const d = await retrying(() => api('DELETE', `/api/holds/${hold.id}`, { token: u.token }));
      if (d.r.status === 204) told.releases++;
    } else {
      told.abandoned++; // left to expire
    }
  }
}

async function monitor() {
  while (Date.now() < loadEnd) {
    const r = await api('GET', `/api/events/${eventId}/availability`, { timeoutMs: 5000 });
    availability.polls++;
    if (r.status === 200 && r.body && Array.isArray(r.body.tiers)) {
      for (const t of r.body.tiers) {
        const taken = t.sold + t.held;
        availability.maxTaken[t.tier_id] = Math.max(availability.maxTaken[t.tier_id] || 0, taken);
        const mine = tiers.find((x) => x.id === t.tier_id);
        if (taken > t.capacity || (mine && taken > mine.capacity) || t.available < 0) {
          availability.oversold.push({ t: Date.now(), ...t });
        }
      }
    } else {
      availability.failures++;
    }
    await sleep(500);
  }
}

/** Customers who change their mind: a random order is cancelled now and then, so seats of the
 * sold-out tiers come back and are raced for again all through the run. */
async function regrets() {
  while (Date.now() < loadEnd) {
    await sleep(REGRET_EVERY_MS);
    const open = [...told.orders.entries()].filter(([, o]) => o.cancel === 'no' && !o.cancelling);
    if (!open.length) continue;
    const [id, o] = open[rand(open.length)];
    o.cancelling = true;
    await cancel(o.user, id);
  }
}

/** The organizer's dashboard: analytics totals through the gateway, once a second. */
const dashboard = { polls: 0, failures: 0, lastSold: 0, backwards: 0 };
async function organizer() {
  while (Date.now() < loadEnd) {
    const r = await api('GET', '/api/analytics/summary', { token: adminToken, timeoutMs: 5000 });
    dashboard.polls++;
    if (r.status === 200 && r.body) dashboard.lastSold = r.body.tickets_sold;
    else dashboard.failures++;
    await sleep(1000);
  }
}

/* ------------------------------------------------------------------ settle */

async function until(what, ms, fn, every = 1000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last && last.ok) return { ok: true, waitedMs: ms - (deadline - Date.now()), last };
    } catch (err) {
      last = { error: err.message };
    }
    if (Date.now() >= deadline) {
      log(`gave up waiting for ${what}: ${JSON.stringify(last).slice(0, 300)}`);
      return { ok: false, waitedMs: ms, last };
    }
    await sleep(every);
  }
}

/* ------------------------------------------------------------------ checks */

const results = []; // {name, value, expected, pass, note}
function result(name, value, expected, pass, note = '') {
  results.push({ name, value: String(value), expected: String(expected), pass, note });
  log(`${pass === null ? 'INFO' : pass ? 'PASS' : 'FAIL'} ${name}: ${value} (expected ${expected})${note ? ` — ${note}` : ''}`);
}

function dbTruth() {
  const inv = sql('booking', `SELECT tier_id, capacity, sold, held,
      (SELECT COALESCE(SUM(quantity),0) FROM orders o WHERE o.tier_id = i.tier_id AND o.status = 'confirmed'),
      (SELECT COALESCE(SUM(quantity),0) FROM holds h WHERE h.tier_id = i.tier_id AND h.status = 'active')
    FROM inventory i WHERE event_id = '${eventId}'`).map(([tier, cap, sold, held, sumO, sumH]) => ({ tier, cap: +cap, sold: +sold, held: +held, sumO: +sumO, sumH: +sumH }));
  const revenue = {};
  for (const [cur, cents] of sql('booking', `SELECT currency, SUM(amount_cents) FROM orders WHERE status = 'confirmed' GROUP BY currency`)) revenue[cur] = +cents;
  return {
    inv,
    confirmedOrders: scalar(`SELECT COUNT(*) FROM orders WHERE status = 'confirmed'`),
    cancelledOrders: scalar(`SELECT COUNT(*) FROM orders WHERE status = 'cancelled'`),
    ticketsSold: scalar(`SELECT COALESCE(SUM(quantity),0) FROM orders WHERE status = 'confirmed'`),
    revenue,
    holdsCreated: scalar(`SELECT COUNT(*) FROM holds`),
    holdsExpired: scalar(`SELECT COUNT(*) FROM holds WHERE status = 'expired'`),
    held: scalar(`SELECT COALESCE(SUM(held),0) FROM inventory`),
  };
}

const sameRevenue = (a, b) => {
  const keys = new Set([...Object.keys(a || {}), ...Object.keys(b || {})]);
  for (const k of keys) if ((a?.[k] || 0) !== (b?.[k] || 0)) return false;
  return true;
};
const fmtRevenue = (r) => Object.entries(r || {}).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ') || '0';

async function analyticsView(base) {
  const s = await api('GET', '/api/analytics/summary', { token: adminToken, base });
  const e = await api('GET', `/api/analytics/events/${eventId}`, { token: adminToken, base });
  if (s.status !== 200 || e.status !== 200) return { error: `summary ${s.status}, event ${e.status} ${e.message || s.message}` };
  return { summary: s.body, event: e.body };
}

function analyticsDiffs(v, db) {
  if (v.error) return [v.error];
  const d = [];
  const cmp = (name, got, want) => {
    if (got !== want) d.push(`${name} ${got} != ${want}`);
  };
  cmp('summary.tickets_sold', v.summary.tickets_sold, db.ticketsSold);
  cmp('summary.orders', v.summary.orders, db.confirmedOrders);
  if (!sameRevenue(v.summary.revenue, db.revenue)) d.push(`summary.revenue ${fmtRevenue(v.summary.revenue)} != ${fmtRevenue(db.revenue)}`);
  cmp('event.tickets_sold', v.event.tickets_sold, db.ticketsSold);
  if (!sameRevenue(v.event.revenue, db.revenue)) d.push(`event.revenue ${fmtRevenue(v.event.revenue)} != ${fmtRevenue(db.revenue)}`);
  cmp('event.cancellations', v.event.cancellations, db.cancelledOrders);
  cmp('event.holds_created', v.event.holds_created, db.holdsCreated);
  cmp('event.holds_expired', v.event.holds_expired, db.holdsExpired);
  cmp('event.active_holds', v.event.active_holds, db.held);
  return d;
}

function pct(arr, p) {
  if (!arr.length) return 0;
  const s = [...arr].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))];
}

function readFaults() {
  try {
    return fs.readFileSync(path.join(DIR, 'faults.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

function procAlive(name) {
  try {
    const pid = Number(fs.readFileSync(path.join(DIR, 'run', `${name}.pid`), 'utf8').trim());
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Warnings and errors in the service logs (JSON lines) and PostgreSQL's log, grouped by message
 * with ids and numbers blanked: where a failure shows up as a symptom, this names its cause. */
function logFindings() {
  const out = [];
  const norm = (m) => m.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>').replace(/\d+/g, '#').slice(0, 220);
  const logDir = path.join(DIR, 'log');
  for (const f of fs.existsSync(logDir) ? fs.readdirSync(logDir).sort() : []) {
    if (!f.endsWith('.log') || f.startsWith('nginx-access')) continue;
    const counts = new Map();
    for (const line of fs.readFileSync(path.join(logDir, f), 'utf8').split('\n')) {
      let level = null;
      let msg = null;
      if (line.startsWith('{')) {
        try {
          const j = JSON.parse(line);
          level = j.level;
          msg = j.msg;
        } catch {
          continue;
        }
      } else if (/\[(error|warn|crit|alert|emerg)\]/.test(line)) {
        level = 'nginx';
        msg = line.replace(/^.*?\[(\w+)\] \d+#\d+: (\*\d+ )?/, '$1: ');
      }
      if (!msg || !(level === 'warn' || level === 'error' || level === 'nginx')) continue;
      const k = `${level}: ${norm(msg)}`;
      counts.set(k, (counts.get(k) || 0) + 1);
    }
    if (counts.size) out.push({ file: f, top: [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8) });
  }
  const pgLog = path.join(DIR, 'pg', 'server.log');
  if (fs.existsSync(pgLog)) {
    const counts = new Map();
    for (const line of fs.readFileSync(pgLog, 'utf8').split('\n')) {
      const m = /(ERROR|FATAL|PANIC):\s+(.*)$/.exec(line);
      if (m) counts.set(`${m[1]}: ${norm(m[2])}`, (counts.get(`${m[1]}: ${norm(m[2])}`) || 0) + 1);
    }
    if (counts.size) out.push({ file: 'postgresql server.log', top: [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8) });
  }
  return out;
}

function countInLog(file, re) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => re.test(l)).length;
  } catch {
    return 0;
  }
}

/* ------------------------------------------------------------------ main */

async function main() {
  const info = await setup();
  const ttfStart = Date.now();
  loadEnd = Date.now() + DURATION_S * 1000;
  fs.writeFileSync(path.join(DIR, 'load.started'), String(ttfStart));
  log(`load: ${CLIENTS} clients for ${DURATION_S} s over ${users.length} customers`);
  const progress = setInterval(() => {
    log(`holds ${told.holds}, orders ${told.orders.size}, sold_out ${told.soldOut}, 5xx ${stats.errors5xx.length}, lost ${stats.lost.length}`);
  }, 15000);
  await Promise.all([...Array.from({ length: CLIENTS }, client), monitor(), organizer(), regrets()]);
  clearInterval(progress);
  const loadS = (Date.now() - ttfStart) / 1000;
  log(`load done after ${loadS.toFixed(0)} s: ${told.holds} holds, ${told.orders.size} orders told 201`);

  // ---- settle
  const settle = {};
  settle.faults = await until('the fault schedule to finish', SETTLE.faultsMs, () => ({ ok: fs.existsSync(path.join(DIR, 'faults.done')) }));
  settle.holds = await until('every hold to leave active', SETTLE.holdsMs, () => {
    const n = scalar(`SELECT COUNT(*) FROM holds WHERE status = 'active'`);
    return { ok: n === 0, active: n };
  });
  settle.outbox = await until('the outbox and the order documents to drain', SETTLE.outboxMs, () => {
    const o = scalar(`SELECT COUNT(*) FROM outbox WHERE published_at IS NULL`);
    const x = scalar(`SELECT COUNT(*) FROM exports WHERE done_at IS NULL`);
    return { ok: o === 0 && x === 0, outbox: o, exports: x };
  });
  const db = dbTruth();
  const dbOrders = sql('booking', `SELECT id, user_id, status, quantity, tier_id, hold_id, tickets FROM orders`).map(([id, user, status, quantity, tier, holdId, tickets]) => ({ id, user, status, quantity: +quantity, tier, holdId, tickets: JSON.parse(tickets) }));
  const byId = new Map(dbOrders.map((o) => [o.id, o]));
  const byHold = new Map(dbOrders.map((o) => [o.holdId, o]));
  const tokenOf = new Map(users.map((u) => [u.id, u.token]));

  // tickets: every confirmed order's tickets ready, every cancelled order's revoked
  let ticketState = new Map();
  async function ticketRound() {
    let missing = 0;
    let unrevoked = 0;
    const todo = dbOrders.filter((o) => !ticketState.get(o.id)?.ok);
    for (let i = 0; i < todo.length; i += 16) {
      await Promise.all(todo.slice(i, i + 16).map(async (o) => {
        const r = await api('GET', `/api/orders/${o.id}/tickets`, { token: tokenOf.get(o.user) || adminToken, timeoutMs: 10000 });
        const items = r.status === 200 && r.body && Array.isArray(r.body.items) ? r.body.items : [];
        const want = o.status === 'confirmed' ? 'ready' : 'revoked';
        const ids = new Set(items.map((t) => t.id));
        const ok = items.length === o.tickets.length && o.tickets.every((id) => ids.has(id)) && items.every((t) => t.status === want && (want !== 'ready' || t.pdf_url));
        ticketState.set(o.id, { ok, status: r.status, got: items.map((t) => t.status).join(',') });
      }));
    }
    for (const o of dbOrders) {
      if (ticketState.get(o.id)?.ok) continue;
      if (o.status === 'confirmed') missing++;
      else unrevoked++;
    }
    return { ok: missing === 0 && unrevoked === 0, missing, unrevoked };
  }
  settle.tickets = await until('tickets to be ready (and revoked for cancelled orders)', SETTLE.ticketsMs, ticketRound, 3000);

  // analytics: both replicas converge on the database's numbers
  let viewA = null;
  let viewB = null;
  settle.analytics = await until('analytics to equal the database', SETTLE.analyticsMs, async () => {
    viewA = await analyticsView(GATEWAY);
    viewB = await analyticsView(ANALYTICS_B);
    const a = analyticsDiffs(viewA, db);
    const b = analyticsDiffs(viewB, db);
    return { ok: a.length === 0 && b.length === 0, a, b };
  }, 2000);

  // ---- checks
  const oversold = db.inv.reduce((a, t) => a + Math.max(0, t.sold + t.held - t.cap), 0);
  result('oversold seats (sold + held > capacity, booking DB)', oversold, 0, oversold === 0, db.inv.map((t) => `${tiers.find((x) => x.id === t.tier)?.name}: ${t.sold} sold + ${t.held} held / ${t.cap}`).join('; '));
  const capOff = db.inv.filter((t) => t.cap !== tiers.find((x) => x.id === t.tier)?.capacity).length;
  result('tiers whose booking capacity differs from the catalog', capOff, 0, capOff === 0);
  const countOff = db.inv.filter((t) => t.sold !== t.sumO || t.held !== t.sumH).length;
  const checkRefusals = countInLog(path.join(DIR, 'pg', 'server.log'), /violates check constraint "inventory_check"/);
  result('booking batches refused by the inventory CHECK constraint', checkRefusals, 0, checkRefusals === 0, 'booking decided a batch past capacity and the constraint caught it: no oversell, but every request of that batch got a 503');
  result('tiers whose sold/held counters differ from their order/hold rows', countOff, 0, countOff === 0);
  result('client-visible oversell (availability polls with sold + held > capacity)', availability.oversold.length, 0, availability.oversold.length === 0, `${availability.polls} polls, ${availability.failures} failed`);

  let missing = 0;
  let wrong = 0;
  const missingIds = [];
  for (const [id, o] of told.orders) {
    const d = byId.get(id);
    if (!d) {
      missing++;
      missingIds.push(id);
      continue;
    }
    const wantCancelled = o.cancel === 'yes';
    if ((o.cancel !== 'unknown' && (d.status === 'cancelled') !== wantCancelled) || d.quantity !== o.quantity || d.tier !== o.tier || d.user !== o.user.id) wrong++;
  }
  result('confirmed orders missing (201 told, not in the DB)', missing, 0, missing === 0, missingIds.slice(0, 5).join(' '));
  result('orders whose status/quantity/tier/owner differ from what clients were told', wrong, 0, wrong === 0);
  const onePerHold = scalar(`SELECT COUNT(*) FROM orders`) === scalar(`SELECT COUNT(*) FROM holds WHERE status = 'confirmed'`);
  result('one order per confirmed hold', onePerHold ? 'yes' : 'no', 'yes', onePerHold);
  result('late confirms accepted (hold past its TTL confirmed)', told.lateConfirmsAccepted.length, 0, told.lateConfirmsAccepted.length === 0, `${told.lateConfirmsRefused} refused with hold_expired`);
  const committedUnknown = told.unknownConfirms.filter((c) => byHold.has(c.holdId)).length;
  const idemBroken = told.unknownConfirms.filter((c) => byHold.has(c.holdId) && !c.retryable).length;
  result('confirm retries with the same Idempotency-Key answered 4xx although the first attempt committed', idemBroken, 0, idemBroken === 0, `${told.unknownConfirms.length} confirms ended without a 201 after a lost answer/5xx; ${committedUnknown} of them committed`);
  const dbHoldIds = new Set(sql('booking', `SELECT id FROM holds`).map((r) => r[0]));
  const orphans = [...dbHoldIds].filter((id) => !told.holdIds.has(id)).length;
  result('holds in the DB no client was told about (must not exceed hold requests left without a final answer)', orphans, `<= ${told.holdsUnknown}`, orphans <= told.holdsUnknown, 'a retried hold with the same Idempotency-Key must replay, not hold again');
  const toldNotInDb = [...told.holdIds].filter((id) => !dbHoldIds.has(id)).length;
  result('holds answered 201 that are not in the DB', toldNotInDb, 0, toldNotInDb === 0);
  result('cancels answered 409 on their first attempt', told.cancelAnomalies.length, 0, told.cancelAnomalies.length === 0);

  const tMissing = dbOrders.filter((o) => o.status === 'confirmed' && !ticketState.get(o.id)?.ok);
  const tUnrevoked = dbOrders.filter((o) => o.status === 'cancelled' && !ticketState.get(o.id)?.ok);
  result('confirmed orders whose tickets are not all ready (GET /api/orders/{id}/tickets)', tMissing.length, 0, tMissing.length === 0, `${db.confirmedOrders} confirmed orders, ${db.ticketsSold} tickets; ${tMissing.slice(0, 3).map((o) => `${o.id}: ${JSON.stringify(ticketState.get(o.id))}`).join('; ')}`);
  result('cancelled orders whose tickets are not all revoked', tUnrevoked.length, 0, tUnrevoked.length === 0, `${db.cancelledOrders} cancelled orders; ${tUnrevoked.slice(0, 3).map((o) => `${o.id}: ${JSON.stringify(ticketState.get(o.id))}`).join('; ')}`);
  // a sample of PDFs
  let pdfBad = 0;
  const sample = dbOrders.filter((o) => o.status === 'confirmed').slice(0, 20);
  for (const o of sample) {
    const r = await api('GET', `/api/tickets/${o.tickets[0]}.pdf`, { token: tokenOf.get(o.user) || adminToken, raw: true });
    if (r.status !== 200 || !r.buf || r.buf.subarray(0, 5).toString() !== '%PDF-') pdfBad++;
  }
  result(`ticket PDFs that do not download (sample of ${sample.length})`, pdfBad, 0, pdfBad === 0);

  const dA = analyticsDiffs(viewA || { error: 'no answer' }, db);
  const dB = analyticsDiffs(viewB || { error: 'no answer' }, db);
  const dbLine = `DB: ${db.ticketsSold} tickets, ${db.confirmedOrders} orders, revenue ${fmtRevenue(db.revenue)}, ${db.cancelledOrders} cancellations, ${db.holdsCreated} holds (${db.holdsExpired} expired), ${db.held} held`;
  result('analytics A (SQLite, via gateway) totals vs database: differences', dA.length, 0, dA.length === 0, dA.length ? dA.join('; ') : dbLine);
  result('analytics B (PostgreSQL, direct) totals vs database: differences', dB.length, 0, dB.length === 0, dB.length ? dB.join('; ') : 'same numbers');
  result('outbox drained and every order document written', settle.outbox.ok ? 'yes' : JSON.stringify(settle.outbox.last), 'yes', settle.outbox.ok);
  result('holds still active after TTL + settle', settle.holds.last?.active ?? '?', 0, settle.holds.ok);
  const dead = PROCS.filter((n) => !procAlive(n));
  result('processes not running at the end (died on their own)', dead.length, 0, dead.length === 0, dead.join(', '));
  const faults = readFaults();
  const badFaults = faults.filter((f) => !f.ok);
  result('faults injected and recovered', `${faults.length - badFaults.length}/${faults.length}`, '6/6', faults.length === 6 && badFaults.length === 0, badFaults.map((f) => f.name).join(', '));

  // 5xx attribution
  // each answer belongs to the latest fault that started before it, while that one is on (+grace)
  const windowOf = (t) => {
    let w = null;
    for (const f of faults) if (t >= f.start_ms && t <= f.end_ms + FAULT_GRACE_MS && (!w || f.start_ms > w.start_ms)) w = f;
    return w;
  };
  const inWindow = (t) => windowOf(t) !== null;
  const e5In = stats.errors5xx.filter((e) => inWindow(e.t));
  const e5Out = stats.errors5xx.filter((e) => !inWindow(e.t));
  const lostIn = stats.lost.filter((e) => inWindow(e.t));
  result('client-visible 5xx (counted; allowed during faults)', stats.errors5xx.length, 'reported', null, `${e5In.length} during faults (+${FAULT_GRACE_MS / 1000} s), ${e5Out.length} outside; no answer at all: ${stats.lost.length} (${lostIn.length} during faults)`);

  // ---- the report
  const passAll = results.every((r) => r.pass !== false);
  const lines = [];
  lines.push('# Soak report (`make soak`)', '');
  lines.push(`${new Date().toISOString()} — **${passAll ? 'PASS' : 'FAIL'}**`, '');
  lines.push(`Stack: devkafka, PostgreSQL (booking DB + analytics B state), catalog (SQLite), users (LMDB), booking x2 behind nginx round robin (the gateway's BOXOFFICE_BOOKING_URL), ticketgen (LMDB, file objects), analytics A (SQLite, behind the gateway), analytics B (PostgreSQL, asked directly), frontend gateway with BOXOFFICE_RATE_LIMIT_RPS=0. Hold TTL ${HOLD_TTL_S} s.`, '');
  lines.push(`Load: ${users.length} customers registered + logged in through the gateway in ${info.registerS.toFixed(1)} s; ${CLIENTS} concurrent clients for ${loadS.toFixed(0)} s on one event (${tiers.map((t) => `${t.name} ${t.capacity} seats at ${t.price_cents} ${t.currency}`).join(', ')}; at most ${MAX_PER_USER} per customer).`, '');
  lines.push('## Invariants', '', '| check | value | expected | result | notes |', '|---|---|---|---|---|');
  for (const r of results) lines.push(`| ${r.name} | ${r.value} | ${r.expected} | ${r.pass === null ? 'INFO' : r.pass ? 'PASS' : '**FAIL**'} | ${r.note.replace(/\|/g, '\\|')} |`);
  lines.push('', '## What the clients did', '');
  lines.push(`- holds created: ${told.holds}; sold_out answers: ${told.soldOut}; limit_exceeded: ${told.limitExceeded}; holds failed after retries: ${JSON.stringify(told.holdFailures)}`);
  lines.push(`- orders told 201: ${told.orders.size}; cancels 200 (in the flow, and one customer a second changing their mind): ${told.cancelsOk} (unknown outcome: ${told.cancelsUnknown}); releases 204: ${told.releases}; abandoned holds: ${told.abandoned}`);
  lines.push(`- late confirms refused (hold_expired): ${told.lateConfirmsRefused}; other final confirm refusals: ${JSON.stringify(told.confirmRefused)}`);
  lines.push(`- confirms without a final answer or ending 4xx after a lost answer: ${told.unknownConfirms.length} (${committedUnknown} committed per the DB)`);
  lines.push(`- ${dbLine}`);
  lines.push(`- organizer dashboard (GET /api/analytics/summary via the gateway, 1/s): ${dashboard.polls} polls, ${dashboard.failures} failed`);
  lines.push(`- availability polls: ${availability.polls}; highest sold + held seen per tier: ${tiers.map((t) => `${t.name} ${availability.maxTaken[t.id] || 0}/${t.capacity}`).join(', ')}`);
  lines.push('', '## Faults', '', '| fault | start (s into load) | recovered after (s) | ok | detail |', '|---|---|---|---|---|');
  for (const f of faults) lines.push(`| ${f.name} | ${((f.start_ms - ttfStart) / 1000).toFixed(1)} | ${((f.end_ms - f.start_ms) / 1000).toFixed(1)} | ${f.ok ? 'yes' : '**no**'} | ${f.detail} |`);
  lines.push('', '## Client-visible 5xx and lost answers', '');
  lines.push('5xx answers are allowed while a fault is on (and for 10 s after it ended); they are counted, not failed. Each answer is attributed to the latest fault that started before it. "lost" = no answer within 15 s or a reset connection.', '');
  lines.push('| fault window | 5xx | lost | by route and status |', '|---|---|---|---|');
  const windows = [...faults.map((f) => ({ name: f.name, f })), { name: 'outside every fault window', f: null }];
  for (const w of windows) {
    const sel = (e) => windowOf(e.t) === w.f;
    const es = stats.errors5xx.filter(sel);
    const ls = stats.lost.filter(sel);
    const by = {};
    for (const e of es) by[`${e.route} ${e.status}${e.code ? ` ${e.code}` : ''}`] = (by[`${e.route} ${e.status}${e.code ? ` ${e.code}` : ''}`] || 0) + 1;
    for (const e of ls) by[`${e.route} lost (${e.error})`] = (by[`${e.route} lost (${e.error})`] || 0) + 1;
    lines.push(`| ${w.name} | ${es.length} | ${ls.length} | ${Object.entries(by).map(([k, v]) => `${k}: ${v}`).join('; ') || '-'} |`);
  }
  lines.push('', '### Latency of booking writes by window', '', 'Answered holds, releases, confirms and cancels through the gateway (request start in the window).', '');
  lines.push('| window | requests | p50 ms | p99 ms | max ms |', '|---|---|---|---|---|');
  for (const w of windows) {
    const ms = stats.writes.filter((x) => x.t >= ttfStart && windowOf(x.t) === w.f).map((x) => x.ms);
    lines.push(`| ${w.name} | ${ms.length} | ${pct(ms, 0.5)} | ${pct(ms, 0.99)} | ${ms.length ? Math.max(...ms) : 0} |`);
  }
  lines.push('', '## Requests through the gateway', '', '| route | answers by status | p50 ms | p99 ms | max ms |', '|---|---|---|---|---|');
  for (const [k, st] of [...stats.byRoute.entries()].sort()) {
    lines.push(`| ${k} | ${Object.entries(st.statuses).map(([s, n]) => `${s}: ${n}`).join(', ')} | ${pct(st.ms, 0.5)} | ${pct(st.ms, 0.99)} | ${st.ms.length ? Math.max(...st.ms) : 0} |`);
  }
  lines.push('', '## Warnings and errors in the logs', '', 'Grouped by message, ids and numbers blanked (`#`); the 8 most frequent per log. Connection errors during the injected faults are expected here.', '');
  for (const { file, top } of logFindings()) {
    lines.push(`- **${file}**`);
    for (const [k, n] of top) lines.push(`  - ${n} × \`${k.replace(/`/g, "'")}\``);
  }
  lines.push('', '## Settling after the load', '');
  for (const [k, v] of Object.entries(settle)) lines.push(`- ${k}: ${v.ok ? 'done' : '**not done**'} after ${(v.waitedMs / 1000).toFixed(1)} s${v.ok ? '' : ` (${JSON.stringify(v.last).slice(0, 400)})`}`);
  fs.mkdirSync(path.dirname(REPORT), { recursive: true });
  fs.writeFileSync(REPORT, lines.join('\n') + '\n');
  fs.writeFileSync(path.join(DIR, 'soak-details.json'), JSON.stringify({ results, told: { ...told, orders: told.orders.size, unknownConfirms: told.unknownConfirms.map((c) => ({ ...c, user: c.user.email })) }, errors5xx: stats.errors5xx, lost: stats.lost, availability, faults, settle }, null, 1));
  console.log('\n' + lines.join('\n'));
  return passAll ? 0 : 1;
}

main().then(
  (rc) => process.exit(rc),
  (err) => {
    console.error(`soak.mjs: ${err.stack || err}`);
    try {
      fs.mkdirSync(path.dirname(REPORT), { recursive: true });
      fs.writeFileSync(REPORT, `# Soak report (\`make soak\`)\n\n**FAIL**: the run stopped early: ${err.message}\n`);
    } catch {
      /* nothing more to do */
    }
    process.exit(1);
  },
);
