/** CPU and memory of processes and of the machine, from /proc: what the benchmarks print next to their figures. */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of the /proc CPU counters. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcStat {
  ppid: number;
  comm: string;
  /** utime + stime, clock ticks. */
  own: number;
  /** cutime + cstime (children that were waited for), clock ticks. */
  children: number;
}

export function procStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
    // Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), comm, own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

/** CPU ticks of a process, its reaped children and its live children (postgres: the postmaster and its backends). */
export function treeTicks(rootPid: number | undefined): number {
  if (rootPid === undefined) return Number.NaN;
  const root = procStat(rootPid);
  if (!root) return Number.NaN;
  let total = root.own + root.children;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat?.ppid === rootPid) total += stat.own;
  }
  return total;
}

/** Resident set size in bytes (VmRSS), or NaN once the process is gone. */
export function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.replace(/\D+/g, '')) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

export interface MachineTicks {
  /** user, nice, system, irq, softirq */
  busy: number;
  iowait: number;
  steal: number;
}

/** Machine-wide CPU ticks, every core (/proc/stat). */
export function machineTicks(): MachineTicks {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...
    return { busy: f[0]! + f[1]! + f[2]! + f[5]! + f[6]!, iowait: f[4]!, steal: f[7] ?? 0 };
  } catch {
    return { busy: Number.NaN, iowait: Number.NaN, steal: Number.NaN };
  }
}
