'use strict';
// A Node.js worker for corral (docs/workers.md): core `http` and `net` only.
//
// Sockets: every fd corral hands over (LISTEN_FDS from fd 3, named in
// LISTEN_FDNAMES) is served with `server.listen({ fd })`: the `http` ones
// with the app, the private `health` one with /health only.
//
// Drain on SIGTERM, failing no request:
// - stop accepting at once (the shared queue is served by the other workers),
//   without http.Server#close(): since Node 19 it also closes every idle
//   keep-alive connection at once, racing a client that is sending its next
//   request on it;
// - every response from then on carries `Connection: close`;
// - a connection with no request in flight is closed only once it has been
//   idle for IDLE_CLOSE_MS;
// - exit 0 when no connection is left, or at DRAIN_TIMEOUT_MS (keep it below
//   corral's kill_timeout).
//
// Routes: GET / -> {"pid", "instance", "server"}; GET /health; GET /slow?ms=N
// (an in-flight request for drain tests); anything else -> 404.

const http = require('http');
const net = require('net');

const FIRST_FD = 3;
// listen() on an inherited socket sets the backlog of the socket every worker
// shares (Node's default is 511): keep corral's `listen_backlog`.
const BACKLOG = 1024;
const IDLE_CLOSE_MS = 500;
const DRAIN_TIMEOUT_MS = Number(process.env.DRAIN_TIMEOUT_MS || 4000);

/** Per connection: requests in flight and when it last went idle. */
const connections = new Map();
/** Responses whose headers may still be sent. */
const open = new Set();
let draining = false;

function log(line) {
  console.log(`node-worker pid=${process.pid} ${line}`);
}

function reply(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(data),
  });
  res.end(data);
}

function app(req, res) {
  const url = new URL(req.url, 'http://worker');
  if (url.pathname === '/') {
    reply(res, 200, { pid: process.pid, instance: process.env.CORRAL_INSTANCE || '', server: 'node' });
  } else if (url.pathname === '/health') {
    reply(res, 200, { status: 'pass' });
  } else if (url.pathname === '/slow') {
    const ms = Number(url.searchParams.get('ms') || 0);
    log('slow request started');
    setTimeout(() => reply(res, 200, { pid: process.pid, slept_ms: ms }), ms);
  } else {
    reply(res, 404, { error: 'not found' });
  }
}

function health(req, res) {
  if (req.url === '/health') reply(res, 200, { status: 'pass' });
  else reply(res, 404, { error: 'not found' });
}

/** Wraps a handler with the bookkeeping the drain needs. */
function tracked(handler) {
  return (req, res) => {
    const conn = connections.get(req.socket);
    conn.busy += 1;
    open.add(res);
    if (draining) res.setHeader('Connection', 'close');
    res.on('close', () => {
      conn.busy -= 1;
      conn.idleSince = Date.now();
      open.delete(res);
    });
    handler(req, res);
  };
}

function track(socket) {
  connections.set(socket, { busy: 0, idleSince: Date.now() });
  socket.on('close', () => connections.delete(socket));
}

/** The sockets corral handed over, as sd_listen_fds(3) describes them. */
function inheritedSockets() {
  if (process.env.LISTEN_PID !== String(process.pid)) {
    throw new Error(`LISTEN_PID=${process.env.LISTEN_PID} is not our pid ${process.pid}: run under corral`);
  }
  const names = (process.env.LISTEN_FDNAMES || '').split(':');
  const count = Number(process.env.LISTEN_FDS || 0);
  return Array.from({ length: count }, (_, i) => ({ fd: FIRST_FD + i, name: names[i] || 'http' }));
}

function drain(servers) {
  if (draining) return;
  draining = true;
  log('draining');
  for (const res of open) {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  }
  // net.Server#close: stop accepting and call back once every connection of
  // that server has ended, leaving idle connections to the sweep below.
  const closed = servers.map((server) => new Promise((done) => net.Server.prototype.close.call(server, done)));
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, conn] of connections) {
      if (conn.busy === 0 && now - conn.idleSince >= IDLE_CLOSE_MS) socket.destroy();
    }
  }, 100);
  const deadline = setTimeout(() => {
    log(`drain timeout: closing ${connections.size} connection(s)`);
    for (const socket of connections.keys()) socket.destroy();
  }, DRAIN_TIMEOUT_MS);
  Promise.all(closed).then(() => {
    clearInterval(sweep);
    clearTimeout(deadline);
    log('drained');
    process.exit(0);
  });
}

function main() {
  const servers = inheritedSockets().map(({ fd, name }) => {
    const server = http.createServer(tracked(name === 'health' ? health : app));
    server.on('connection', track);
    server.listen({ fd, backlog: BACKLOG }, () => log(`listening on fd ${fd} (${name})`));
    return server;
  });
  if (servers.length === 0) throw new Error('no LISTEN_FDS: run under corral');
  process.on('SIGTERM', () => drain(servers));
  process.on('SIGINT', () => drain(servers));
}

main();
