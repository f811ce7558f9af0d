// Reads an AsyncAPI document (JSON) on stdin and validates it with the AsyncAPI initiative's
// own parser, Avro payloads included. Prints one JSON line per diagnostic of severity error
// (0) or warning (1); exits 1 when there is any error, 0 otherwise.
import { Parser } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());
const { document, diagnostics } = await parser.parse(Buffer.concat(chunks).toString('utf8'));
let errors = 0;
for (const d of diagnostics) {
  if (d.severity > 1) continue;
  if (d.severity === 0) errors += 1;
  console.log(JSON.stringify({ severity: d.severity, code: d.code, path: d.path.join('/'),
                               message: d.message }));
}
console.error(`asyncapi parser: ${errors} errors, document ${document ? 'parsed' : 'not parsed'}`);
process.exit(errors === 0 && document ? 0 : 1);
