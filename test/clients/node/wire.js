'use strict';
// The conformance apps' own wire log, for Node.js: every TCP socket the
// process opens is logged (connection opened, refused, closed by the app or
// by the peer; each command written; each reply read), one JSON line per
// event, in the format of test/clients/go/internal/wire. install() patches
// net.Socket before the library opens any connection.

const fs = require('fs');
const net = require('net');
const { performance } = require('perf_hooks');

const MAX_ARGS = 16;
const MAX_ARG_LEN = 64;

function nowUs() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

class Recorder {
  constructor(path) {
    this.fd = fs.openSync(path, 'w');
    this.buf = [];
    this.on = true;
    this.nextId = 0;
  }

  log(ev) {
    if (!this.on) return;
    if (ev.t === undefined) ev.t = nowUs();
    this.buf.push(JSON.stringify(ev));
    if (this.buf.length >= 512) this.flush();
  }

  flush() {
    if (this.buf.length) {
      fs.writeSync(this.fd, this.buf.join('\n') + '\n');
      this.buf = [];
    }
  }

  stop() {
    this.on = false;
  }

  close() {
    this.stop();
    this.flush();
    fs.closeSync(this.fd);
  }
}

// Parser frames a byte stream into top-level RESP values.
class Parser {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.broken = false;
  }

  feed(chunk, emit) {
    if (this.broken || !chunk || chunk.length === 0) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    let pos = 0;
    while (pos < this.buf.length) {
      let r;
      try {
        r = parse(this.buf, pos, true);
      } catch (e) {
        this.broken = true;
        this.buf = Buffer.alloc(0);
        return;
      }
      if (r === null) break;
      pos = r[1];
      if (r[0].type !== '|') emit(r[0]);
    }
    this.buf = this.buf.subarray(pos);
  }
}

function line(b, pos) {
  const i = b.indexOf('\r\n', pos);
  if (i < 0) return null;
  return [b.toString('latin1', pos, i), i + 2];
}

function clip(buf, name) {
  const s = buf.subarray(0, MAX_ARG_LEN).toString('utf8');
  return name ? s.toUpperCase() : s;
}

function parse(b, pos, top) {
  if (pos >= b.length) return null;
  const t = String.fromCharCode(b[pos]);
  if ('+-:_,#('.includes(t)) {
    const r = line(b, pos + 1);
    if (r === null) return null;
    return [{ type: t, str: b.toString('utf8', pos + 1, r[1] - 2) }, r[1]];
  }
  if ('$!='.includes(t)) {
    const r = line(b, pos + 1);
    if (r === null) return null;
    const n = parseInt(r[0], 10);
    if (Number.isNaN(n)) throw new Error('bad length');
    const next = r[1];
    if (n < 0) return [{ type: t, str: '' }, next];
    if (b.length < next + n + 2) return null;
    const raw = b.subarray(next, next + n);
    let str = raw.toString('utf8');
    if (t === '!') str = str.split('\n')[0].replace(/\r$/, '');
    return [{ type: t, str, raw }, next + n + 2];
  }
  if ('*%~>|'.includes(t)) {
    const r = line(b, pos + 1);
    if (r === null) return null;
    const n = parseInt(r[0], 10);
    if (Number.isNaN(n)) throw new Error('bad length');
    let next = r[1];
    const v = { type: t, n: Math.max(n, 0), args: [] };
    const items = '%|'.includes(t) ? 2 * n : n;
    for (let i = 0; i < items; i++) {
      const e = parse(b, next, false);
      if (e === null) return null;
      next = e[1];
      if (top && t === '*' && e[0].type === '$' && v.args.length < MAX_ARGS) {
        v.args.push(clip(e[0].raw || Buffer.alloc(0), i === 0));
      }
    }
    if (t === '|' && !top) return parse(b, next, false);
    return [v, next];
  }
  if (!top) throw new Error('bad type');
  const r = line(b, pos);
  if (r === null) return null;
  const words = r[0].split(/\s+/).filter(Boolean);
  return [{ type: 'i', n: words.length, args: words.slice(0, MAX_ARGS).map((w, i) => clip(Buffer.from(w), i === 0)) }, r[1]];
}

function dialClass(err) {
  if (err && err.code === 'ECONNREFUSED') return 'refused';
  if (err && (err.code === 'ETIMEDOUT' || /timeout/i.test(err.message || ''))) return 'timeout';
  return 'other';
}

let REC = null;

// install starts the log at path and patches net.Socket.
function install(path) {
  REC = new Recorder(path);
  const proto = net.Socket.prototype;
  const connect = proto.connect;
  const write = proto.write;
  const emit = proto.emit;
  const destroy = proto.destroy;
  const end = proto.end;

  proto.connect = function (...args) {
    if (!this.__w && REC) {
      const o = args[0];
      let port = 0;
      if (Array.isArray(o)) port = (o[0] && o[0].port) || 0;
      else if (o && typeof o === 'object') port = o.port;
      else port = o;
      this.__w = { id: ++REC.nextId, port: Number(port), open: false, done: false, out: new Parser(), in: new Parser() };
      this.once('connect', () => {
        this.__w.open = true;
        REC.log({ c: this.__w.id, k: 'open', p: this.__w.port });
      });
    }
    return connect.apply(this, args);
  };

  proto.write = function (chunk, encoding, cb) {
    const w = this.__w;
    if (w && REC && chunk != null) {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk);
      w.out.feed(b, (v) => {
        const ev = { c: w.id, k: 'cmd', a: v.args || [] };
        if ((v.n || 0) > ev.a.length && ev.a.length >= MAX_ARGS) ev.n = v.n;
        REC.log(ev);
      });
    }
    return write.call(this, chunk, encoding, cb);
  };

  proto.emit = function (event, ...args) {
    const w = this.__w;
    if (w && REC) {
      if (event === 'data' && args[0]) {
        const b = typeof args[0] === 'string' ? Buffer.from(args[0]) : args[0];
        w.in.feed(b, (v) => {
          const ev = { c: w.id, k: 'rep', r: v.type };
          if (v.type === '-' || v.type === '!') ev.e = v.str;
          else if (v.type === ':' || v.type === '+') ev.v = v.str;
          REC.log(ev);
        });
      } else if (event === 'end' && !w.done) {
        w.done = true;
        REC.log({ c: w.id, k: 'eof' });
      } else if (event === 'timeout' && w.open && !w.done) {
        REC.log({ c: w.id, k: 'rto' });
      }
    }
    return emit.call(this, event, ...args);
  };

  // destroy(err) comes from the stream itself (a socket error) or from the
  // app; destroy()/end() without an error is the app closing.
  proto.destroy = function (err, ...rest) {
    const w = this.__w;
    if (w && REC && !w.done) {
      w.done = true;
      if (!w.open) {
        REC.log({ c: w.id, k: 'dialerr', p: w.port, e: err ? dialClass(err) : 'timeout' });
      } else if (err && err.code === 'ECONNRESET') {
        REC.log({ c: w.id, k: 'reset' });
      } else if (err && (err.code === 'EPIPE' || err.code === 'ECONNABORTED')) {
        REC.log({ c: w.id, k: 'reset' });
      } else {
        REC.log({ c: w.id, k: 'close' });
      }
    }
    return destroy.call(this, err, ...rest);
  };

  proto.end = function (...args) {
    const w = this.__w;
    if (w && REC && !w.done && w.open) {
      w.done = true;
      REC.log({ c: w.id, k: 'close' });
    }
    return end.apply(this, args);
  };
  return REC;
}

module.exports = { install, nowUs, get rec() { return REC; } };
