import pino, { type Logger } from 'pino';
import { loadConfig } from './config.js';

// Anything that could carry a secret is redacted at the logger, so no call site can leak one by accident.
const redact = Object.freeze({
  paths: [
    'password',
    '*.password',
    'token',
    '*.token',
    'authorization',
    '*.authorization',
    'headers.authorization',
    'req.headers.authorization',
    'apiKey',
    '*.apiKey',
    'html',
    '*.html',
    'text',
    '*.text',
    'variables.password',
    'variables.input.password',
  ],
  censor: '[redacted]',
});

// The one piece of module state in src/ (with Mongoose's model registry): the process's root logger, made on first use.
let root: Logger | undefined;

export function logger(): Logger {
  if (!root) {
    const c = loadConfig();
    const pretty = c.NODE_ENV === 'development' && process.stdout.isTTY;
    root = pino({
      level: c.LOG_LEVEL,
      redact: { paths: [...redact.paths], censor: redact.censor },
      base: { pid: process.pid },
      ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid' } } } : {}),
    });
  }
  return root;
}

export function childLogger(bindings: Record<string, unknown>): Logger {
  return logger().child(bindings);
}
