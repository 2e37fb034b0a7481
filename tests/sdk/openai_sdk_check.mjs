// The official OpenAI Node SDK against kvscope-cli serve (the embedded stories260K): model list,
// a greedy completion with its known-good text, a streamed chat completion, n > 1 with logprobs,
// a 400 and a 401. Any difference throws (exit 1). Run by scripts/openai-sdk-check.sh.
import assert from "node:assert/strict";
import OpenAI from "openai";

const c = new OpenAI({ baseURL: process.env.KVSCOPE_URL, apiKey: process.env.KVSCOPE_API_KEY });
const models = await c.models.list();
const model = models.data[0].id;
assert.equal(model, "stories260K");

const r = await c.completions.create({ model, prompt: "Once upon a time", max_tokens: 12, temperature: 0 });
assert.equal(r.choices[0].text, ", there was a little girl named Lily. She");
assert.deepEqual(r.usage, { completion_tokens: 12, prompt_tokens: 5, total_tokens: 17 });

const s = await c.chat.completions.create({
    model, messages: [{ role: "user", content: "Tell me a story" }], max_tokens: 16, stream: true, seed: 7 });
let text = "", chunks = 0;
for await (const ch of s) { chunks++; text += ch.choices[0]?.delta?.content ?? ""; }
assert.ok(chunks > 2 && text.length > 0, `stream: ${chunks} chunks, ${JSON.stringify(text)}`);

const n = await c.completions.create({ model, prompt: "Lily", max_tokens: 8, n: 3, temperature: 1, seed: 1, logprobs: 2 });
assert.equal(n.choices.length, 3);
for (const choice of n.choices) assert.equal(choice.logprobs.tokens.length, choice.logprobs.token_logprobs.length);

await assert.rejects(c.completions.create({ model, prompt: "x", max_tokens: -1 }), e => e.status === 400);
const wrongKey = new OpenAI({ baseURL: process.env.KVSCOPE_URL, apiKey: "wrong" });
await assert.rejects(wrongKey.models.list(), e => e.status === 401);
console.log(`openai-sdk-check: passed (completion, ${chunks}-chunk chat stream "${text}", n=3 with logprobs, 400, 401)`);
