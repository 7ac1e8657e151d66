'use strict';
// The chat panel's HTML (no vscode import: the webview object is passed in).
const crypto = require('crypto');

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

// One line for a chat/status notification: "Reading the prompt (1,566 tokens)…",
// "Waiting for the model… 12 s", "" once the reply streams. Also inlined in the webview.
function statusText(s) {
  const n = (x) => String(x).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const tokens = s.promptTokens != null ? ' (' + n(s.promptTokens) + ' tokens' + (s.contextTokens ? ' of ' + n(s.contextTokens) : '') + ')' : '';
  const step = s.step > 1 ? 'Step ' + s.step + ': ' : '';
  if (s.phase === 'prompt') return step + 'Reading the prompt' + tokens + '…';
  if (s.phase === 'waiting') return step + 'Waiting for the model' + tokens + '… ' + Math.floor((s.elapsedMs || 0) / 1000) + ' s';
  return '';
}

function panelHtml(webview, workbook) {
  const nonce = crypto.randomBytes(16).toString('base64');
  const csp = `default-src 'none'; style-src ${webview.cspSource} 'unsafe-inline'; script-src 'nonce-${nonce}';`;
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="${csp}">
<style>
 body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); }
 #log .q { font-weight: bold; margin-top: 1em; }
 #log .a { white-space: pre-wrap; }
 pre { white-space: pre; font-family: var(--vscode-editor-font-family); }
 #log .step { color: var(--vscode-descriptionForeground); font-size: 90%; }
 .cite a { margin-right: .6em; cursor: pointer; }
 table { border-collapse: collapse; margin: .5em 0; } td, th { border: 1px solid var(--vscode-panel-border); padding: 2px 6px; }
 #bar { display: flex; gap: .4em; margin-top: 1em; } #q { flex: 1; }
 #progress { min-height: 1.2em; color: var(--vscode-descriptionForeground); }
</style></head>
<body>
<h3>${esc(workbook.path)}</h3>
<div>${workbook.tables ? 'tables: ' + workbook.tables.map(esc).join(' · ') : workbook.sheets.map((s) => `${esc(s.name)} <small>${esc(s.range || 'empty')}</small>`).join(' · ')}</div>
<div id="log"></div>
<div id="range"></div>
<div id="progress"></div>
<div id="bar"><input id="q" placeholder="Ask about this ${workbook.tables ? 'workspace' : 'workbook'}"><button id="ask">Ask</button><button id="cancel" disabled>Cancel</button><button id="index">Index</button></div>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
const wbId = ${JSON.stringify(workbook.workbookId)};
const $ = (id) => document.getElementById(id);
let answerEl = null;
function add(cls, text) { const d = document.createElement('div'); d.className = cls; d.textContent = text; $('log').appendChild(d); return d; }
function ask() { const q = $('q').value.trim(); if (q) { vscode.postMessage({ type: 'ask', question: q }); $('q').value = ''; } }
$('ask').onclick = ask;
$('q').onkeydown = (e) => { if (e.key === 'Enter') ask(); };
$('cancel').onclick = () => vscode.postMessage({ type: 'cancel' });
$('index').onclick = () => vscode.postMessage({ type: 'index' });
const statusText = ${statusText.toString()};
function cell(v) { if (v === null || v === undefined) return ''; if (typeof v === 'object') return v.error || JSON.stringify(v); return String(v); }
window.addEventListener('message', (ev) => {
  const m = ev.data;
  if (m.type === 'question') { add('q', m.text); answerEl = add('a', ''); }
  else if (m.type === 'delta') { if (!answerEl) answerEl = add('a', ''); answerEl.textContent += m.text; }
  else if (m.type === 'step') add('step', m.step.tool + ': ' + (m.step.summary || ''));
  else if (m.type === 'status') $('progress').textContent = statusText(m.status);
  else if (m.type === 'answer') {
    if (answerEl) answerEl.textContent = m.result.answer;
    $('progress').textContent = '';
    const c = document.createElement('div'); c.className = 'cite';
    for (const cit of m.result.citations || []) {
      // A workspace answer's citation names its file: sales_2024.xlsx › Orders!A2:H2.
      const a = document.createElement('a'); a.textContent = (cit.file ? cit.file + ' › ' : '') + cit.sheet + '!' + cit.range;
      a.onclick = () => vscode.postMessage({ type: 'openRange', workbookId: cit.workbookId, file: cit.file, sheet: cit.sheet, range: cit.range });
      c.appendChild(a);
      // "Trace this cell": how the citation's (first) cell is computed.
      const tr = document.createElement('a'); tr.textContent = 'ƒ'; tr.title = 'Trace this cell';
      tr.onclick = () => vscode.postMessage({ type: 'traceCell', workbookId: cit.workbookId, file: cit.file, sheet: cit.sheet, range: cit.range });
      c.appendChild(tr);
    }
    if ((m.result.ungrounded || []).length) add('step', 'Not found in the cells the model saw: ' + m.result.ungrounded.join(', '));
    if (m.result.stale) add('step', m.result.stale);
    $('log').appendChild(c); answerEl = null;
  }
  else if (m.type === 'range') {
    const t = document.createElement('table');
    for (const row of m.rows) { const tr = t.insertRow(); for (const v of row) tr.insertCell().textContent = cell(v); }
    const box = $('range'); box.textContent = (m.file ? m.file + ' › ' : '') + m.sheet + '!' + (m.range || '') + (m.truncated ? ' (truncated)' : ''); box.appendChild(t);
  }
  else if (m.type === 'trace') {
    const box = $('range'); box.textContent = '';
    const pre = document.createElement('pre'); pre.textContent = m.text; box.appendChild(pre);
  }
  else if (m.type === 'progress') {
    const v = m.value; $('progress').textContent = v.kind === 'end' ? '' : (v.title || v.message || 'working') + (v.percentage != null ? ' ' + v.percentage + '%' : '');
  }
  else if (m.type === 'indexed') add('step', 'indexed: ' + m.result.chunks + ' chunks' + (m.result.reused ? ' (reused)' : ''));
  else if (m.type === 'busy') { $('cancel').disabled = !m.busy; $('ask').disabled = m.busy; }
  else if (m.type === 'cancelled') add('step', 'cancelled');
  else if (m.type === 'error') add('step', 'error: ' + m.message);
});
</script></body></html>`;
}

module.exports = { panelHtml, esc, statusText };
