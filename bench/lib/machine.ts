import { statfs } from 'node:fs/promises';
import { cpus, release, totalmem, type } from 'node:os';

/** Filesystem magic numbers (statfs f_type) of the usual suspects. */
const FS_TYPES: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs',
  0x65735546: 'fuse',
  0x6969: 'nfs',
  0x2fc12fc1: 'zfs',
};

/** What the figures were measured on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  os: string;
  node: string;
  /** Filesystem of the benchmark directory. */
  fs: string;
}

/** Describe this machine and the filesystem under `dir`. */
export async function machineInfo(dir: string): Promise<MachineInfo> {
  const cpu = cpus();
  let fs = 'unknown';
  try {
    const t = (await statfs(dir)).type;
    fs = FS_TYPES[t] ?? `0x${t.toString(16)}`;
  } catch {
    // leave unknown
  }
  return {
    cpu: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()}`,
    node: process.version,
    fs,
  };
}

/** One-line description for a report. */
export function describeMachine(m: MachineInfo): string {
  return `${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB RAM, ${m.os}, Node ${m.node}, ${m.fs}`;
}
