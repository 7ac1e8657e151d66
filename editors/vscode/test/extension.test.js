'use strict';
// The extension's wiring: package.json against what activate() registers, and the "sheet that is
// open" rule (an unsaved csv/tsv buffer goes as text) against the real server. VS Code itself
// cannot run here, so `vscode` is a small stand-in that records calls.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const fs = require('fs');
const h = require('./helpers');
const { XLChatClient } = require('../src/rpc');
const { makeVscode, loadExtension, doc } = require('./vscode-stub');

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));

test('package.json: main, commands, menus and settings', () => {
  assert.equal(pkg.main, './src/extension.js');
  assert.ok(fs.existsSync(path.join(__dirname, '..', pkg.main)));
  const ids = pkg.contributes.commands.map((c) => c.command);
  assert.deepEqual(ids.sort(), ['xlchat.ask', 'xlchat.openWorkbook', 'xlchat.openWorkspace', 'xlchat.queryWorkspace', 'xlchat.restartServer', 'xlchat.traceCell']);
  const titles = pkg.contributes.commands.map((c) => `${c.category}: ${c.title}`);
  assert.ok(titles.includes('xlchat: Open Workbook') && titles.includes('xlchat: Ask About Workbook'));
  for (const id of ['xlchat.openWorkbook', 'xlchat.ask', 'xlchat.traceCell']) assert.ok(pkg.activationEvents.includes(`onCommand:${id}`));
  const menu = pkg.contributes.menus['explorer/context'];
  for (const ext of ['xlsx', 'xlsm', 'xlsb', 'xls', 'ods', 'csv', 'tsv']) {
    for (const m of menu) assert.ok(menuRegex(m).test(`.${ext}`), `${m.command} on .${ext}`);
  }
  assert.ok(pkg.contributes.configuration.properties['xlchat.path']);
  assert.ok(pkg.contributes.configuration.properties['xlchat.maxRestarts']);
});

/** The file-extension pattern of a menu's `when` clause. */
function menuRegex(m) { return new RegExp(m.when.match(/=~ \/(.*)\/i$/)[1].replace(/\\\\/g, '\\'), 'i'); }

// The menus need their extensions before any server runs, so package.json spells them out; this
// keeps them equal to the formats the server lists in `initialize` (the one list).
test('package.json menus offer exactly the formats the server lists in initialize', async () => {
  const c = new XLChatClient({ binary: h.xlchatBinary(), env: h.serverEnv(), maxRestarts: 0 });
  try {
    const init = await c.ready();
    const formats = init.capabilities.formats;
    assert.ok(formats.includes('ods') && formats.includes('xlsb'), `${formats}`);
    assert.deepEqual(c.formats(), formats.map((f) => f.toLowerCase()));
    for (const m of [...pkg.contributes.menus['explorer/context'], ...pkg.contributes.menus['editor/title/context']]) {
      const offered = m.when.match(/=~ \/\^\\\.\((.*)\)\$\/i$/)[1].split('|').sort();
      assert.deepEqual(offered, [...formats].sort(), `${m.command} (${m.when})`);
    }
  } finally { await c.stop(); }
});

test('activate registers every contributed command', () => {
  const vscode = makeVscode({ path: h.xlchatBinary() });
  const ext = loadExtension(vscode);
  const context = { subscriptions: [] };
  ext.activate(context);
  assert.deepEqual(Object.keys(vscode.calls.commands).sort(), pkg.contributes.commands.map((c) => c.command).sort());
  return ext.deactivate();
});

test('Open Workbook sends an unsaved csv buffer as its text, a saved file by path', async () => {
  const dir = h.tempDir();
  const file = h.writeSalesCsv(dir);
  const vscode = makeVscode({ path: h.xlchatBinary(), env: { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-') } });
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  try {
    // Unsaved edit: the buffer differs from the file on disk.
    vscode.window.activeTextEditor = { document: doc(file, 'region,units\nWest,99\n', { dirty: true, languageId: 'csv' }) };
    const edited = await vscode.calls.commands['xlchat.openWorkbook']();
    assert.deepEqual(vscode.calls.errors, []);
    assert.equal(edited.sheets[0].rows, 2, 'the buffer text (2 rows), not the file (5)');
    // Saved: by path.
    vscode.window.activeTextEditor = { document: doc(file, fs.readFileSync(file, 'utf8'), { languageId: 'csv' }) };
    const saved = await vscode.calls.commands['xlchat.openWorkbook']();
    assert.equal(saved.path, file);
    assert.equal(saved.sheets[0].rows, 5);
    // An ods file (the server reads it; the client used to refuse it): opened by path.
    const ods = path.join(dir, 'formulas.ods');
    fs.copyFileSync(path.join(h.repoRoot, 'Tests', 'Data', 'formula-text-fixture.ods'), ods);
    vscode.window.activeTextEditor = { document: doc(ods, '') };
    const opened = await vscode.calls.commands['xlchat.openWorkbook']();
    assert.deepEqual(vscode.calls.errors, []);
    assert.equal(opened.format, 'ods');
    // Not a workbook: an error message, no request.
    vscode.window.activeTextEditor = { document: doc(path.join(dir, 'notes.txt'), 'hi') };
    assert.equal(await vscode.calls.commands['xlchat.openWorkbook'](), undefined);
    assert.match(vscode.calls.errors[0], /not a workbook/);
  } finally { await ext.deactivate(); }
});

/** Runs Open Workbook and Ask with `xlchat.path` set to `binaryPath`; returns the messages shown. */
async function commandsWithBinaryPath(binaryPath) {
  const vscode = makeVscode({ path: binaryPath, __question: 'Which region sold the most units?' });
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  const file = h.writeSalesCsv(h.tempDir());
  vscode.window.activeTextEditor = { document: doc(file, fs.readFileSync(file, 'utf8'), { languageId: 'csv' }) };
  const t0 = Date.now();
  assert.equal(await vscode.calls.commands['xlchat.openWorkbook'](), undefined);
  await vscode.calls.commands['xlchat.ask']();
  await vscode.calls.commands['xlchat.restartServer']();
  assert.ok(Date.now() - t0 < 2000, 'answered at once, nothing spawned');
  await ext.deactivate();
  assert.equal(vscode.calls.errors.length, 3, vscode.calls.errors.join('\n'));
  assert.deepEqual(vscode.calls.panels, [], 'no chat panel without a binary');
  for (const m of vscode.calls.errors) {
    assert.doesNotMatch(m, /\n\s+at |Error:|TypeError|ENOENT|EACCES/, 'one clear line, no stack trace or errno');
  }
  return vscode.calls.errors;
}

test('xlchat.path that does not exist: says so and how to install, no stack trace', async () => {
  const missing = path.join(h.tempDir(), 'no-such-dir', 'xlchat');
  const [m] = await commandsWithBinaryPath(missing);
  assert.ok(m.includes(missing), m);
  assert.match(m, /does not exist/);
  assert.match(m, /apt install \.\/xlchat_.*\.deb/);
  assert.match(m, /xlchat\.path/);
});

test('xlchat.path that is not executable, or a directory: says how to fix it', async () => {
  const dir = h.tempDir();
  const plain = path.join(dir, 'xlchat');
  fs.writeFileSync(plain, '#!/bin/sh\nexec xlchat "$@"\n', { mode: 0o644 }); // e.g. copied without its x bit
  const [m] = await commandsWithBinaryPath(plain);
  assert.match(m, /is not executable/);
  assert.ok(m.includes(`chmod +x '${plain}'`), m);
  const [d] = await commandsWithBinaryPath(dir);
  assert.match(d, /is a directory/);
  assert.ok(d.includes(path.join(dir, 'xlchat')), d);
});

test('no xlchat.path: found on PATH, else at /usr/bin/xlchat; none: how to install', async () => {
  const { locateBinary, INSTALLED_PATHS } = require('../src/rpc');
  assert.deepEqual(INSTALLED_PATHS.slice(0, 1), ['/usr/bin/xlchat']);
  const bin = h.xlchatBinary();
  assert.deepEqual(locateBinary(null, { envPath: `/nonexistent${path.delimiter}${path.dirname(bin)}`, installed: [] }), { binary: bin });
  assert.deepEqual(locateBinary(null, { envPath: '/nonexistent', installed: ['/nonexistent/xlchat', bin] }), { binary: bin });
  // A non-executable `xlchat` on PATH is passed over, as a shell would.
  const dir = h.tempDir();
  fs.writeFileSync(path.join(dir, 'xlchat'), '#!/bin/sh\n', { mode: 0o644 });
  const none = locateBinary(null, { envPath: dir, installed: ['/nonexistent/xlchat'] });
  assert.equal(none.binary, undefined);
  assert.match(none.problem, /not found \(not on PATH, not in \/nonexistent\/xlchat\)/);
  assert.match(none.problem, /apt install \.\/xlchat_.*\.deb/);
  assert.match(none.problem, /"xlchat\.path"/);
});

test('the chat panel streams, links citations to cells, and cancels', async (t) => {
  const ollama = await h.startFakeOllama();
  const env = { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-'), OLLAMA_HOST: ollama.host, XLCHAT_MODEL: 'fake:latest' };
  const probe = new XLChatClient({ binary: h.xlchatBinary(), env: { ...process.env, ...env }, maxRestarts: 0 });
  let init;
  try { init = await probe.ready(); } catch (e) { ollama.stop(); throw e; } finally { await probe.stop(); }
  if (!init.capabilities.methods.includes('chat/ask')) {
    ollama.stop();
    t.skip('server has no chat/ask yet (capabilities.methods lacks it)');
    return;
  }
  const settings = { path: h.xlchatBinary(), env, __question: 'Which region sold the most units?' };
  const vscode = makeVscode(settings);
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  try {
    const file = h.writeSalesCsv(h.tempDir());
    vscode.window.activeTextEditor = { document: doc(file, fs.readFileSync(file, 'utf8'), { languageId: 'csv' }) };
    await vscode.calls.commands['xlchat.ask']();
    assert.deepEqual(vscode.calls.errors, []);
    const panel = vscode.calls.panels[0];
    assert.match(panel.webview.html, /sales\.csv/);
    const types = panel.messages.map((m) => m.type);
    assert.equal(types[0], 'question');
    assert.ok(types.includes('progress'), 'index progress shown');
    const deltas = panel.messages.filter((m) => m.type === 'delta').map((m) => m.text);
    const answer = panel.messages.find((m) => m.type === 'answer').result;
    assert.ok(deltas.length > 1);
    assert.equal(deltas.join(''), answer.answer);
    assert.ok(panel.messages.some((m) => m.type === 'step' && m.step.tool === 'read_range'));
    // The wait is shown: chat/status for each model call, before its deltas; the panel's line.
    const statuses = panel.messages.filter((m) => m.type === 'status').map((m) => m.status);
    assert.ok(statuses.some((s) => s.phase === 'prompt' && s.promptTokens > 100 && s.step === 1), JSON.stringify(statuses));
    assert.ok(statuses.some((s) => s.phase === 'generating' && s.step === 2), JSON.stringify(statuses));
    const firstStatus = panel.messages.findIndex((m) => m.type === 'status');
    assert.ok(firstStatus < panel.messages.findIndex((m) => m.type === 'delta'));
    const { statusText } = require('../src/panel.js');
    assert.equal(statusText({ phase: 'prompt', step: 1, promptTokens: 1566, contextTokens: 4096, elapsedMs: 0 }), 'Reading the prompt (1,566 tokens of 4,096)…');
    assert.equal(statusText({ phase: 'waiting', step: 2, promptTokens: 900, elapsedMs: 12400 }), 'Step 2: Waiting for the model (900 tokens)… 12 s');
    assert.equal(statusText({ phase: 'generating', step: 1, elapsedMs: 5 }), '');
    assert.match(panel.webview.html, /const statusText = function statusText/);
    // A click on the citation link asks for its cells.
    const cit = answer.citations[0];
    await panel.handler({ type: 'openRange', workbookId: cit.workbookId, sheet: cit.sheet, range: cit.range });
    const shown = panel.messages.filter((m) => m.type === 'range').pop();
    assert.equal(shown.sheet, cit.sheet);
    assert.deepEqual(shown.rows[0].slice(0, 2), ['region', 'product']);
    // Cancel button during a slow answer.
    let sawDelta;
    const delta = new Promise((r) => { sawDelta = r; });
    panel.onMessage = (m) => { if (m.type === 'delta') sawDelta(); };
    const asking = panel.handler({ type: 'ask', question: 'Answer slowly please' });
    await delta;
    const t0 = Date.now();
    await panel.handler({ type: 'cancel' });
    await asking;
    assert.equal(panel.messages[panel.messages.length - 1].type, 'busy');
    assert.ok(panel.messages.some((m) => m.type === 'cancelled'), JSON.stringify(panel.messages.slice(-3)));
    assert.ok(Date.now() - t0 < 5000);
  } finally { await ext.deactivate(); ollama.stop(); }
});

test('"trace this cell" on a citation shows the formula chain in the panel; the command prints it', async () => {
  const corpus = h.corpusDir();
  assert.ok(corpus, 'the corpus (../shared/corpus/files) is missing');
  const file = path.join(corpus, 'xlcalculator__use_case_01.xlsm');
  const { firstCell } = require('../src/rpc');
  assert.deepEqual(['C3:C4', '$F$20', 'a:a', '3:5', 'B2'].map(firstCell), ['C3', 'F20', 'A1', 'A3', 'B2']);
  const vscode = makeVscode({ path: h.xlchatBinary(), env: { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-') } });
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  try {
    vscode.window.activeTextEditor = { document: doc(file, '') };
    await vscode.calls.commands['xlchat.ask']();  // no question: the panel only
    assert.deepEqual(vscode.calls.errors, []);
    const panel = vscode.calls.panels[0];
    assert.match(panel.webview.html, /traceCell/, 'each citation has a trace link');
    // A citation Tenth!C3:C4: its first cell, C3 = SUM(A3,Hundred), Hundred = Eighth!$B$1.
    await panel.handler({ type: 'traceCell', sheet: 'Tenth', range: 'C3:C4' });
    const shown = panel.messages.filter((m) => m.type === 'trace').pop();
    assert.ok(shown, JSON.stringify(panel.messages.slice(-2)));
    assert.equal(shown.cell, 'C3');
    assert.equal(shown.result.cell.formula, 'SUM(A3,Hundred)');
    const lines = shown.text.split('\n');
    assert.equal(lines[0], 'Tenth!C3  =SUM(A3,Hundred)  → 102');
    assert.ok(lines.some((l) => l.includes('Hundred (name) = Eighth!B1')), shown.text);
    assert.ok(lines.some((l) => /└─ Eighth!B1  → 100$/.test(l)), shown.text);
    // The command palette: by argument, and by the input box (with dependents).
    const byArg = await vscode.calls.commands['xlchat.traceCell']({ sheet: 'Tenth', cell: 'C3' });
    assert.equal(byArg.text, shown.text);
    vscode.window.showInputBox = async () => 'Eighth!B1';
    const byBox = await vscode.calls.commands['xlchat.traceCell']();
    assert.match(byBox.text, /^Eighth!B1  → 100\nUsed by:\n/);
    assert.match(byBox.text, /Tenth!C3/);
    assert.ok(vscode.calls.output.join('').includes('Tenth!C3  =SUM(A3,Hundred)  → 102'));
    // A bad cell: an error message, not a throw.
    vscode.window.showInputBox = async () => 'Nope!A1';
    assert.equal(await vscode.calls.commands['xlchat.traceCell'](), undefined);
    assert.ok(vscode.calls.errors.some((m) => /no sheet named 'Nope'/.test(m)), vscode.calls.errors.join('\n'));
  } finally { await ext.deactivate(); }
});

test('Open Workspace Folder opens every workbook of the folder; Query Workspace joins them; a change is shown', async () => {
  const dir = h.tempDir('xlchat-ws-');
  fs.mkdirSync(path.join(dir, '2024'));
  fs.writeFileSync(path.join(dir, 'customers.csv'), 'customer_id,segment\nc1,Retail\nc2,Trade\n');
  fs.writeFileSync(path.join(dir, '2024', 'orders_01.csv'), 'order_id,customer_id,amount\n1,c1,10\n2,c2,20\n');
  fs.writeFileSync(path.join(dir, '2024', 'orders_02.csv'), 'order_id,customer_id,amount\n3,c1,5\n');
  fs.writeFileSync(path.join(dir, 'broken.xlsx'), 'PK\u0003\u0004 not a zip');
  const vscode = makeVscode({ path: h.xlchatBinary(), env: { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-') } });
  vscode.workspace.workspaceFolders = [{ uri: { fsPath: dir } }];
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  try {
    assert.equal(await vscode.calls.commands['xlchat.queryWorkspace']('SELECT 1'), undefined);
    assert.match(vscode.calls.errors.pop(), /open a workspace folder first/);
    const ws = await vscode.calls.commands['xlchat.openWorkspace']();
    assert.deepEqual(vscode.calls.errors, []);
    assert.deepEqual(ws.tables.map((t) => t.name).sort(), ['customers', 'orders_01', 'orders_02']);
    const out = vscode.calls.output.join('');
    assert.match(out, /orders: union of 2 tables/);
    assert.match(out, /not read: broken\.xlsx: corruptWorkbook/);
    const r = await vscode.calls.commands['xlchat.queryWorkspace']('SELECT c.segment, SUM(o.amount) FROM orders o JOIN customers c USING (customer_id) GROUP BY 1 ORDER BY 1');
    assert.deepEqual(r.rows, [['Retail', 15], ['Trade', 20]]);
    fs.writeFileSync(path.join(dir, '2024', 'orders_02.csv'), 'order_id,customer_id,amount\n3,c1,5\n4,c2,100\n');
    const deadline = Date.now() + 20000;
    while (!vscode.calls.output.join('').includes('2024/orders_02.csv changed') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    assert.match(vscode.calls.output.join(''), /workspace: 2024\/orders_02\.csv changed; re-indexed/);
    const total = await vscode.calls.commands['xlchat.queryWorkspace']('SELECT SUM(amount) FROM orders');
    assert.deepEqual(total.rows, [[135]]);
  } finally { await ext.deactivate(); }
});

test('Ask uses the open workspace: the answer cites files, and a citation shows its cells', async (t) => {
  const ollama = await h.startFakeOllama();
  const env = { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-'), OLLAMA_HOST: ollama.host, XLCHAT_MODEL: 'fake:latest' };
  const dir = h.tempDir('xlchat-wsask-');
  fs.mkdirSync(path.join(dir, 'q1'));
  fs.writeFileSync(path.join(dir, 'q1', 'sales.csv'), 'region,amount\nNorth,10\nSouth,20\n');
  fs.writeFileSync(path.join(dir, 'targets.csv'), 'region,target\nNorth,15\nSouth,25\n');
  const vscode = makeVscode({ path: h.xlchatBinary(), env, __question: 'How do sales compare with targets?' });
  vscode.workspace.workspaceFolders = [{ uri: { fsPath: dir } }];
  const ext = loadExtension(vscode);
  ext.activate({ subscriptions: [] });
  try {
    await vscode.calls.commands['xlchat.openWorkspace']();
    const panel = await vscode.calls.commands['xlchat.ask']();
    assert.deepEqual(vscode.calls.errors, []);
    const p = vscode.calls.panels[0];
    assert.equal(p.title, `xlchat: ${path.basename(dir)}`);
    assert.match(p.webview.html, /tables: sales · targets/);
    const answer = p.messages.find((m) => m.type === 'answer');
    assert.ok(answer, JSON.stringify(p.messages.slice(-3)));
    const deltas = p.messages.filter((m) => m.type === 'delta').map((m) => m.text);
    assert.equal(deltas.join(''), answer.result.answer);
    const cit = answer.result.citations[0];
    assert.ok(cit && cit.file && cit.workspaceId && !cit.workbookId, JSON.stringify(answer.result.citations));
    assert.ok(['q1/sales.csv', 'targets.csv'].includes(cit.file));
    // A click on the citation shows that file's cells.
    await p.handler({ type: 'openRange', workbookId: cit.workbookId, file: cit.file, sheet: cit.sheet, range: cit.range });
    const shown = p.messages.filter((m) => m.type === 'range').pop();
    assert.equal(shown.file, cit.file);
    assert.equal(shown.rows[0][0], 'region');
    assert.ok(panel);
  } finally { await ext.deactivate(); ollama.stop(); }
});
