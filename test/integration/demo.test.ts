/**
 * Demo mode: a persisted local anvil with our registries, and the simulator producing ERC-8004 activity on it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseEventLogs, type Abi, type Address, type Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoChain, type DemoChain } from '../../src/demo/demo-chain.js';
import { seededRandom, startSimulator, type Simulator } from '../../src/demo/simulator.js';
import { getFreePort } from '../helpers/ports.js';
import { until } from '../helpers/wait.js';
import { testLogger } from '../helpers/logger.js';

let dataDir: string;
let port: number;
const demos: DemoChain[] = [];
const simulators: Simulator[] = [];
const usedPorts = new Set<number>();
const extraDirs: string[] = [];

async function start(dir = dataDir, chainPort = port): Promise<DemoChain> {
  const demo = await startDemoChain({ dataDir: dir, port: chainPort, logger: testLogger });
  demos.push(demo);
  usedPorts.add(Number(new URL(demo.rpcUrl).port));
  return demo;
}

function simulate(demo: DemoChain, eventsPerSecond: number, seed: number): Simulator {
  const sim = startSimulator({
    registries: demo.registries,
    eventsPerSecond,
    logger: testLogger,
    random: seededRandom(seed),
  });
  simulators.push(sim);
  return sim;
}

/** Every decoded event of our four registries since the deployment block, by event name. */
async function registryEvents(demo: DemoChain) {
  const r = demo.registries;
  const { artifacts, deployed, publicClient } = r;
  const contracts: [Address, Abi][] = [
    [deployed.identity, artifacts.IdentityRegistry.abi],
    [deployed.reputation, artifacts.ReputationRegistry.abi],
    [deployed.validation, artifacts.ValidationRegistry.abi],
    [deployed.legacyReputation, artifacts.LegacyReputationRegistryV04.abi],
  ];
  const toBlock = await publicClient.getBlockNumber({ cacheTime: 0 });
  const decoded: { eventName: string; args: Record<string, unknown>; address: Address }[] = [];
  for (const [address, abi] of contracts) {
    const logs = await publicClient.getLogs({ address, fromBlock: deployed.deployBlock, toBlock });
    for (const log of parseEventLogs({ abi, logs })) {
      decoded.push({ eventName: log.eventName, args: log.args as Record<string, unknown>, address });
    }
  }
  const count = (name: string, address?: Address) =>
    decoded.filter((e) => e.eventName === name && (!address || e.address === address)).length;
  return { decoded, count };
}

/** Mines an empty block of our own and returns its number: a positive sign that the chain took our request. */
async function mineMarkerBlock(demo: DemoChain): Promise<bigint> {
  const client = demo.registries.publicClient;
  const before = await client.getBlockNumber({ cacheTime: 0 });
  await client.request({ method: 'evm_mine' } as never);
  const head = await client.getBlockNumber({ cacheTime: 0 });
  expect((await client.getBlock({ blockNumber: head })).transactions).toEqual([]);
  expect(head).toBe(before + 1n);
  return head;
}

function anvilsOnPort(p: number): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((line) => /anvil/.test(line) && new RegExp(`--port ${p}(\\s|$)`).test(line));
}

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'erc8004-demo-'));
  port = await getFreePort();
});

afterAll(async () => {
  await Promise.allSettled(simulators.map((s) => s.stop()));
  await Promise.allSettled(demos.map((d) => d.stop()));
  for (const dir of [dataDir, ...extraDirs]) if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('demo mode', () => {
  let first: DemoChain;
  let before: Awaited<ReturnType<typeof registryEvents>>;
  let headHash: Hex;
  let headNumber: bigint;

  it('starts a fresh chain whose configuration points at the four registries', async () => {
    first = await start();
    expect(first.fresh).toBe(true);
    const { chain, deployed } = first;
    expect(chain).toMatchObject({
      chainId: 31337,
      rpcUrl: first.rpcUrl,
      wsUrl: first.wsUrl,
      confirmations: 0,
      pollIntervalMs: 200,
      maxBlockRange: 2000,
    });
    const firstBlock = Number(deployed.deployBlock);
    expect(chain.deployments).toEqual([
      { registry: 'identity', address: deployed.identity.toLowerCase(), abiVersion: 'v1.0', firstBlock },
      { registry: 'reputation', address: deployed.reputation.toLowerCase(), abiVersion: 'v1.0', firstBlock },
      { registry: 'validation', address: deployed.validation.toLowerCase(), abiVersion: 'v1.0', firstBlock },
      { registry: 'reputation', address: deployed.legacyReputation.toLowerCase(), abiVersion: 'v0.4', firstBlock },
    ]);
    const deployment = JSON.parse(await fs.readFile(path.join(dataDir, 'anvil', 'deployment.json'), 'utf8'));
    expect(deployment).toMatchObject({
      chainId: 31337,
      identity: deployed.identity,
      deployBlock: String(deployed.deployBlock),
    });
  });

  it('simulates realistic activity at a steady rate without failures', async () => {
    const sim = simulate(first, 20, 42);
    // The seed fixes the sequence of actions: forty transactions include every kind checked below.
    await until(() => sim.stats().transactions >= 40, 30_000);
    await sim.stop();
    const stats = sim.stats();
    expect(stats.failures).toBe(0);
    // Stopped means stopped: no transaction after stop() resolved. A block we mine ourselves comes right after the
    // simulator's last one, and the simulator counted nothing more meanwhile.
    const head = await mineMarkerBlock(first);
    expect(sim.stats()).toEqual(stats);

    before = await registryEvents(first);
    const { count, decoded } = before;
    expect(count('Registered')).toBeGreaterThanOrEqual(4);
    expect(count('NewFeedback', first.deployed.reputation)).toBeGreaterThan(0);
    expect(count('ValidationRequest')).toBeGreaterThan(0);
    expect(count('MetadataSet')).toBeGreaterThanOrEqual(count('Registered')); // agentWallet at least
    const kinds = new Set(decoded.map((e) => e.eventName));
    expect(kinds.size).toBeGreaterThanOrEqual(5);
    // Every successful transaction is one block (automine); the deployment took the blocks up to deployBlock; one marker.
    expect(Number(head - first.deployed.deployBlock)).toBe(stats.transactions + 3 + 1);

    // Roles stay apart: nobody rates their own agent, the deployer does nothing.
    const deployer = first.deployed.deployer;
    for (const e of decoded) {
      if (e.eventName === 'NewFeedback') expect(e.args.clientAddress).not.toBe(deployer);
      if (e.eventName === 'Registered') expect(e.args.owner).not.toBe(deployer);
    }

    // Registration files follow registration-v1, with MCP / A2A services.
    const dataUris = decoded
      .filter((e) => e.eventName === 'Registered' || e.eventName === 'URIUpdated')
      .map((e) => String(e.args.agentURI ?? e.args.newURI))
      .filter((uri) => uri.startsWith('data:application/json;base64,'));
    expect(dataUris.length).toBeGreaterThan(0);
    for (const uri of dataUris) {
      const file = JSON.parse(
        Buffer.from(uri.slice('data:application/json;base64,'.length), 'base64').toString('utf8'),
      );
      expect(file.type).toBe('https://eips.ethereum.org/EIPS/eip-8004#registration-v1');
      expect(file.name).toEqual(expect.any(String));
      expect(file.services.map((s: { name: string }) => s.name)).toContain('web');
      expect(file.registrations[0].agentRegistry).toBe(`eip155:31337:${first.deployed.identity}`);
    }
    const services = dataUris.flatMap((uri) =>
      JSON.parse(Buffer.from(uri.split(',')[1]!, 'base64').toString('utf8')).services.map(
        (s: { name: string }) => s.name,
      ),
    );
    expect(services.some((s: string) => s === 'MCP' || s === 'A2A')).toBe(true);

    const block = await first.registries.publicClient.getBlock({ blockNumber: head });
    headHash = block.hash;
    headNumber = head;
  });

  it('resumes the same chain after a restart: same addresses, blocks and events', async () => {
    await first.stop();
    await expect(fs.stat(path.join(dataDir, 'anvil', 'state.json'))).resolves.toBeTruthy();

    const again = await start();
    expect(again.fresh).toBe(false);
    expect(again.deployed).toMatchObject({
      identity: first.deployed.identity,
      reputation: first.deployed.reputation,
      validation: first.deployed.validation,
      legacyReputation: first.deployed.legacyReputation,
      deployBlock: first.deployed.deployBlock,
    });
    const client = again.registries.publicClient;
    for (const address of [
      again.deployed.identity,
      again.deployed.reputation,
      again.deployed.validation,
      again.deployed.legacyReputation,
    ]) {
      expect((await client.getCode({ address }))?.length).toBeGreaterThan(2);
    }
    expect(await client.getBlockNumber({ cacheTime: 0 })).toBe(headNumber);
    expect((await client.getBlock({ blockNumber: headNumber })).hash).toBe(headHash);
    const after = await registryEvents(again);
    expect(after.decoded.length).toBe(before.decoded.length);

    // The simulator carries on with the agents already there.
    // As fast as it goes, so that stop() lands in the middle of a transaction.
    const sim = simulate(again, 1_000, 7);
    await until(() => sim.stats().transactions > 4, 30_000);
    await sim.stop();
    const stats = sim.stats();
    expect(stats.failures).toBe(0);
    // Stopped means stopped, also mid-transaction: after our own block, every block since the restart is one counted
    // transaction or ours.
    const marker = await mineMarkerBlock(again);
    expect(marker - headNumber).toBe(BigInt(stats.transactions + 1));
    expect(sim.stats()).toEqual(stats);
    const newHead = await client.getBlock({ blockTag: 'latest' });
    expect(newHead.number).toBeGreaterThan(headNumber);
    expect((await client.getBlock({ blockNumber: headNumber + 1n })).parentHash).toBe(headHash);
    await again.stop();
  });

  it('with eventsPerSecond 0 seeds a few agents, then idles', async () => {
    const demo = await start();
    expect(demo.fresh).toBe(false);
    const client = demo.registries.publicClient;
    const registeredBefore = (await registryEvents(demo)).count('Registered');
    const headBefore = await client.getBlockNumber({ cacheTime: 0 });
    const sim = simulate(demo, 0, 3);
    await until(() => sim.stats().transactions >= 4, 15_000);
    // Seeded, then idle: the seeding took four blocks, and a block we mine next comes right after them.
    expect(await mineMarkerBlock(demo)).toBe(headBefore + 5n);
    expect(sim.stats()).toMatchObject({ transactions: 4, failures: 0, byAction: { register: 4 } });
    expect((await registryEvents(demo)).count('Registered')).toBe(registeredBefore + 4);
    await sim.stop();
    await demo.stop();
  });

  it('redeploys cleanly when the saved chain does not match the saved deployment', async () => {
    const file = path.join(dataDir, 'anvil', 'deployment.json');
    const saved = JSON.parse(await fs.readFile(file, 'utf8'));
    await fs.writeFile(file, JSON.stringify({ ...saved, deployBlockHash: `0x${'ab'.repeat(32)}` }));
    const demo = await start();
    expect(demo.fresh).toBe(true);
    expect((await registryEvents(demo)).decoded).toEqual([]);
    const rewritten = JSON.parse(await fs.readFile(file, 'utf8'));
    expect(rewritten.deployBlockHash).not.toBe(`0x${'ab'.repeat(32)}`);
    await demo.stop();

    // A corrupt state file: anvil refuses it, the demo chain starts over.
    await fs.writeFile(path.join(dataDir, 'anvil', 'state.json'), 'not json');
    const again = await start();
    expect(again.fresh).toBe(true);
    await again.stop();
  });

  it('is reproducible: the same seed gives the same activity on a fresh chain', async () => {
    const dirs = await Promise.all([0, 1].map(() => fs.mkdtemp(path.join(os.tmpdir(), 'erc8004-demo-seed-'))));
    extraDirs.push(...dirs);
    // Two chains at once: each on a port of its own.
    const chains = await Promise.all(dirs.map(async (dir) => start(dir, await getFreePort())));
    const sims = chains.map((c) => simulate(c, 50, 99));
    await until(() => sims.every((s) => s.stats().transactions > 20), 30_000);
    await Promise.all(sims.map((s) => s.stop()));
    const [a, b] = await Promise.all(chains.map(async (c) => (await registryEvents(c)).decoded));
    const n = Math.min(a!.length, b!.length);
    expect(n).toBeGreaterThan(20);
    const show = (e: { eventName: string; args: Record<string, unknown> }) =>
      `${e.eventName} ${JSON.stringify(e.args, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`;
    // Events are grouped per registry by registryEvents: compare per registry over the common prefix of each.
    for (const address of [
      chains[0]!.deployed.identity,
      chains[0]!.deployed.reputation,
      chains[0]!.deployed.validation,
    ]) {
      const ea = a!.filter((e) => e.address === address).map(show);
      const eb = b!.filter((e) => e.address === address).map(show);
      const m = Math.min(ea.length, eb.length);
      expect(m).toBeGreaterThan(0);
      expect(ea.slice(0, m)).toEqual(eb.slice(0, m));
    }
    await Promise.all(chains.map((c) => c.stop()));
  });

  it('leaves no anvil running', async () => {
    await Promise.all(simulators.map((s) => s.stop()));
    await Promise.all(demos.map((d) => d.stop()));
    expect(usedPorts.size).toBeGreaterThan(0);
    for (const p of [...usedPorts, port]) expect(anvilsOnPort(p)).toEqual([]);
  });
});
