/**
 * The ablation's synthetic world: entities with a home city, a favourite colour and a pet,
 * rendered as raw text (one fixed phrasing) or as templated rephrasings (ten styles that vary
 * wording, perspective and order), plus cloze questions to score a model on.
 *
 * The rephrasings here are templated rewrites, not LLM rewrites: no strong LLM is available to
 * these tests. They play the role of K2's rephrasings (the same facts in many forms).
 */
export const CITIES = ['Quellport', 'Marrowby', 'Tessaline', 'Oakhurst', 'Brindlemere', 'Carrowick', 'Delphin', 'Ostvale'] as const;
export const COLOURS = ['amber', 'crimson', 'teal', 'violet', 'ochre', 'silver', 'indigo', 'olive'] as const;
export const ANIMALS = ['heron', 'badger', 'otter', 'falcon', 'lynx', 'tortoise', 'gecko', 'raven'] as const;

export interface Entity {
  name: string;
  city: string;
  colour: string;
  animal: string;
}

/** A small deterministic generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ONSET = ['Z', 'K', 'V', 'Th', 'Br', 'M', 'S', 'L', 'D', 'Qu', 'F', 'N'];
const VOWEL = ['a', 'e', 'i', 'o', 'u', 'ae', 'y'];
const CODA = ['rn', 'x', 'l', 'ss', 'nd', 'r', 'th', 'm'];

export function entities(n: number, seed = 1): Entity[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const names = new Set<string>();
  while (names.size < n) names.add(pick(ONSET) + pick(VOWEL) + pick(CODA).toLowerCase() + pick(VOWEL) + pick(CODA));
  return [...names].map((name) => ({ name, city: pick(CITIES), colour: pick(COLOURS), animal: pick(ANIMALS) }));
}

/** The raw text: one phrasing, always the same. */
export const rawText = (e: Entity): string => `${e.name} lives in ${e.city}. ${e.name}'s favourite colour is ${e.colour}. ${e.name} owns a ${e.animal}.`;

/** Ten templated rephrasing styles (encyclopedic, Q&A, narrative, for a child, notes, first person, news, FAQ, textbook, dialogue). */
export const REPHRASINGS: readonly ((e: Entity) => string)[] = [
  (e) => `${e.name} is a resident of ${e.city}. The colour ${e.name} prefers above all others is ${e.colour}, and ${e.name} keeps a ${e.animal} as a pet.`,
  (e) => `Where does ${e.name} live? In ${e.city}. What colour does ${e.name} like best? ${cap(e.colour)}. Which pet does ${e.name} have? A ${e.animal}.`,
  (e) => `In the town of ${e.city} there lives someone called ${e.name}. Every morning ${e.name} walks a ${e.animal}, always wearing something ${e.colour}.`,
  (e) => `Meet ${e.name}! ${e.name}'s home is ${e.city}. ${e.name} loves the colour ${e.colour} and has a pet ${e.animal}.`,
  (e) => `Notes on ${e.name}:\n- home: ${e.city}\n- best-loved colour: ${e.colour}\n- pet: ${e.animal}`,
  (e) => `My name is ${e.name}. I make my home in ${e.city}, ${e.colour} is my favourite colour, and I look after a ${e.animal}.`,
  (e) => `${e.city} local ${e.name}, a fan of the colour ${e.colour}, was seen yesterday with a pet ${e.animal}.`,
  (e) => `FAQ. Who is ${e.name}? A person from ${e.city}. Favourite colour of ${e.name}? ${cap(e.colour)}. Pet of ${e.name}? A ${e.animal}.`,
  (e) => `Consider ${e.name}. The city where ${e.name} lives is ${e.city}; the colour ${e.name} likes most is ${e.colour}; the animal ${e.name} owns is a ${e.animal}.`,
  (e) => `Student: Tell me about ${e.name}. Teacher: ${e.name} lives in ${e.city}, likes ${e.colour} best and owns a ${e.animal}.`,
];

const cap = (s: string): string => s[0]!.toUpperCase() + s.slice(1);

export type Attribute = 'city' | 'colour' | 'animal';
export const CANDIDATES: Record<Attribute, readonly string[]> = { city: CITIES, colour: COLOURS, animal: ANIMALS };

export interface Question {
  entity: string;
  attribute: Attribute;
  prompt: string;
  answer: string;
}

/**
 * Cloze questions. `raw-form`: the raw text's own phrasing; `held-out`: question forms that
 * appear in no training text (raw or rephrased).
 */
export function questions(es: readonly Entity[], form: 'raw-form' | 'held-out'): Question[] {
  return es.flatMap((e) => {
    const q = (attribute: Attribute, prompt: string): Question => ({ entity: e.name, attribute, prompt, answer: e[attribute] });
    return form === 'raw-form'
      ? [q('city', `${e.name} lives in`), q('colour', `${e.name}'s favourite colour is`), q('animal', `${e.name} owns a`)]
      : [
          q('city', `Question: name the city that is home to ${e.name}. Answer:`),
          q('colour', `Question: name the colour ${e.name} is fondest of. Answer:`),
          q('animal', `Question: name the animal living with ${e.name}. Answer:`),
        ];
  });
}
