// Preloaded (node --import) into a child process that must work offline: every way out fails
// loudly, naming what was tried. fetch rejects; net.Socket#connect throws, which covers http,
// https, tls and undici (the fetch Node had before this replaced it) alike.
import net from 'node:net';

const refuse = (what) => new Error(`network access refused in this test process: ${what}`);

globalThis.fetch = async (input) => {
  throw refuse(`fetch ${typeof input === 'string' ? input : (input.url ?? String(input))}`);
};

net.Socket.prototype.connect = function (...args) {
  // net.connect passes its normalized [options, callback] as one array.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const where = typeof first === 'object' && first !== null ? (first.path ?? `${first.host ?? 'localhost'}:${first.port}`) : args.filter((a) => typeof a !== 'function').join(':');
  throw refuse(`connect to ${where}`);
};
