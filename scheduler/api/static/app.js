// The datafleet status page (docs/API.md, "Status page"): asks for an API
// token, keeps it in this tab's sessionStorage (never in the URL), and polls
// the REST API every two seconds with it. Text from the API only ever goes
// into the page through textContent and attributes: no innerHTML. A panel
// whose endpoint this server does not have (404) says "not available".
'use strict';

(function () {
  const POLL_MS = 2000;
  const TOKEN_KEY = 'datafleet.token';
  const STATES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'dead', 'cancelled'];
  const LIVE = ['queued', 'running', 'retrying'];
  const RETRYABLE = ['failed', 'dead', 'cancelled'];
  const STATE_CLASSES = new Set(STATES.concat(['pending', 'skipped', 'stale', 'paused',
    'alive', 'requeued', 'purged', 'disabled', 'enabled']));
  const SVG_NS = 'http://www.w3.org/2000/svg';

  let token = sessionStorage.getItem(TOKEN_KEY);
  let timer = null;
  let polling = false;

  const $ = (id) => document.getElementById(id);

  // ---- building the page (text only) ---------------------------------------

  // el('td', {class: 'num'}, 'text', node...): an element; strings become text.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  function stateBadge(state) {
    const s = state == null ? 'unknown' : String(state);
    return el('span', { class: STATE_CLASSES.has(s) ? 'state state-' + s : 'state', 'data-testid': 'state' }, s);
  }

  function shortTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function relTime(iso) {
    if (!iso) return '';
    const ms = new Date(iso).getTime() - Date.now();
    if (isNaN(ms)) return '';
    const s = Math.round(Math.abs(ms) / 1000);
    const text = s < 90 ? s + ' s' : s < 5400 ? Math.round(s / 60) + ' min' : Math.round(s / 3600) + ' h';
    return ms >= 0 ? 'in ' + text : text + ' ago';
  }

  // A time cell: local time, with the API's exact time as its tooltip.
  function timeCell(iso, relative) {
    if (!iso) return el('td', {}, '—');
    const text = relative ? shortTime(iso) + ' (' + relTime(iso) + ')' : shortTime(iso);
    return el('td', {}, el('time', { datetime: iso, title: iso }, text));
  }

  function idCell(id) {
    return el('td', { class: 'id' }, id == null ? '—' : String(id));
  }

  function num(v) {
    return typeof v === 'number' ? v : 0;
  }

  // Fill tbody with one row per item, keyed: a row whose item did not change
  // is kept as it is (focus, a pending click), changed ones are rebuilt;
  // rows showing relative times ("in 5 s") are always rebuilt.
  const tableRows = new WeakMap();
  function fillRows(tbody, items, key, build, columns, emptyText, relative) {
    let rows = tableRows.get(tbody);
    if (!rows) {
      rows = new Map();
      tableRows.set(tbody, rows);
    }
    if (!items.length) {
      rows.clear();
      tbody.replaceChildren(el('tr', { class: 'empty' }, el('td', { colspan: columns }, emptyText)));
      return;
    }
    const seen = new Map();
    const wanted = items.map((item) => {
      const k = String(key(item));
      const sig = JSON.stringify(item) + (relative ? Date.now() : '');
      const old = rows.get(k);
      const row = old && old.sig === sig ? old.row : build(item);
      seen.set(k, { sig, row });
      return row;
    });
    tableRows.set(tbody, seen);
    for (const child of Array.from(tbody.children)) {
      if (!wanted.includes(child)) child.remove();
    }
    wanted.forEach((row, i) => {
      if (tbody.children[i] !== row) tbody.insertBefore(row, tbody.children[i] || null);
    });
  }

  function note(name, text, isError) {
    const p = document.querySelector('[data-testid="' + name + '-note"]');
    if (!p) return;
    p.textContent = text || '';
    p.classList.toggle('error', Boolean(isError));
  }

  // ---- talking to the API -------------------------------------------------------

  class AuthError extends Error {}

  async function api(method, path) {
    let res;
    try {
      res = await fetch(path, {
        method,
        headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      return { status: 0, ok: false, body: null, network: String(e.message || e) };
    }
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (res.status === 401) throw new AuthError(errorText({ status: 401, body }));
    return { status: res.status, ok: res.ok, body };
  }

  function errorText(r) {
    if (r.network) return 'cannot reach the server: ' + r.network;
    const e = r.body && r.body.error;
    if (e && e.message) return e.message + ' (' + r.status + ' ' + e.code + ')';
    return 'HTTP ' + r.status;
  }

  // 404 with no such endpoint: this server does not have the feature yet.
  function missing(r) {
    return r.status === 404 || r.status === 405;
  }

  // Show r's problem in the panel's note; true when the panel has data to draw.
  function usable(name, r, what) {
    if (r.ok) return true;
    if (missing(r)) note(name, 'not available: this server has no ' + what, false);
    else note(name, errorText(r), true);
    return false;
  }

  // ---- the panels ------------------------------------------------------------------

  function tile(testid, label, value) {
    return el('div', { class: 'tile', 'data-testid': testid },
      el('span', { class: 'num' }, String(value)), el('span', { class: 'label' }, label));
  }

  function renderStats(r) {
    const box = $('stats-tiles');
    if (!usable('stats', r, 'GET /v1/stats')) return null;
    note('stats', '');
    const s = r.body;
    const live = (s.tasks && s.tasks.live) || {};
    const day = (s.tasks && s.tasks.last_24h) || {};
    const by = day.by_state || {};
    const tiles = LIVE.map((st) => tile('stat-' + st, st + ' now', num(live[st])));
    for (const st of ['succeeded', 'failed', 'dead', 'cancelled']) {
      tiles.push(tile('stat-24h-' + st, st + ' (24 h)', num(by[st])));
    }
    tiles.push(tile('stat-24h-total', 'submitted (24 h)', num(day.total)));
    tiles.push(tile('stat-workers', 'workers alive', s.workers ? num(s.workers.alive) : '?'));
    tiles.push(tile('stat-dlq', 'in the DLQ', s.dlq ? num(s.dlq.dead) : 'n/a'));
    box.replaceChildren(...tiles);
    renderTypes(day.by_type || {});
    renderThroughput(s.throughput || {});
    renderFailures(s.recent_failures || []);
    renderPipelines(s.pipelines);
    return s;
  }

  function renderTypes(byType) {
    const items = Object.keys(byType).sort().map((type) => ({ type, states: byType[type] }));
    fillRows($('types-body'), items, (i) => i.type, (i) =>
      el('tr', { 'data-testid': 'type-row', 'data-type': i.type }, el('th', { scope: 'row' }, i.type),
        ...STATES.map((st) => el('td', { class: 'num' }, String(num(i.states[st]))))),
    8, 'no task submitted in the last 24 h');
  }

  function renderThroughput(t) {
    const buckets = Array.isArray(t.buckets) ? t.buckets : [];
    const w = 300;
    const h = 60;
    const step = buckets.length ? w / buckets.length : w;
    const max = Math.max(1, ...buckets.map((b) => num(b.succeeded) + num(b.failed)));
    const ok = buckets.reduce((a, b) => a + num(b.succeeded), 0);
    const bad = buckets.reduce((a, b) => a + num(b.failed), 0);
    const svg = svgEl('svg', {
      viewBox: '0 0 ' + w + ' ' + (h + 1), preserveAspectRatio: 'none', role: 'img',
      'aria-label': 'last 30 minutes: ' + ok + ' succeeded, ' + bad + ' failed', 'data-testid': 'throughput-svg',
    });
    buckets.forEach((b, i) => {
      const hOk = (num(b.succeeded) / max) * h;
      const hBad = (num(b.failed) / max) * h;
      const g = svgEl('g', {});
      const title = svgEl('title', {});
      title.textContent = shortTime(b.at) + ': ' + num(b.succeeded) + ' succeeded, ' + num(b.failed) + ' failed';
      g.append(title);
      const x = i * step + step * 0.1;
      g.append(svgEl('rect', { class: 'ok', x, y: h - hOk, width: step * 0.8, height: hOk }));
      g.append(svgEl('rect', { class: 'bad', x, y: h - hOk - hBad, width: step * 0.8, height: hBad }));
      svg.append(g);
    });
    svg.append(svgEl('line', { class: 'axis', x1: 0, y1: h + 0.5, x2: w, y2: h + 0.5 }));
    $('throughput-chart').replaceChildren(svg);
    note('throughput', ok + bad ? ok + ' succeeded, ' + bad + ' failed in 30 min' : 'nothing finished in the last 30 minutes');
  }

  function renderFailures(items) {
    fillRows($('failures-body'), items, (f) => f.task_id, (f) =>
      el('tr', { 'data-testid': 'failure-row', 'data-task-id': f.task_id },
        timeCell(f.at), idCell(f.task_id), el('td', {}, f.type || '—'), el('td', {}, f.connector || '—'),
        el('td', {}, stateBadge(f.state)),
        el('td', { class: 'message' }, f.error ? (f.error.code ? f.error.code + ': ' : '') + (f.error.message || '') : '—')),
    6, 'no failure in the last 24 h');
  }

  function renderPipelines(p) {
    if (!p) return;
    $('pipelines-count').textContent = '(' + num(p.running) + ' running)';
    const runs = Array.isArray(p.runs) ? p.runs : [];
    fillRows($('pipelines-body'), runs, (r) => r.run_id, (r) =>
      el('tr', { 'data-testid': 'pipeline-row', 'data-run-id': r.run_id },
        el('td', {}, r.pipeline || '—'), idCell(r.run_id), timeCell(r.started_at),
        el('td', {}, num(r.steps_succeeded) + '/' + num(r.steps_total) + ' done',
          ...(Array.isArray(r.steps) ? r.steps : []).filter((s) => s.state !== 'succeeded' && s.state !== 'pending')
            .map((s) => el('div', {}, s.step + ' ', stateBadge(s.state))))),
    4, 'no pipeline run in progress');
  }

  function renderWorkers(r, stats) {
    const w = stats && stats.workers;
    $('workers-count').textContent = w ? '(' + num(w.alive) + ' alive, ' + num(w.running_tasks) + ' tasks running)' : '';
    if (!usable('workers', r, 'GET /v1/workers')) return;
    note('workers', '');
    const items = Array.isArray(r.body.workers) ? r.body.workers : [];
    fillRows($('workers-body'), items, (x) => x.id, (x) =>
      el('tr', { 'data-testid': 'worker-row', 'data-worker-id': x.id },
        idCell(x.id), el('td', {}, x.types || '—'), el('td', {}, x.version || '—'),
        timeCell(x.started_at), timeCell(x.heartbeat_at, true),
        el('td', {}, stateBadge(x.gone || x.stale ? 'stale' : 'alive')),
        el('td', { class: 'id' }, Array.isArray(x.tasks) && x.tasks.length
          ? x.tasks.map((t) => t.task_id + ' (' + t.type + ' ' + t.connector + ')').join(', ')
          : (x.running ? String(x.running) : '—'))),
    7, 'no worker has announced itself', true);
  }

  function taskActions(t) {
    const cell = el('td', {});
    if (LIVE.includes(t.state)) {
      cell.append(el('button', { type: 'button', 'data-testid': 'task-cancel', 'data-task-id': t.task_id,
        'aria-label': 'Cancel task ' + t.task_id }, 'Cancel'));
    } else if (RETRYABLE.includes(t.state)) {
      cell.append(el('button', { type: 'button', 'data-testid': 'task-retry', 'data-task-id': t.task_id,
        'aria-label': 'Retry task ' + t.task_id }, 'Retry'));
    }
    return cell;
  }

  function renderTasks(r) {
    if (!usable('tasks', r, 'GET /v1/tasks')) return;
    note('tasks', '');
    const items = Array.isArray(r.body.tasks) ? r.body.tasks : [];
    fillRows($('tasks-body'), items, (t) => t.task_id, (t) =>
      el('tr', { 'data-testid': 'task-row', 'data-task-id': t.task_id, 'data-state': t.state },
        idCell(t.task_id), el('td', {}, t.type || '—'), el('td', {}, t.connector || '—'),
        el('td', { 'data-testid': 'task-state' }, stateBadge(t.state)),
        el('td', { class: 'num' }, t.attempt == null ? '—' : String(t.attempt)), el('td', {}, t.worker || '—'),
        timeCell(t.submitted_at), timeCell(t.finished_at),
        el('td', { class: 'message' }, t.error ? (t.error.code || '') + (t.error.message ? ': ' + t.error.message : '') : ''),
        taskActions(t)),
    10, 'no task yet');
  }

  function renderDlq(r, stats) {
    const d = stats && stats.dlq;
    $('dlq-count').textContent = d ? '(' + num(d.dead) + ' dead, ' + num(d.requeued) + ' requeued)' : '';
    if (!usable('dlq', r, 'GET /v1/dlq')) return;
    note('dlq', '');
    const items = Array.isArray(r.body.messages) ? r.body.messages : [];
    fillRows($('dlq-body'), items, (m) => m.id, (m) =>
      el('tr', { 'data-testid': 'dlq-row', 'data-dlq-id': m.id },
        timeCell(m.received_at), idCell(m.id), idCell(m.task_id), el('td', {}, m.reason || '—'),
        el('td', { class: 'message' }, m.error || ''), el('td', {}, stateBadge(m.state))),
    6, 'the dead-letter queue is empty');
  }

  // /v1/schedules when the server has it (with the summary's last and next
  // run for what its items leave out); else the summary of /v1/stats.
  function renderSchedules(r, stats) {
    const summary = new Map(((stats && stats.schedules && stats.schedules.items) || []).map((s) => [s.name, s]));
    let items;
    if (r.ok) {
      note('schedules', '');
      items = Array.isArray(r.body.schedules) ? r.body.schedules : [];
    } else if (missing(r) && stats && stats.schedules) {
      note('schedules', 'from the summary (this server has no GET /v1/schedules)');
      items = stats.schedules.items || [];
    } else {
      usable('schedules', r, 'GET /v1/schedules');
      return;
    }
    $('schedules-count').textContent = '(' + items.length + ')';
    fillRows($('schedules-body'), items, (s) => s.name || s.id, (s) => {
      const known = summary.get(s.name) || {};
      const last = s.last_run || known.last_run || null;
      const lastAt = s.last_fired_at || known.last_fired_at || (last && last.fire_time) || null;
      const next = s.next_fire_at || known.next_fire_at || null;
      const status = s.paused ? 'paused' : s.enabled === false ? 'disabled' : 'enabled';
      return el('tr', { 'data-testid': 'schedule-row', 'data-schedule': s.name || s.id },
        el('td', {}, s.name || s.id || '—'), el('td', {}, el('code', {}, s.expression || s.cron || '')),
        lastAt ? el('td', {}, el('time', { datetime: lastAt, title: lastAt }, shortTime(lastAt)),
          last && last.state ? ' ' : '', last && last.state ? stateBadge(last.state) : '') : el('td', {}, '—'),
        timeCell(next, true), el('td', {}, stateBadge(status)));
    }, 5, 'no schedule', true);
  }

  // ---- actions -------------------------------------------------------------------------

  function actionMessage(text, isError) {
    const p = $('action-message');
    p.textContent = text;
    p.className = isError ? 'error' : 'ok';
    p.setAttribute('role', isError ? 'alert' : 'status');
  }

  async function taskAction(button, verb) {
    const id = button.getAttribute('data-task-id');
    button.disabled = true;
    try {
      const r = await api('POST', '/v1/tasks/' + encodeURIComponent(id) + '/' + verb);
      if (r.ok) {
        actionMessage(verb === 'cancel' ? 'Cancel requested for task ' + id
          : 'Task ' + id + ' retried as ' + (r.body && r.body.task_id), false);
      } else {
        actionMessage('Cannot ' + verb + ' task ' + id + ': ' + errorText(r), true);
        button.disabled = false;
      }
    } catch (e) {
      if (e instanceof AuthError) return signOut(e.message);
      throw e;
    }
    poll();
  }

  // ---- polling -------------------------------------------------------------------------------

  async function poll() {
    if (!token || polling) return;
    polling = true;
    clearTimeout(timer);
    let wait = POLL_MS;
    try {
      const [stats, tasks, workers, dlq, schedules] = await Promise.all([
        api('GET', '/v1/stats'),
        api('GET', '/v1/tasks?limit=20'),
        api('GET', '/v1/workers'),
        api('GET', '/v1/dlq?limit=20'),
        api('GET', '/v1/schedules'),
      ]);
      const s = renderStats(stats);
      renderTasks(tasks);
      renderWorkers(workers, s);
      renderDlq(dlq, s);
      renderSchedules(schedules, s);
      const limited = [stats, tasks, workers, dlq, schedules].find((r) => r.status === 429 || r.status === 0);
      const status = $('conn-status');
      if (limited) {
        status.textContent = errorText(limited);
        status.classList.add('error');
        wait = POLL_MS * 2;
      } else {
        status.textContent = 'live · updated ' + new Date().toLocaleTimeString();
        status.classList.remove('error');
      }
      status.setAttribute('data-updated', String(Date.now()));
    } catch (e) {
      polling = false;
      if (e instanceof AuthError) return signOut(e.message);
      $('conn-status').textContent = 'error: ' + e.message;
      $('conn-status').classList.add('error');
    }
    polling = false;
    if (token) timer = setTimeout(poll, document.hidden ? POLL_MS * 5 : wait);
  }

  function showDashboard(on) {
    $('login').hidden = on;
    $('dashboard').hidden = !on;
    $('token-forget').hidden = !on;
  }

  function signOut(why) {
    clearTimeout(timer);
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showDashboard(false);
    $('login-error').textContent = why || '';
    $('conn-status').textContent = 'not connected';
    $('conn-status').classList.remove('error');
    $('token-input').focus();
  }

  // ---- lineage: the graph around a node (GET /v1/lineage) -----------------------

  async function showLineage() {
    const node = $('lineage-node').value.trim();
    const body = $('lineage-body');
    if (!node) {
      note('lineage', 'enter a node: namespace|name, or a node id', true);
      return;
    }
    const q = new URLSearchParams({
      node,
      direction: $('lineage-direction').value,
      depth: $('lineage-depth').value || '3',
    });
    let r;
    try {
      r = await api('GET', '/v1/lineage?' + q.toString());
    } catch (e) {
      if (e instanceof AuthError) signOut(e.message);
      return;
    }
    body.replaceChildren();
    if (!r.ok) {
      note('lineage', errorText(r), true);
      return;
    }
    const names = new Map(r.body.nodes.map((n) => [n.id, n]));
    const label = (id) => {
      const n = names.get(id);
      return n ? n.namespace + ' ' + n.name + ' (' + n.kind + ')' : String(id);
    };
    note('lineage', r.body.nodes.length + ' nodes and ' + r.body.edges.length + ' edges around ' +
      r.body.node.namespace + ' ' + r.body.node.name, false);
    for (const e of r.body.edges) {
      body.append(el('tr', { 'data-testid': 'lineage-edge' },
        el('td', {}, label(e.from)), el('td', {}, e.kind), el('td', {}, label(e.to)),
        el('td', { class: 'id' }, JSON.stringify(e.attrs || {})), el('td', {}, shortTime(e.last_seen))));
    }
  }

  function start() {
    $('token-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const value = $('token-input').value.trim();
      if (!value) return;
      token = value;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('token-input').value = '';
      $('login-error').textContent = '';
      showDashboard(true);
      poll();
    });
    $('token-forget').addEventListener('click', () => signOut(''));
    $('lineage-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      showLineage();
    });
    $('dashboard').addEventListener('click', (ev) => {
      const button = ev.target.closest('button[data-task-id]');
      if (!button) return;
      taskAction(button, button.getAttribute('data-testid') === 'task-cancel' ? 'cancel' : 'retry');
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) poll();
    });
    if (token) {
      showDashboard(true);
      poll();
    } else {
      showDashboard(false);
    }
  }

  start();
})();
