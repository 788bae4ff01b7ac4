import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  SEAL_TICKET_HEADER,
  SEAL_TICKET_PATTERN,
  SEALED_SUBPROTOCOL,
  sealKeys,
} from '../protocol/sealed-messages.ts';
import type { SealTicket, SealTickets } from './seal-tickets.ts';
import { type PayloadPlace, ServerWireSocket, UpgradeRefused } from './wire-server-socket.ts';

/** An accepted sealed connection and the ticket it presented, or why it was refused. */
export type SealedUpgrade =
  { ws: ServerWireSocket; ticket: SealTicket } | { refused: { status: number; message: string } };

/**
 * Accept the upgrade of a plain connection to a sealed one (docs/protocol.md, "Sealed
 * connections"): the `tessera.sealed` subprotocol and a ticket a TLS session of this node
 * asked for, not yet used and not expired. The ticket is used up whatever happens next.
 */
export function acceptSealed(opts: {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  tickets: SealTickets;
  maxMessage: number;
  payloadPlace: PayloadPlace;
}): SealedUpgrade {
  const { req } = opts;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (!offered.includes(SEALED_SUBPROTOCOL))
    return refused(400, `a plain connection must ask for the '${SEALED_SUBPROTOCOL}' subprotocol`);
  const presented = req.headers[SEAL_TICKET_HEADER];
  if (typeof presented !== 'string' || !SEAL_TICKET_PATTERN.test(presented))
    return refused(400, `missing or malformed ${SEAL_TICKET_HEADER} header (32 hex digits)`);
  const ticket = opts.tickets.take(presented);
  if (ticket === undefined) return refused(401, 'unknown, used or expired seal ticket');
  const seal = sealKeys({ material: ticket.material, side: 'server' });
  try {
    const ws = ServerWireSocket.accept({
      req,
      socket: opts.socket,
      head: opts.head,
      protocol: SEALED_SUBPROTOCOL,
      maxMessage: opts.maxMessage,
      payloadPlace: opts.payloadPlace,
      seal,
    });
    return { ws, ticket };
  } catch (err) {
    if (!(err instanceof UpgradeRefused)) throw err;
    return refused(err.status, err.message);
  }
}

function refused(status: number, message: string): SealedUpgrade {
  return { refused: { status, message } };
}
