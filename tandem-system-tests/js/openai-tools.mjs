// Structured output and function calling through the official OpenAI Node client against a running
// `tandem serve`; prints what it saw as one JSON object on stdout. Usage:
// node openai-tools.mjs BASE_URL MODEL (BASE_URL ends in /v1). Run by
// dev.tandem.systemtests.OpenAiNodeClientTest.
import OpenAI from 'openai';

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({
  baseURL,
  apiKey: process.env.TANDEM_API_KEY ?? 'unused',
  maxRetries: 0,
  timeout: 60_000,
});
const out = {};

// response_format with a plain JSON schema (no zod)
const petSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, legs: { type: 'integer' }, kind: { enum: ['cat', 'dog'] } },
  required: ['name', 'legs', 'kind'],
  additionalProperties: false,
};
const structured = await client.chat.completions.create({
  model,
  messages: [{ role: 'user', content: 'Describe a pet' }],
  max_tokens: 80,
  temperature: 0,
  response_format: { type: 'json_schema', json_schema: { name: 'pet', schema: petSchema, strict: true } },
});
out.structured = { content: structured.choices[0].message.content, finish: structured.choices[0].finish_reason };

// a tool round trip: tools -> tool_calls -> a role: tool message -> an answer
const tools = [{
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { enum: ['celsius', 'fahrenheit'] } },
      required: ['city', 'unit'],
      additionalProperties: false,
    },
  },
}];
const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
const first = await client.chat.completions.create({
  model, messages, tools, max_tokens: 80, temperature: 0,
  tool_choice: { type: 'function', function: { name: 'get_weather' } },
});
const call = first.choices[0].message.tool_calls?.[0] ?? null;
out.call = {
  finish: first.choices[0].finish_reason,
  content: first.choices[0].message.content,
  count: first.choices[0].message.tool_calls?.length ?? 0,
  id: call?.id ?? null,
  type: call?.type ?? null,
  name: call?.function.name ?? null,
  arguments: call?.function.arguments ?? null,
};

// the same call streamed, put together from delta.tool_calls
const stream = await client.chat.completions.create({
  model, messages, tools, max_tokens: 80, temperature: 0, stream: true,
  tool_choice: { type: 'function', function: { name: 'get_weather' } },
});
let name = '';
let args = '';
let finish = null;
for await (const chunk of stream) {
  for (const c of chunk.choices) {
    for (const t of c.delta.tool_calls ?? []) {
      name += t.function?.name ?? '';
      args += t.function?.arguments ?? '';
    }
    finish = c.finish_reason ?? finish;
  }
}
out.streamedCall = { name, arguments: args, finish };

messages.push(first.choices[0].message);
messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ celsius: 21 }) });
const answer = await client.chat.completions.create({ model, messages, tools, max_tokens: 16, temperature: 0,
  tool_choice: 'none' });
out.answer = { content: answer.choices[0].message.content, finish: answer.choices[0].finish_reason };

console.log(JSON.stringify(out));
