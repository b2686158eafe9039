// mongodb-memory-server's mongod (downloaded once, then cached). mongodb-memory-server only provides the binary;
// we run it like any mongod (guardian, readiness check). MongoMemoryServer itself would leave its mongod in our
// process group (a Ctrl-C stops it while the app drains) and guard against kill -9 with a watchdog that polls
// every 2 s. It reads its own MONGOMS_* settings (version, download folder…) from the process environment.
import net from 'node:net';
import type { EmbeddedMongo, StartContext } from './context.js';
import { runMongod } from './mongod.js';

export async function startMemoryServerMongod(ctx: StartContext): Promise<EmbeddedMongo> {
  const { DryMongoBinary, MongoBinary } = await import('mongodb-memory-server');
  let binary = await DryMongoBinary.locateBinary(DryMongoBinary.getEnsuredOptions());
  if (!binary) {
    if (!ctx.settings.MONGOMS_RUNTIME_DOWNLOAD) throw new Error('no cached mongod binary and MONGOMS_RUNTIME_DOWNLOAD is off');
    // Without network mongodb-memory-server retries for seconds (and for minutes where packets are dropped):
    // find out first, in a few seconds at most.
    await probeDownloadHost(ctx);
    ctx.log('embedded MongoDB: downloading mongod with mongodb-memory-server (first use, ~100 MB)…');
    binary = await MongoBinary.getPath({});
  }
  return runMongod('memory-server', binary, ctx);
}

/** Can the MongoDB download host be reached? Throws the reason if not (within ~5 s). */
async function probeDownloadHost({ env, settings }: StartContext): Promise<void> {
  // Behind a proxy, mongodb-memory-server connects through it; a direct probe would prove nothing.
  if (env.HTTPS_PROXY || env.https_proxy || env.HTTP_PROXY || env.http_proxy || env.ALL_PROXY || env.all_proxy) return;
  const url = new URL(settings.MONGOMS_DOWNLOAD_URL ?? settings.MONGOMS_DOWNLOAD_MIRROR ?? 'https://fastdl.mongodb.org');
  const port = Number(url.port) || (url.protocol === 'http:' ? 80 : 443);
  const host = url.hostname;
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect({ host, port });
    const fail = (reason: string) => {
      socket.destroy();
      reject(new Error(`cannot reach ${host}:${port} to download mongod (${reason}); nothing is cached yet`));
    };
    const timer = setTimeout(() => fail('no answer within 5 s'), 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(err.code ?? err.message);
    });
  });
}
