'use strict';
// The .vsix as VS Code receives it: unpacked with a zip reader of our own (not the Python
// zipfile that wrote it), its manifest checked against package.json, and extension.js loaded
// from the unpacked copy and run against the real binary.
// The package under test: $XLCHAT_VSIX (CI: the one in dist/), else a fresh build of
// scripts/package/vsix.py into a temporary folder.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const h = require('./helpers');
const { makeVscode, loadExtension, doc } = require('./vscode-stub');

/** The entries of a zip file (APPNOTE.TXT 4.3: end of central directory, central directory, local headers). */
function unzip(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 65535); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  assert.ok(eocd >= 0, 'zip: no end of central directory');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const entries = new Map();
  for (let n = 0; n < count; n++) {
    assert.equal(buf.readUInt32LE(p), 0x02014b50, 'zip: central directory entry');
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const usize = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28), extraLen = buf.readUInt16LE(p + 30), commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.slice(p + 46, p + 46 + nameLen).toString('utf8');
    assert.equal(buf.readUInt32LE(local), 0x04034b50, `zip: local header of ${name}`);
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.slice(start, start + csize);
    const data = method === 8 ? zlib.inflateRawSync(raw) : method === 0 ? raw : assert.fail(`zip: method ${method} in ${name}`);
    assert.equal(data.length, usize, `zip: size of ${name}`);
    assert.ok(!name.startsWith('/') && !name.split('/').includes('..'), `zip: unsafe name ${name}`);
    entries.set(name, data);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function vsixPath() {
  if (process.env.XLCHAT_VSIX) return process.env.XLCHAT_VSIX;
  const out = h.tempDir('xlchat-vsix-');
  execFileSync(process.env.PYTHON || 'python3', [path.join(h.repoRoot, 'scripts', 'package', 'vsix.py'), '--out', out]);
  const [name] = fs.readdirSync(out).filter((f) => f.endsWith('.vsix'));
  return path.join(out, name);
}

const vsix = vsixPath();
const entries = unzip(fs.readFileSync(vsix));
const unpacked = h.tempDir('xlchat-vsix-unpacked-');
for (const [name, data] of entries) {
  fs.mkdirSync(path.dirname(path.join(unpacked, name)), { recursive: true });
  fs.writeFileSync(path.join(unpacked, name), data);
}
const pkg = JSON.parse(entries.get('extension/package.json').toString('utf8'));
const manifest = entries.get('extension.vsixmanifest').toString('utf8');

/** The attributes of the first <tag .../> or the text of <tag>...</tag> in the manifest. */
function attrs(tag) {
  const m = new RegExp(`<${tag}\\s([^>]*?)/?>`).exec(manifest);
  assert.ok(m, `manifest has <${tag}>`);
  return Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((a) => [a[1], a[2]]));
}
function text(tag) {
  const m = new RegExp(`<${tag}[^>]*>([^<]*)</${tag}>`).exec(manifest);
  assert.ok(m, `manifest has <${tag}>`);
  return m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
}

test('vsix: the parts VS Code needs are there', () => {
  for (const name of ['[Content_Types].xml', 'extension.vsixmanifest', 'extension/package.json',
    'extension/README.md', 'extension/LICENSE.txt']) assert.ok(entries.has(name), `${name} in ${vsix}`);
  assert.ok(entries.has(path.posix.join('extension', pkg.main)), `main ${pkg.main} is packaged`);
  for (const name of entries.keys()) {
    assert.ok(name === '[Content_Types].xml' || name === 'extension.vsixmanifest' || name.startsWith('extension/'), name);
    assert.ok(!/(^|\/)(test|node_modules)\//.test(name) && !/(^|\/)\./.test(name), `not shipped: ${name}`);
  }
  // Every file's extension has a content type.
  const types = entries.get('[Content_Types].xml').toString('utf8');
  for (const name of entries.keys()) {
    if (name === '[Content_Types].xml') continue;
    const ext = path.posix.extname(name);
    assert.match(types, new RegExp(`<Default Extension="${ext.replace('.', '\\.')}" ContentType="[^"]+"/>`), `content type for ${name}`);
  }
});

test('vsix: the manifest agrees with package.json', () => {
  const id = attrs('Identity');
  assert.equal(id.Id, pkg.name);
  assert.equal(id.Version, pkg.version);
  assert.equal(id.Publisher, pkg.publisher);
  assert.equal(text('DisplayName'), pkg.displayName);
  assert.equal(text('Description'), pkg.description);
  assert.equal(text('Categories'), pkg.categories.join(','));
  const engine = /<Property Id="Microsoft\.VisualStudio\.Code\.Engine" Value="([^"]*)"/.exec(manifest);
  assert.equal(engine && engine[1], pkg.engines.vscode);
  assert.match(manifest, /<InstallationTarget Id="Microsoft\.VisualStudio\.Code"/);
  const assets = [...manifest.matchAll(/<Asset Type="([^"]+)" Path="([^"]+)"/g)].map((m) => ({ type: m[1], path: m[2] }));
  assert.deepEqual(assets.find((a) => a.type === 'Microsoft.VisualStudio.Code.Manifest').path, 'extension/package.json');
  for (const a of assets) assert.ok(entries.has(a.path), `asset ${a.type} → ${a.path} is in the zip`);
  // The packaged package.json is the source tree's, unchanged (unless a prebuilt vsix is tested).
  if (!process.env.XLCHAT_VSIX) {
    assert.deepEqual(pkg, JSON.parse(fs.readFileSync(path.join(h.repoRoot, 'editors', 'vscode', 'package.json'), 'utf8')));
  }
});

test('vsix: extension.js from the unpacked copy activates and opens a workbook', async () => {
  const main = path.join(unpacked, 'extension', pkg.main);
  const vscode = makeVscode({ path: h.xlchatBinary(), env: { XLCHAT_DATA_DIR: h.tempDir('xlchat-data-') } });
  const ext = loadExtension(vscode, main);
  ext.activate({ subscriptions: [] });
  try {
    assert.deepEqual(Object.keys(vscode.calls.commands).sort(), pkg.contributes.commands.map((c) => c.command).sort());
    const file = h.writeSalesCsv(h.tempDir());
    vscode.window.activeTextEditor = { document: doc(file, fs.readFileSync(file, 'utf8'), { languageId: 'csv' }) };
    const wb = await vscode.calls.commands['xlchat.openWorkbook']();
    assert.deepEqual(vscode.calls.errors, []);
    assert.equal(wb.sheets[0].rows, 5);
    // The modules really came from the unpacked copy.
    assert.ok(Object.keys(require.cache).some((k) => k === path.join(unpacked, 'extension', 'src', 'rpc.js')));
  } finally { await ext.deactivate(); }
});

test('vsix: from the unpacked copy, a missing binary gives the install message', async () => {
  const vscode = makeVscode({ path: path.join(unpacked, 'nowhere', 'xlchat') });
  const ext = loadExtension(vscode, path.join(unpacked, 'extension', pkg.main));
  ext.activate({ subscriptions: [] });
  vscode.window.activeTextEditor = { document: doc(h.writeSalesCsv(h.tempDir()), '') };
  await vscode.calls.commands['xlchat.openWorkbook']();
  await ext.deactivate();
  assert.equal(vscode.calls.errors.length, 1);
  assert.match(vscode.calls.errors[0], /does not exist.*Install xlchat/);
});
