// TEMPORARY experiment (deleted after use): per-workflow memory and start cost of the trigger workflow, per bundle variant.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { resolveTemporalCli, startTemporalDevServer } from '../../src/temporal/dev-server.js';
import { WORKFLOWS_PATH } from '../../src/worker/worker.js';
import { getFreePort } from '../helpers/ports.js';

const logger = pino({ level: 'silent' });
const K = Number(process.env.K ?? 400);
const serverTicks = () => { const f = readFileSync(`/proc/${process.argv[5]}/stat`, 'utf8'); const r = f.slice(f.lastIndexOf(')') + 2).split(' '); return Number(r[11]) + Number(r[12]); };
const rss = () => Number(readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!.replace(/\D+/g, '')) / 1024;

if (process.argv[2] === 'child') {
  const variant = process.argv[3]!;
  const address = process.argv[4]!;
  const preload = variant === 'zod' ? ['zod'] : [];
  const workflowsPath = variant === 'local' ? fileURLToPath(new URL('./triggers-scratch-wf-local.ts', import.meta.url)) : WORKFLOWS_PATH;
  const bundle = await bundleWorkflowCode({ workflowsPath, logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} } as never, preloadModules: preload });
  const stored = {
    input: {
      id: 't', organizationId: 'o', name: 'n', chainId: 31337, registry: 'reputation', enabled: true,
      settings: { cooldown_seconds: 0, hysteresis: false, start_block: null },
      conditions: [
        { key: '1', condition_type: 'agent_id_equals', field: 'agent_id', operator: '=', value: '7', config: null },
        { key: '2', condition_type: 'score_threshold', field: 'value', operator: '>=', value: '0', config: null },
      ],
    },
    startSeq: '0', startBlock: null, actions: [], createdBy: 'u',
  };
  let loads = 0;
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  let records = 0;
  const connection = await NativeConnection.connect({ address });
  const taskQueue = `vm-${variant}-${Date.now()}`;
  const worker = await Worker.create({
    connection, taskQueue, workflowBundle: bundle, maxCachedWorkflows: Number(process.env.CACHE ?? 1000),
    activities: {
      loadTriggerDefinition: async () => { loads++; return stored; },
      recordMatches: async (id: string, m: unknown[]) => { records += m.length; const t = sentAt.get(id); if (t !== undefined) lat.push(performance.now() - t); return m.length; },
      startDeliveries: async () => 0,
      saveTriggerState: async () => undefined,
      deleteTriggerState: async () => undefined,
    },
  });
  const running = worker.run();
  const rss0 = rss();
  const clientConnection = await Connection.connect({ address });
  const client = new Client({ connection: clientConnection });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < K; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, K - i) }, (_, j) => client.workflow.start('triggerWorkflow', { taskQueue, workflowId: `${taskQueue}/${i + j}`, args: [{ triggerId: `t${i + j}` }] })));
  }
  while (loads < K) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 2000));
  const startMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const rss1 = rss();
  const heap = process.memoryUsage();
  // One event to each: time until all recorded.
  const t1 = performance.now();
  const cpu1 = process.cpuUsage();
  const serverTicks0 = serverTicks();
  const event = (i: number) => ({ ingest_seq: String(i + 1), id: `31337-${i}-0`, chain_id: 31337, block_number: i, log_index: 0, timestamp: 1_767_225_600 + i, registry: 'reputation', event_type: 'NewFeedback', agent_id: '7', value: '95', value_decimals: 0, tag1: null, tag2: null, tag: null, validator_address: null, file_uri: null, response: null, request_hash: null });
  for (let i = 0; i < K; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, K - i) }, (_, j) => client.workflow.getHandle(`${taskQueue}/${i + j}`).signal('events', { items: [{ kind: 'event', event: event(i + j) }] })));
  }
  while (records < K) await new Promise((r) => setTimeout(r, 20));
  const signalMs = performance.now() - t1;
  const cpuSig = process.cpuUsage(cpu1);
  const serverTicks1 = serverTicks();
  console.log(JSON.stringify({ variant, K, rssStart: Math.round(rss0), rssLoaded: Math.round(rss1), perWorkflowMiB: ((rss1 - rss0) / K).toFixed(2), heapUsedMiB: Math.round(heap.heapUsed / 2 ** 20), startPerSec: Math.round(K / (startMs / 1000)), workerCpuMsPerStart: ((cpu.user + cpu.system) / 1000 / K).toFixed(1), signalAllMs: Math.round(signalMs), signalsPerSec: Math.round(K / (signalMs / 1000)), workerCpuMsPerSignal: ((cpuSig.user + cpuSig.system) / 1000 / K).toFixed(1), serverCpuMsPerSignal: ((serverTicks1 - serverTicks0) * 10 / K).toFixed(1), rssAfterSignals: Math.round(rss()) }));
  // Paced: 20 signals/s for 100 signals, latency signal sent → recordMatches invoked.
  lat.length = 0;
  const before = records;
  const p0 = performance.now();
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, Math.max(0, p0 + i * 50 - performance.now())));
    const id = `t${i}`;
    sentAt.set(id, performance.now());
    void client.workflow.getHandle(`${taskQueue}/${i}`).signal('events', { items: [{ kind: 'event', event: event(K + i) }] });
  }
  while (records < before + 100) await new Promise((r) => setTimeout(r, 20));
  lat.sort((a, b) => a - b);
  console.log(JSON.stringify({ variant, paced20PerSec: { p50: lat[49]!.toFixed(1), p90: lat[89]!.toFixed(1), max: lat[99]!.toFixed(1) } }));
  worker.shutdown();
  await running;
  await clientConnection.close();
  await connection.close();
  process.exit(0);
}

const cli = await resolveTemporalCli();
const server = await startTemporalDevServer({ cliPath: cli, port: await getFreePort(), namespace: 'default', logger, headless: true });
try {
  for (const variant of (process.env.VARIANTS ?? 'default,zod').split(',')) {
    await new Promise<void>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'child', variant, server.address, String(server.process.pid)], { stdio: 'inherit' });
      child.on('exit', () => resolve());
    });
  }
} finally {
  await server.stop();
}
