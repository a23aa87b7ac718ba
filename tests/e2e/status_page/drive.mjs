// The browser side of tests/e2e/status_page_test.sh: headless Chromium
// (Debian's, $CHROMIUM) driven by playwright-core (installed by the test
// under the build tree, $PW_DIR). It reads one JSON command a line on stdin
// and answers each with one JSON line on stdout: {"ok": true, "value": ...}
// or {"ok": false, "error": "..."}. The shell test decides what to check.
//
// Commands: open {url} | login {token} | logout | wait_state {task_id,
// state, timeout_ms} | click {testid, task_id} | fill {testid, value} |
// press {testid} | wait_text {selector, text, timeout_ms} | text {selector} |
// count {selector} | screenshot {path} | problems | quit.
import { createRequire } from 'node:module';
import * as readline from 'node:readline';

const require = createRequire(process.env.PW_DIR + '/');
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
const page = await context.newPage();
// What the page got wrong: script errors, CSP violations, console errors
// other than the 401 of a wrong token.
const problems = [];
page.on('pageerror', (e) => problems.push('page error: ' + e.message));
page.on('console', (m) => {
  if (m.type() === 'error' && !/status of 40[134]/.test(m.text())) problems.push('console: ' + m.text());
});

const row = (id) => `tr[data-testid="task-row"][data-task-id="${id}"]`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const commands = {
  async open({ url }) {
    const res = await page.goto(url, { waitUntil: 'load' });
    return { status: res.status(), title: await page.title() };
  },
  async login({ token }) {
    await page.getByTestId('token-input').fill(token);
    await page.getByTestId('token-save').click();
    // connected: the first poll rendered, or the page said why not
    await page.waitForFunction(() => {
      const s = document.getElementById('conn-status');
      return (s && s.hasAttribute('data-updated')) || document.getElementById('login-error').textContent;
    }, null, { timeout: 20000 });
    return {
      error: await page.getByTestId('login-error').textContent(),
      status: await page.getByTestId('conn-status').textContent(),
    };
  },
  async logout() {
    await page.getByTestId('token-forget').click();
    await page.getByTestId('token-input').waitFor({ state: 'visible' });
    return { stored: await page.evaluate(() => sessionStorage.length) };
  },
  // Watch the task's row until it shows state: every state it showed, in order.
  async wait_state({ task_id, state, timeout_ms }) {
    const seen = [];
    const wait = Number(timeout_ms) || 60000;
    const end = Date.now() + wait;
    while (Date.now() < end) {
      const s = await page.locator(row(task_id)).getAttribute('data-state', { timeout: 100 }).catch(() => null);
      if (s && seen[seen.length - 1] !== s) seen.push(s);
      if (s === state) {
        const shown = await page.locator(row(task_id) + ' [data-testid="task-state"]').textContent();
        return { seen, shown };
      }
      await sleep(150);
    }
    throw new Error(`task ${task_id} not shown ${state} within ${wait} ms (seen: ${seen.join(' -> ') || 'nothing'})`);
  },
  async click({ testid, task_id }) {
    await page.getByTestId('action-message').evaluate((p) => { p.textContent = ''; });
    await page.locator(`button[data-testid="${testid}"][data-task-id="${task_id}"]`).click({ timeout: 10000 });
    await page.waitForFunction(() => document.getElementById('action-message').textContent !== '', null,
      { timeout: 15000 });
    return {
      message: await page.getByTestId('action-message').textContent(),
      class: await page.getByTestId('action-message').getAttribute('class'),
    };
  },
  async fill({ testid, value }) {
    await page.getByTestId(testid).fill(String(value), { timeout: 10000 });
    return testid;
  },
  async press({ testid }) {
    await page.getByTestId(testid).click({ timeout: 10000 });
    return testid;
  },
  async wait_text({ selector, text, timeout_ms }) {
    await page.waitForFunction(([sel, t]) => {
      const n = document.querySelector(sel);
      return n && n.textContent.includes(t);
    }, [selector, text], { timeout: Number(timeout_ms) || 20000 });
    return await page.locator(selector).first().textContent();
  },
  async text({ selector }) {
    return await page.locator(selector).first().textContent({ timeout: 5000 });
  },
  async count({ selector }) {
    return await page.locator(selector).count();
  },
  async screenshot({ path }) {
    await page.screenshot({ path, fullPage: true });
    return path;
  },
  async problems() {
    return problems;
  },
  async quit() {
    await browser.close();
    return 'bye';
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let answer;
  let cmd = {};
  try {
    cmd = JSON.parse(line);
    const fn = commands[cmd.cmd];
    if (!fn) throw new Error('unknown command ' + cmd.cmd);
    answer = { ok: true, value: await fn(cmd) };
  } catch (e) {
    answer = { ok: false, error: String(e.message || e).split('\n')[0] };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
  if (cmd.cmd === 'quit') break;
}
process.exit(0);
