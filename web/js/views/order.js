// SPDX-License-Identifier: Apache-2.0
// #/orders/<id>: an order and its tickets. Ticket status comes from ticketgen (GET
// /api/orders/{id}/tickets), polled with a growing interval until every ticket is ready or
// revoked (a 404 there means ticketgen has not seen the order yet). A ready ticket can be saved as
// PDF (the route needs the Authorization header, so: fetch → blob → object URL → download link)
// or shown on screen as a QR code drawn from GET /api/tickets/{id}/payload. Cancelling asks for
// confirmation first (POST /api/orders/{id}/cancel).
import { h, put, money, when, shortId } from '../dom.js';
import { api, errorText } from '../api.js';
import { getEvent, tierOf } from '../catalog.js';
import { busy } from '../forms.js';
import { qrSvg } from '../qr.js';

const POLL_FIRST_MS = 1000;
const POLL_MAX_MS = 5000;

export default async function orderView(ctx) {
  const id = ctx.params.id;
  put(ctx.root, h('h1', {}, 'Order'), h('p', { class: 'status', role: 'status' }, 'Loading your order…'));
  let order;
  try {
    order = await api(`/api/orders/${encodeURIComponent(id)}`, { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
    put(
      ctx.root,
      h('h1', {}, err.code === 'not_found' ? 'Order not found' : 'Order'),
      h('p', { class: 'error', role: 'alert' }, err.code === 'not_found' ? 'This order does not exist or belongs to another account.' : errorText(err)),
      h('p', {}, h('a', { href: '#/orders' }, 'My orders')),
    );
    return;
  }
  let ev = null;
  try {
    ev = await getEvent(order.event_id, { signal: ctx.signal });
  } catch (err) {
    if (err.name === 'AbortError') return;
  }
  const tier = ev ? tierOf(ev, order.tier_id) : null;
  const tz = ev && ev.venue ? ev.venue.timezone : undefined;

  const urls = [];
  ctx.onLeave(() => urls.forEach((u) => URL.revokeObjectURL(u)));

  const statusBadge = h('span', { class: ['badge', `status-${order.status}`] }, order.status);
  const ticketStatus = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const ticketList = h('ol', { class: 'tickets' });
  const cancelBox = h('div', { class: 'cancel-box' });
  const rows = new Map(); // ticket id → {li, badge, actions, pdfSlot, qrSlot, status}

  put(
    ctx.root,
    h('p', { class: 'crumbs' }, h('a', { href: '#/orders' }, '← My orders')),
    h('h1', {}, ev ? ev.title : 'Order', h('span', { class: 'subtitle' }, ` · order ${shortId(order.id)}`)),
    h(
      'dl',
      { class: 'summary' },
      h('dt', {}, 'Event'), h('dd', {}, ev ? h('a', { href: `#/events/${ev.id}` }, ev.title) : shortId(order.event_id)),
      ev ? [h('dt', {}, 'When'), h('dd', {}, when(ev.starts_at, tz))] : null,
      ev && ev.venue ? [h('dt', {}, 'Where'), h('dd', {}, `${ev.venue.name}, ${ev.venue.city}`)] : null,
      h('dt', {}, 'Tickets'), h('dd', {}, `${order.quantity} × ${tier ? tier.name : 'ticket'}`),
      h('dt', {}, 'Total'), h('dd', {}, money(order.amount_cents, order.currency)),
      h('dt', {}, 'Status'), h('dd', {}, statusBadge),
      h('dt', {}, 'Placed'), h('dd', {}, when(order.created_at)),
      h('dt', {}, 'Order id'), h('dd', { class: 'mono' }, order.id),
    ),
    h('section', { 'aria-labelledby': 'tickets-h' }, h('h2', { id: 'tickets-h' }, 'Tickets'), ticketStatus, ticketList),
    cancelBox,
  );

  (order.tickets || []).forEach((t, i) => {
    const badge = h('span', { class: 'badge' });
    const actions = h('div', { class: 'ticket-actions' });
    const pdfSlot = h('div', { class: 'pdf-slot' });
    const qrSlot = h('div', { class: 'qr-slot' });
    const li = h(
      'li',
      { class: 'ticket', dataset: { ticketId: t.id } },
      h('div', { class: 'ticket-head' }, h('h3', {}, `Ticket ${i + 1} of ${order.tickets.length}`), badge, h('span', { class: 'mono hint' }, shortId(t.id))),
      actions,
      pdfSlot,
      qrSlot,
    );
    rows.set(t.id, { t, li, badge, actions, pdfSlot, qrSlot, status: null });
    ticketList.append(li);
    setStatus(rows.get(t.id), order.status === 'cancelled' ? 'revoked' : 'pending', t);
  });

  function setStatus(row, status, t) {
    if (row.status === status) return;
    row.status = status;
    row.t = { ...row.t, ...t };
    row.badge.className = `badge status-${status}`;
    row.badge.textContent = { pending: 'preparing', ready: 'ready', revoked: 'revoked' }[status] || status;
    row.actions.replaceChildren();
    if (status === 'ready') {
      const pdfBtn = h('button', { type: 'button', class: 'primary' }, 'Download PDF');
      const qrBtn = h('button', { type: 'button', class: 'secondary', 'aria-expanded': 'false' }, 'Show QR code');
      pdfBtn.addEventListener('click', () => downloadPdf(row, pdfBtn));
      qrBtn.addEventListener('click', () => toggleQr(row, qrBtn));
      row.actions.append(pdfBtn, qrBtn);
    } else {
      row.pdfSlot.replaceChildren();
      row.qrSlot.replaceChildren();
    }
  }

  async function downloadPdf(row, btn) {
    row.pdfSlot.replaceChildren();
    try {
      const path = row.t.pdf_url && row.t.pdf_url.startsWith('/api/') ? row.t.pdf_url : `/api/tickets/${encodeURIComponent(row.t.id)}.pdf`;
      const res = await busy(btn, () => api(path, { raw: true, signal: ctx.signal }), 'Downloading…');
      const blob = await res.blob();
      const url = URL.createObjectURL(new Blob([blob], { type: 'application/pdf' }));
      urls.push(url);
      const name = `ticket-${row.t.id}.pdf`;
      const a = h('a', { href: url, download: name, class: 'download-link' }, 'Save it again');
      put(row.pdfSlot, h('p', { class: 'ok' }, 'Ticket PDF downloaded. ', a));
      a.click();
    } catch (err) {
      if (err.name === 'AbortError') return;
      put(row.pdfSlot, h('p', { class: 'error', role: 'alert' }, err.code === 'not_found' ? 'This ticket’s PDF is not ready yet. Try again in a moment.' : errorText(err)));
    }
  }

  async function toggleQr(row, btn) {
    if (btn.getAttribute('aria-expanded') === 'true') {
      btn.setAttribute('aria-expanded', 'false');
      btn.textContent = 'Show QR code';
      row.qrSlot.replaceChildren();
      return;
    }
    try {
      const p = await busy(btn, () => api(`/api/tickets/${encodeURIComponent(row.t.id)}/payload`, { signal: ctx.signal }), 'Loading…');
      const code = qrSvg(p.payload, { label: `QR code of ticket ${shortId(row.t.id)}` });
      put(
        row.qrSlot,
        h(
          'figure',
          { class: 'qr-figure' },
          code,
          h('figcaption', {}, 'Show this code at the door. Turn your screen brightness up.'),
          h('details', {}, h('summary', {}, 'Code as text'), h('code', { class: 'payload' }, p.payload)),
        ),
      );
      btn.setAttribute('aria-expanded', 'true');
      btn.textContent = 'Hide QR code';
    } catch (err) {
      if (err.name === 'AbortError') return;
      put(row.qrSlot, h('p', { class: 'error', role: 'alert' }, err.code === 'not_found' ? 'The code of this ticket is not available yet.' : errorText(err)));
    }
  }

  function summarize() {
    const all = [...rows.values()];
    const ready = all.filter((r) => r.status === 'ready').length;
    const revoked = all.filter((r) => r.status === 'revoked').length;
    if (revoked === all.length) {
      ticketStatus.textContent = 'These tickets were revoked.';
      return true;
    }
    if (ready + revoked === all.length) {
      ticketStatus.textContent = `Your ticket${all.length === 1 ? ' is' : 's are'} ready.`;
      return true;
    }
    ticketStatus.textContent = `Preparing your tickets… (${ready} of ${all.length} ready)`;
    return false;
  }

  let delay = POLL_FIRST_MS;
  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));
  async function poll() {
    try {
      const r = await api(`/api/orders/${encodeURIComponent(order.id)}/tickets`, { signal: ctx.signal });
      for (const t of r.items || []) {
        const row = rows.get(t.id);
        // once cancelled here, a late answer still saying "ready" must not bring buttons back
        if (row) setStatus(row, order.status === 'cancelled' ? 'revoked' : t.status, t);
      }
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (err.code !== 'not_found') {
        ticketStatus.textContent = `Cannot check your tickets right now (${errorText(err)}) Retrying…`;
        schedule();
        return;
      }
      // not_found: ticketgen has not processed the order yet
    }
    if (!summarize()) schedule();
  }
  function schedule() {
    if (!ctx.alive()) return;
    timer = setTimeout(poll, delay);
    delay = Math.min(POLL_MAX_MS, Math.round(delay * 1.5));
  }
  summarize();
  if (order.status !== 'cancelled') {
    await poll();
  }

  function renderCancel() {
    if (order.status !== 'confirmed') {
      cancelBox.replaceChildren();
      return;
    }
    const start = h('button', { type: 'button', class: 'danger', 'aria-expanded': 'false', 'aria-controls': 'cancel-confirm' }, 'Cancel order');
    const msg = h('p', { class: 'error', role: 'alert' });
    put(cancelBox, h('h2', {}, 'Cancel'), start, msg);
    start.addEventListener('click', () => {
      const yes = h('button', { type: 'button', class: 'danger' }, 'Yes, cancel this order');
      const no = h('button', { type: 'button', class: 'secondary' }, 'No, keep it');
      const panel = h(
        'div',
        { class: 'confirm', id: 'cancel-confirm', role: 'group', 'aria-labelledby': 'cancel-q' },
        h('p', { id: 'cancel-q' }, `Cancel this order? All ${order.quantity} ticket${order.quantity === 1 ? '' : 's'} will be revoked, even any already scanned, and the seats go back on sale. This cannot be undone.`),
        h('div', { class: 'actions' }, yes, no),
      );
      start.replaceWith(panel);
      no.focus();
      no.addEventListener('click', () => {
        renderCancel();
        cancelBox.querySelector('button').focus();
      });
      yes.addEventListener('click', async () => {
        no.disabled = true;
        try {
          order = await busy(yes, () => api(`/api/orders/${encodeURIComponent(order.id)}/cancel`, { method: 'POST' }), 'Cancelling…');
          statusBadge.className = `badge status-${order.status}`;
          statusBadge.textContent = order.status;
          for (const row of rows.values()) setStatus(row, 'revoked', {});
          summarize();
          put(cancelBox, h('p', { class: 'ok', role: 'status' }, 'Your order was cancelled and its tickets revoked.'));
        } catch (err) {
          no.disabled = false;
          msg.textContent = errorText(err);
        }
      });
    });
  }
  renderCancel();
}
