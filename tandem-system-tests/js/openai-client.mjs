// Drives a running `tandem serve` with the official OpenAI Node client and prints what it saw as
// one JSON object on stdout. Usage: node openai-client.mjs BASE_URL MODEL
// (BASE_URL ends in /v1). Run by dev.tandem.systemtests.OpenAiNodeClientTest.
import OpenAI from 'openai';

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({
  baseURL,
  apiKey: process.env.TANDEM_API_KEY ?? 'unused',
  maxRetries: 0,
  timeout: 60_000,
});
const messages = [{ role: 'user', content: 'Once upon a time' }];
const out = {};

const chat = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
out.chat = {
  id: chat.id,
  object: chat.object,
  model: chat.model,
  role: chat.choices[0].message.role,
  content: chat.choices[0].message.content,
  finish: chat.choices[0].finish_reason,
  usage: chat.usage,
};

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let text = '';
let chunks = 0;
let role = null;
let finish = null;
let usage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.choices.length > 0) {
    const c = chunk.choices[0];
    role = role ?? c.delta.role ?? null;
    text += c.delta.content ?? '';
    finish = c.finish_reason ?? finish;
  }
  if (chunk.usage) {
    usage = chunk.usage;
  }
}
out.stream = { text, chunks, role, finish, usage };

const completion = await client.completions.create({ model, prompt: 'The little dog', max_tokens: 8, temperature: 0 });
out.completion = {
  object: completion.object,
  text: completion.choices[0].text,
  finish: completion.choices[0].finish_reason,
  usage: completion.usage,
};

out.models = (await client.models.list()).data.map((m) => m.id);

try {
  await client.chat.completions.create({ model: 'no-such-model', messages });
  out.error = null;
} catch (e) {
  out.error = { status: e.status, type: e.type ?? null, code: e.code ?? null, message: e.message };
}

console.log(JSON.stringify(out));
