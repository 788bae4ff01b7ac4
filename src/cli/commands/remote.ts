import type { Command } from '../command.ts';
import { catCommand } from './cat.ts';
import { cpCommand } from './cp.ts';
import { findCommand } from './find.ts';
import { getCommand } from './get.ts';
import { lsCommand } from './ls.ts';
import { mkdirCommand } from './mkdir.ts';
import { mvCommand } from './mv.ts';
import { putCommand } from './put.ts';
import { rmCommand } from './rm.ts';
import { statCommand } from './stat.ts';
import { statusCommand } from './status.ts';
import { trustCommand } from './trust.ts';

/** The commands that talk to a node over the protocol, in the order help lists them. */
export const remoteCommands: readonly Command[] = [
  statusCommand,
  trustCommand,
  lsCommand,
  statCommand,
  catCommand,
  getCommand,
  putCommand,
  cpCommand,
  mvCommand,
  rmCommand,
  mkdirCommand,
  findCommand,
];
