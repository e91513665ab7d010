/* relais status page (ui.html): asks once for an API key (kept in this
 * tab's sessionStorage, sent only in the Authorization header), then
 * every few seconds reads GET /v1/stats, /v1/queue and /v1/events (from
 * a cursor) and shows the queue, delivery rates per minute (from two
 * readings of the counters) and the latest events, newest first.
 * Everything is written with textContent and DOM methods: the page's
 * CSP enforces Trusted Types, so no HTML is ever parsed from data. */
'use strict';

(function () {
  const KEY = 'relais.apikey';
  const REFRESH_MS = 3000;
  const EVENTS_SHOWN = 50;
  const EVENTS_PAGE = 200;
  const QUEUE_PAGE = 100;
  const RATE_WINDOW_MS = 5 * 60 * 1000;
  const COUNTERS = ['delivered', 'deferred', 'bounced'];

  let cursor = null;   // id of the last event read, null: not started
  let events = [];     // newest first, at most EVENTS_SHOWN
  let samples = [];    // readings of the counters {t, delivered, ...}
  let timer = null;
  let generation = 0;  // a refresh from before a key change is dropped
  let connected = false;

  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const str = (v) => (v === null || v === undefined ? '' : String(v));

  /* an element with text (never parsed) and an optional class */
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null)
      e.textContent = str(text);
    if (cls)
      e.className = cls;
    return e;
  }

  /* a table cell whose long text is cut by CSS, whole in the tooltip */
  function longCell(text) {
    const td = el('td', text, 'long');
    td.title = str(text);
    return td;
  }

  /* a class name derived from data: only when it is a plain word */
  function safeClass(prefix, word) {
    return /^[a-z_]{1,32}$/.test(str(word)) ? prefix + word : '';
  }

  function fmtTime(t) {
    return str(t).replace('T', ' ');
  }

  function fmtAge(sec) {
    sec = Math.max(0, Math.round(sec));
    if (sec < 120)
      return sec + ' s';
    if (sec < 7200)
      return Math.floor(sec / 60) + ' min';
    if (sec < 172800)
      return Math.floor(sec / 3600) + ' h ' + Math.floor(sec % 3600 / 60) +
          ' min';
    return Math.floor(sec / 86400) + ' d ' + Math.floor(sec % 86400 / 3600) +
        ' h';
  }

  function fmtSize(n) {
    n = num(n);
    if (n < 1024)
      return n + ' B';
    if (n < 1048576)
      return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }

  async function api(path) {
    const key = sessionStorage.getItem(KEY);
    let res, body = null;

    if (!key)
      throw new ApiError(401, 'no API key');
    try {
      res = await fetch(path, {
        headers: { 'Authorization': 'Bearer ' + key,
          'Accept': 'application/json' },
        cache: 'no-store', credentials: 'omit', redirect: 'error',
      });
    } catch (e) {
      throw new ApiError(0, 'cannot reach relais (' + e.message + ')');
    }
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      const m = body && body.error && typeof body.error.message === 'string' ?
        body.error.message : res.statusText;
      throw new ApiError(res.status, m);
    }
    if (body === null || typeof body !== 'object')
      throw new ApiError(res.status, 'not a JSON object from ' + path);
    return body;
  }

  function setStatus(text, cls) {
    const s = $('status');
    s.textContent = text;
    s.className = 'status ' + cls;
  }

  function showError(text) {
    const e = $('error');
    e.textContent = text;
    e.hidden = text === '';
  }

  /* --- rendering ------------------------------------------------------ */

  function renderRates(stats) {
    const now = performance.now();
    const cur = { t: now };
    for (const c of COUNTERS)
      cur[c] = num(stats[c]);
    const prev = samples[samples.length - 1];
    /* a counter that went down: relais restarted, start over */
    if (prev && COUNTERS.some((c) => cur[c] < prev[c]))
      samples = [];
    samples.push(cur);
    samples = samples.filter((s) => now - s.t <= RATE_WINDOW_MS);
    const old = samples[0];
    const span = (now - old.t) / 1000;
    for (const c of COUNTERS) {
      $('r-' + c).textContent = span >= 1 ?
        ((cur[c] - old[c]) * 60 / span).toFixed(1) : '-';
      $('t-' + c).textContent = cur[c] + ' since start';
    }
    $('rate-note').textContent = span >= 1 ?
      'Rates per minute over the last ' + Math.round(span) +
      ' s, from the daemon\'s counters.' :
      'Rates appear after the second reading.';
  }

  function renderQueue(q, stats) {
    const list = Array.isArray(q.messages) ? q.messages : [];
    const more = q.next !== null && q.next !== undefined;
    const tbody = $('queue-body');
    const rows = [];
    let rcpts = 0;

    for (const m of list) {
      const rs = Array.isArray(m.recipients) && m.recipients.length ?
        m.recipients : [{}];
      rs.forEach((r, i) => {
        const tr = el('tr');
        if (i === 0) {
          const cells = [el('td', null, 'id'), el('td', m.sender),
            el('td', fmtTime(m.arrival), 'time'),
            el('td', fmtSize(m.size), 'num')];
          cells[0].appendChild(el('code', m.id));
          for (const c of cells) {
            c.rowSpan = rs.length;
            tr.appendChild(c);
          }
        }
        tr.appendChild(el('td', r.address));
        tr.appendChild(el('td', r.state, safeClass('state-', r.state)));
        tr.appendChild(el('td', r.attempts, 'num'));
        tr.appendChild(el('td', fmtTime(r.next_attempt), 'time'));
        tr.appendChild(longCell(r.last_reply));
        rows.push(tr);
        rcpts++;
      });
    }
    tbody.replaceChildren(...rows);
    $('queue-empty').hidden = list.length > 0;
    $('queue-more').hidden = !more;
    $('queue-more').textContent = more ? 'The oldest ' + list.length +
      ' messages are shown; there are more.' : '';
    $('q-msgs').textContent = list.length + (more ? '+' : '');
    /* the gauge lags (the queue manager counts every 10 s): the list is
       exact when it is the whole queue */
    $('q-rcpts').textContent = more ? num(stats.queue && stats.queue.recipients)
      : rcpts;
    if (list.length > 0) {
      const age = (Date.parse(stats.time) - Date.parse(list[0].arrival)) / 1000;
      $('q-oldest').textContent = Number.isFinite(age) ? fmtAge(age) : '?';
      $('q-oldest-id').textContent = str(list[0].id);
      $('q-oldest-at').textContent = fmtTime(list[0].arrival);
    } else {
      $('q-oldest').textContent = '-';
      $('q-oldest-id').textContent = '';
      $('q-oldest-at').textContent = '';
    }
  }

  function renderEvents() {
    const rows = events.map((e) => {
      const tr = el('tr');
      tr.appendChild(el('td', fmtTime(e.timestamp), 'time'));
      tr.appendChild(el('td', e.type, 'ev ' + safeClass('ev-', e.type)));
      const id = el('td', null, 'id');
      id.appendChild(el('code', e.message_id));
      tr.appendChild(id);
      tr.appendChild(el('td', e.recipient));
      tr.appendChild(el('td', e.status));
      tr.appendChild(longCell(e.reply));
      return tr;
    });
    $('events-body').replaceChildren(...rows);
    $('events-empty').hidden = rows.length > 0;
  }

  /* --- polling -------------------------------------------------------- */

  async function readEvents(last) {
    /* far behind (or the spool was replaced): only the latest matter */
    if (cursor === null || last < cursor || last - cursor > EVENTS_PAGE) {
      cursor = Math.max(0, last - EVENTS_SHOWN);
      events = [];
    }
    const page = await api('/v1/events?since=' + cursor + '&limit=' +
      EVENTS_PAGE);
    const fresh = Array.isArray(page.events) ? page.events : [];
    if (typeof page.next === 'number')
      cursor = page.next;
    return fresh;
  }

  async function refresh() {
    const gen = generation;
    timer = null;
    try {
      const stats = await api('/v1/stats');
      const q = await api('/v1/queue?limit=' + QUEUE_PAGE);
      const fresh = await readEvents(num(stats.events_last));
      if (gen !== generation)
        return;
      events = fresh.filter((e) => e && typeof e === 'object').reverse()
        .concat(events).slice(0, EVENTS_SHOWN);
      renderRates(stats);
      renderQueue(q, stats);
      renderEvents();
      if (!connected) {
        connected = true;
        $('login').hidden = true;
        $('dash').hidden = false;
        $('forget').hidden = false;
        showError('');
      }
      setStatus('updated ' + new Date().toLocaleTimeString() + ', every ' +
        REFRESH_MS / 1000 + ' s', 'ok');
    } catch (e) {
      if (gen !== generation)
        return;
      if (e.status === 401 || e.status === 403 || e.status === 429) {
        stop(e.status === 429 ? 'Too many refused keys: ' + e.message :
          'The API key was refused (' + e.status + '): ' + e.message);
        return;
      }
      setStatus('error: ' + e.message, 'bad');
    }
    if (gen === generation)
      timer = setTimeout(refresh, REFRESH_MS);
  }

  function start() {
    generation++;
    if (timer !== null)
      clearTimeout(timer);
    cursor = null;
    events = [];
    samples = [];
    setStatus('connecting', 'wait');
    refresh();
  }

  /* stop - forget the key, back to the form (with why, if given) */
  function stop(why) {
    generation++;
    if (timer !== null)
      clearTimeout(timer);
    timer = null;
    connected = false;
    sessionStorage.removeItem(KEY);
    $('dash').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('queue-body').replaceChildren();
    $('events-body').replaceChildren();
    showError(why || '');
    setStatus(why ? 'key refused' : 'not connected', why ? 'bad' : '');
    $('key').focus();
  }

  function init() {
    $('login-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const key = $('key').value.trim();
      $('key').value = '';
      if (key === '' || /[^\x21-\x7e]/.test(key)) {
        showError('An API key is one word of printable characters.');
        return;
      }
      sessionStorage.setItem(KEY, key);
      showError('');
      start();
    });
    $('forget').addEventListener('click', () => stop(''));
    if (sessionStorage.getItem(KEY))
      start();
    else
      $('key').focus();
  }

  if (document.readyState === 'loading')
    document.addEventListener('DOMContentLoaded', init);
  else
    init();
})();
