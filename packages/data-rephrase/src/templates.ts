/**
 * Stage 3, prompt templates.
 *   in:  a template, a source chunk, the rewritten text so far, the chunk's place in the document
 *   out: chat messages for the rewriting call (and for the optional translation step)
 * The knowledge library varies style and perspective (K2's rephrasing: the same facts seen in many
 * forms); the math template rewrites into a SwallowMath-style learning note. Every template asks
 * for the same facts, names and numbers and nothing more, and for the rewrite alone.
 */
import { KarakoramError } from '@karakoram/core';
import type { ChatMessage } from '@karakoram/llm';

/** The kind of text a template is for: knowledge (prose) or math. */
export type TemplateMode = 'knowledge' | 'math';

/** A rephrasing style. */
export interface RephraseTemplate {
  name: string;
  mode: TemplateMode;
  /** The style and perspective, in one instruction. */
  instruction: string;
}

/** The built-in rephrasing styles for knowledge text. */
export const KNOWLEDGE_TEMPLATES: readonly RephraseTemplate[] = [
  { name: 'encyclopedic', mode: 'knowledge', instruction: 'Rewrite it as a neutral, well-organised encyclopedia entry written in the third person.' },
  { name: 'qa', mode: 'knowledge', instruction: 'Rewrite it as a sequence of questions, each followed by a complete answer, that together cover every fact.' },
  { name: 'lecture-notes', mode: 'knowledge', instruction: "Rewrite it as a lecturer's notes: short headed sections with concise bullet points." },
  { name: 'narrative', mode: 'knowledge', instruction: 'Retell it as a flowing narrative, like a chapter of a popular non-fiction book, without inventing events.' },
  { name: 'textbook', mode: 'knowledge', instruction: 'Rewrite it as a textbook passage: introduce each idea, explain it clearly, and connect it to the next.' },
  { name: 'faq', mode: 'knowledge', instruction: 'Rewrite it as a Frequently Asked Questions page with short, direct answers.' },
  { name: 'first-person-expert', mode: 'knowledge', instruction: 'Rewrite it in the first person, as an expert in the field explaining what they know to a colleague.' },
  { name: 'for-a-child', mode: 'knowledge', instruction: 'Rewrite it for a curious ten-year-old: simple words and short sentences, but every fact kept exactly.' },
  { name: 'news-report', mode: 'knowledge', instruction: 'Rewrite it as a factual news report: the key facts first, then the details.' },
  { name: 'dialogue', mode: 'knowledge', instruction: 'Rewrite it as a dialogue in which a student asks and a teacher answers, covering every fact.' },
  { name: 'summary-then-detail', mode: 'knowledge', instruction: 'Rewrite it as a one-sentence summary followed by a detailed, restructured explanation.' },
];

/** The built-in rephrasing styles for mathematical text. */
export const MATH_TEMPLATES: readonly RephraseTemplate[] = [
  {
    name: 'learning-note',
    mode: 'math',
    instruction:
      'Rewrite it as a concise learning note (SwallowMath style): remove headers, signatures, links and other text unrelated to the mathematics; ' +
      'state the problem or topic clearly; restate the key concepts and definitions it relies on; give a clear step-by-step solution or derivation, ' +
      'keeping every intermediate result and number; and end with the final answer or conclusion.',
  },
];

/** All built-in templates, knowledge then math. */
export const BUILTIN_TEMPLATES: readonly RephraseTemplate[] = [...KNOWLEDGE_TEMPLATES, ...MATH_TEMPLATES];

const SYSTEM =
  'You rewrite source text faithfully in a requested style. Keep every fact, name and number of the source; ' +
  'add nothing the source does not say; do not comment on the task. Output only the rewritten text.';

/** What one rewrite call is about: the chunk, its position and the rewrite so far. */
export interface RewriteSlot {
  chunk: string;
  /** The rewrite of the earlier chunks (its end, when long); empty for the first chunk. */
  previous: string;
  chunkIndex: number;
  chunkCount: number;
}

/** The chat messages asking for the rewrite of one chunk in the template's style. */
export function rewriteMessages(t: RephraseTemplate, s: RewriteSlot): ChatMessage[] {
  const parts = [`Style: ${t.instruction}`];
  if (s.previous) parts.push(`The rewrite so far (continue it seamlessly; do not repeat it):\n${s.previous}`);
  parts.push(s.chunkCount > 1 ? `Source, part ${s.chunkIndex + 1} of ${s.chunkCount}:\n${s.chunk}` : `Source:\n${s.chunk}`);
  parts.push(s.chunkCount > 1 ? 'Rewrite of this part:' : 'Rewrite:');
  return [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: parts.join('\n\n') },
  ];
}

/** The chat messages asking for an English translation of `text`. */
export function translateMessages(text: string): ChatMessage[] {
  return [
    { role: 'system', content: 'You are a careful translator. Translate the text into English, keeping every fact, name, number and formula. Output only the translation.' },
    { role: 'user', content: text },
  ];
}

const STOP_EN = new Set(['the', 'of', 'and', 'to', 'in', 'is', 'a', 'that', 'for', 'it', 'as', 'was', 'with', 'on', 'by', 'are', 'be', 'this', 'from', 'or', 'an', 'at', 'which', 'not', 'have', 'has']);

const STOP_OTHER = new Set(['der', 'die', 'das', 'und', 'ist', 'ein', 'eine', 'den', 'von', 'zu', 'mit', 'im', 'le', 'la', 'les', 'et', 'est', 'une', 'des', 'du', 'el', 'los', 'las', 'y', 'es', 'del', 'il', 'di', 'che', 'e', 'het', 'een', 'och']);

/** A cheap guess: mostly non-Latin letters, or (in Latin script) more common function words of other languages than of English, or hardly any English ones. */
export function looksNonEnglish(text: string): boolean {
  const letters = text.match(/\p{L}/gu) ?? [];
  if (letters.length === 0) return false;
  const nonAscii = letters.filter((c) => c > '\u007f').length;
  if (nonAscii / letters.length > 0.3) return true;
  const words = text.toLowerCase().match(/\p{L}+/gu) ?? [];
  const en = words.filter((w) => STOP_EN.has(w)).length;
  const other = words.filter((w) => STOP_OTHER.has(w)).length;
  if (other >= 2 && other > en) return true;
  return words.length >= 20 && en / words.length < 0.05;
}

/** FNV-1a, for a stable template choice per document. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** The template of a document's `index`-th rephrasing: consecutive indices walk the list from a per-document start. */
export function templateFor(sourceId: string, index: number, templates: readonly RephraseTemplate[]): RephraseTemplate {
  return templates[(hash32(sourceId) + index) % templates.length]!;
}

/** The templates a run draws from: the named ones (built-in or custom), else every one of `mode`. */
export function selectTemplates(mode: TemplateMode, names: readonly string[] | undefined, custom: readonly RephraseTemplate[] = []): RephraseTemplate[] {
  const all = [...BUILTIN_TEMPLATES, ...custom];
  if (!names) {
    const own = all.filter((t) => t.mode === mode);
    return custom.some((t) => t.mode === mode) ? custom.filter((t) => t.mode === mode) : own;
  }
  return names.map((n) => {
    const t = [...custom, ...BUILTIN_TEMPLATES].find((x) => x.name === n);
    if (!t) throw new KarakoramError('config', `unknown template "${n}" (known: ${all.map((x) => x.name).join(', ')})`, 'rephrase config: templates');
    return t;
  });
}
