// The web UI's entry point: lists published events from the catalog through the /api gateway.
const status = document.getElementById('events-status');
const list = document.getElementById('events');

async function load() {
  try {
    const res = await fetch('/api/events?limit=20', { headers: { Accept: 'application/json' } });
    const body = await res.json();
    if (!res.ok) {
      status.textContent = body.error ? body.error.message : `Error ${res.status}`;
      return;
    }
    list.replaceChildren(...body.items.map((e) => {
      const li = document.createElement('li');
      li.textContent = `${e.title} — ${new Date(e.starts_at).toLocaleString()}`;
      return li;
    }));
    status.textContent = body.items.length ? '' : 'No events yet.';
  } catch (err) {
    status.textContent = 'The event catalog is unreachable right now.';
  }
}

load();
