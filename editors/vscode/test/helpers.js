'use strict';
// Test helpers: locate the xlchat binary, start the fake Ollama, make fixtures.
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const repoRoot = path.resolve(__dirname, '..', '..', '..');

function xlchatBinary() {
  const candidates = [process.env.XLCHAT_BIN, path.join(repoRoot, '.build', 'debug', 'xlchat')].filter(Boolean);
  for (const c of candidates) if (fs.existsSync(c)) return path.resolve(c);
  throw new Error(`xlchat binary not found (set XLCHAT_BIN; tried ${candidates.join(', ')})`);
}

function corpusDir() {
  const d = path.resolve(repoRoot, '..', 'shared', 'corpus', 'files');
  return fs.existsSync(d) ? d : null;
}

/** Starts editors/testing/fake_ollama.py; resolves {host, stop()}. */
function startFakeOllama() {
  const script = path.join(repoRoot, 'editors', 'testing', 'fake_ollama.py');
  const proc = spawn(process.env.PYTHON || 'python3', [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (c) => {
      out += c.toString();
      const m = /OLLAMA_HOST=(\S+)/.exec(out);
      if (m) {
        // A test that fails before stop() must not leave node waiting on this child.
        proc.unref(); proc.stdin.unref && proc.stdin.unref(); proc.stdout.unref && proc.stdout.unref();
        resolve({ host: m[1], stop: () => { proc.stdin.end(); proc.kill(); } });
      }
    });
    proc.on('exit', (code) => reject(new Error(`fake ollama exited ${code}`)));
  });
}

function tempDir(prefix = 'xlchat-node-') { return fs.mkdtempSync(path.join(os.tmpdir(), prefix)); }

function writeSalesCsv(dir) {
  const p = path.join(dir, 'sales.csv');
  fs.writeFileSync(p, 'region,product,units,price\nNorth,Apples,10,1.5\nSouth,Pears,20,2.25\nNorth,Plums,5,3\nEast,Apples,7,1.5\n');
  return p;
}

function serverEnv(extra = {}) {
  const env = { ...process.env, XLCHAT_DATA_DIR: tempDir('xlchat-data-'), ...extra };
  delete env.XLCHAT_PROVIDER;
  return env;
}

module.exports = { xlchatBinary, corpusDir, startFakeOllama, tempDir, writeSalesCsv, serverEnv, repoRoot };
