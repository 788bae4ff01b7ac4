import { STATUS_CODES } from 'node:http';
import { XMLParser } from 'fast-xml-parser';
import { z } from 'zod';
import { FsError } from '../../core/fs-error.ts';

/** The WebDAV namespace. */
export const DAV_NS = 'DAV:';

/** An XML element with its namespace resolved (`ns` is '' for no namespace). */
export interface XmlElement {
  ns: string;
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside the element (concatenated). */
  text: string;
}

/** A node as fast-xml-parser's `preserveOrder` mode yields it: one tag key, `:@` attributes. */
type RawNode = Record<string, unknown>;

const rawAttrsSchema = z.record(z.string(), z.string());
const rawNodeSchema = z.record(z.string(), z.unknown());
const rawDocSchema = z.array(rawNodeSchema);

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Entities are decoded here, in one pass (the parser's own decoding skips character
  // references), and CDATA is kept apart so it is not decoded.
  processEntities: false,
  cdataPropName: '#cdata',
  // No DTDs: entity expansion from a request body is an attack, never a feature.
  ignoreDeclaration: true,
  ignorePiTags: true,
});

/** Largest XML request body accepted (PROPFIND, PROPPATCH, LOCK). */
export const MAX_XML_BODY = 1024 * 1024;

/**
 * Parse a request body into its root element, namespaces resolved. Malformed XML, a DOCTYPE,
 * an undeclared prefix or a body without one root element is `EINVAL` (answered 400).
 */
export function parseXml(text: string): XmlElement {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw FsError.EINVAL('webdav', 'body', 'DTDs are not accepted');
  let raw: unknown;
  try {
    raw = parser.parse(text, true);
  } catch (err) {
    throw FsError.EINVAL('webdav', 'body', `malformed XML: ${(err as Error).message}`);
  }
  const doc = rawDocSchema.safeParse(raw);
  if (!doc.success) throw FsError.EINVAL('webdav', 'body', 'malformed XML');
  const roots = doc.data.filter((n) => tagOf(n) !== undefined);
  if (roots.length !== 1 || roots[0] === undefined)
    throw FsError.EINVAL('webdav', 'body', 'XML body needs exactly one root element');
  return resolve(roots[0], new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]));
}

function tagOf(node: RawNode): string | undefined {
  return Object.keys(node).find((k) => k !== ':@' && k !== '#text' && k !== '#cdata' && !k.startsWith('?'));
}

const NAMED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Decode XML's five named entities and character references; others are malformed. */
function decodeEntities(text: string): string {
  return text.replace(/&([^;&\s]*);?/g, (whole, body: string) => {
    const named = NAMED[body];
    if (named !== undefined && whole.endsWith(';')) return named;
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(body);
    const code = m ? parseInt(m[1] ?? m[2] ?? '', m[1] !== undefined ? 16 : 10) : NaN;
    if (!whole.endsWith(';') || !(code > 0 && code <= 0x10ffff))
      throw FsError.EINVAL('webdav', 'body', `malformed XML entity '${whole}'`);
    return String.fromCodePoint(code);
  });
}

function resolve(node: RawNode, scope: ReadonlyMap<string, string>): XmlElement {
  const tag = tagOf(node);
  if (tag === undefined) throw FsError.EINVAL('webdav', 'body', 'malformed XML');
  const rawAttrs = rawAttrsSchema.safeParse(node[':@'] ?? {});
  if (!rawAttrs.success) throw FsError.EINVAL('webdav', 'body', 'malformed XML attributes');
  const inner = new Map(scope);
  const attrs: Record<string, string> = {};
  for (const [key, value] of Object.entries(rawAttrs.data)) {
    const decoded = decodeEntities(value);
    if (key === 'xmlns') inner.set('', decoded);
    else if (key.startsWith('xmlns:')) {
      // XML Namespaces 1.0: a prefix cannot be bound to the empty name.
      if (decoded === '')
        throw FsError.EINVAL('webdav', 'body', `empty namespace for prefix '${key.slice(6)}'`);
      inner.set(key.slice(6), decoded);
    } else attrs[key] = decoded;
  }
  const colon = tag.indexOf(':');
  const prefix = colon < 0 ? '' : tag.slice(0, colon);
  const ns = inner.get(prefix);
  if (ns === undefined && prefix !== '')
    throw FsError.EINVAL('webdav', 'body', `undeclared XML namespace prefix '${prefix}'`);
  const kids = z.array(rawNodeSchema).safeParse(node[tag]);
  if (!kids.success) throw FsError.EINVAL('webdav', 'body', 'malformed XML');
  const children: XmlElement[] = [];
  let text = '';
  for (const kid of kids.data) {
    if ('#text' in kid) text += decodeEntities(String(kid['#text']));
    else if ('#cdata' in kid) text += cdataText(kid['#cdata']);
    else if (tagOf(kid) !== undefined) children.push(resolve(kid, inner));
  }
  return { ns: ns ?? '', name: colon < 0 ? tag : tag.slice(colon + 1), attrs, children, text };
}

/** The text of a CDATA section as the parser gives it (`[{ '#text': … }]`). */
function cdataText(raw: unknown): string {
  const parts = z.array(z.object({ '#text': z.unknown() })).safeParse(raw);
  return parts.success ? parts.data.map((p) => String(p['#text'])).join('') : '';
}

/** The first child of `el` named `{ns}name`. */
export function child(el: XmlElement, name: string, ns = DAV_NS): XmlElement | undefined {
  return el.children.find((c) => c.ns === ns && c.name === name);
}

/** Whether `el` is `{ns}name`. */
export function isElement(el: XmlElement, name: string, ns = DAV_NS): boolean {
  return el.ns === ns && el.name === name;
}

/** Escape text for XML content or a double-quoted attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;',
  );
}

/**
 * Serialize an element with its namespaces declared inline, so the fragment stands alone
 * (dead property values, lock owners are stored and replayed this way).
 */
export function serializeXml(el: XmlElement): string {
  const attrs = Object.entries(el.attrs)
    .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
    .join('');
  const open = `<${el.name} xmlns="${escapeXml(el.ns)}"${attrs}`;
  const body = escapeXml(el.text) + el.children.map(serializeXml).join('');
  return body === '' ? `${open}/>` : `${open}>${body}</${el.name}>`;
}

/** The content of an element (its text and children) as a standalone XML fragment. */
export function innerXml(el: XmlElement): string {
  return escapeXml(el.text) + el.children.map(serializeXml).join('');
}

/** An element named `{ns}name` holding `inner` (already XML), prefixed `D:` for DAV:. */
export function propElement(opts: { ns: string; name: string; inner: string }): string {
  const { ns, name, inner } = opts;
  const open = ns === DAV_NS ? `D:${name}` : `${name} xmlns="${escapeXml(ns)}"`;
  const close = ns === DAV_NS ? `D:${name}` : name;
  return inner === '' ? `<${open}/>` : `<${open}>${inner}</${close}>`;
}

/** The opening of a multistatus document (RFC 4918 §13). */
export const MULTISTATUS_OPEN = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">';

/** The HTTP status line of a multistatus `status` element (`HTTP/1.1 507 Insufficient Storage`). */
export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}

/** A `propstat` element: property elements (already XML) and the status they share. */
export function propstatXml(props: readonly string[], status: number): string {
  return `<D:propstat><D:prop>${props.join('')}</D:prop><D:status>${statusLine(status)}</D:status></D:propstat>`;
}
