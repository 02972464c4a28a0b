import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.js';
import {
  lineColumnAt,
  locateSyntaxError,
  parseJsonText,
  positionFromMessage,
  scanJsonSyntax,
} from '../src/project/json-syntax.js';
import { parseJsonDocument, parseProjectJson } from '../src/project/index.js';

describe('JSON syntax errors are located by line and column', () => {
  it.each<[string, string, number, number]>([
    ['a missing comma between properties', '{\n  "a": 1\n  "b": 2\n}', 3, 3],
    ['a trailing comma in an object', '{\n  "a": 1,\n}', 3, 1],
    ['a trailing comma in an array', '[1,\n 2,\n]', 3, 1],
    ['an unquoted key', '{\n  "id": "x",\n  name: "y"\n}', 3, 3],
    ['a misspelt literal', '{"a": tru}', 1, 10],
    ['a bare word', 'hello', 1, 1],
    ['a line break inside a string', '{\n"a": "abc\n', 2, 10],
    ['input that ends early', '{\n  "shots": [\n', 3, 1],
    ['empty input', '', 1, 1],
    ['text after the value', '{"a": 1}\n\nx', 3, 1],
    ['Windows line endings', '{\r\n  "a": 1\r\n  "b": 2\r\n}', 3, 3],
    ['a single-quoted string', "{\n  'a': 1\n}", 2, 3],
    ['a bad escape', '["ok",\n "\\q"]', 2, 4],
    ['an unterminated string', '["ok",\n "abc', 2, 6],
  ])('%s', (_what, text, line, column) => {
    const parsed = parseJsonText(text);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect({ line: parsed.problem.line, column: parsed.problem.column }).toEqual({ line, column });
    // Our own scan agrees with the engine wherever the engine states a position.
    expect(scanJsonSyntax(text)?.offset).toBe(parsed.problem.offset);
  });

  it('reads the offset from the Node 20 message shape', () => {
    const text = '{\n  "a": 1,\n}';
    expect(positionFromMessage(text, 'Expected double-quoted property name in JSON at position 12')).toEqual({
      offset: 12,
      line: 3,
      column: 1,
    });
  });

  it('reads the offset from the old (Node ≤ 18) message shape', () => {
    const text = '{\n  "a": 1,\n}';
    const problem = locateSyntaxError(text, 'Unexpected token } in JSON at position 12');
    expect(problem).toMatchObject({ offset: 12, line: 3, column: 1, reason: 'Unexpected token }' });
  });

  it('takes line and column as stated by the Node 22 message shape', () => {
    const text = '{\n  "a": 1\n  "b": 2\n}';
    const message = "Expected ',' or '}' after property value in JSON at position 13 (line 3 column 3)";
    expect(locateSyntaxError(text, message)).toEqual({
      offset: 13,
      line: 3,
      column: 3,
      reason: "Expected ',' or '}' after property value",
    });
  });

  it('scans the text itself when the message gives no position', () => {
    const text = '{\n  "a": [1, 2],\n  "b": yes\n}';
    const problem = locateSyntaxError(text, `Unexpected token 'y', "${text}" is not valid JSON`);
    expect(problem).toMatchObject({ line: 3, column: 8, reason: 'Unexpected character "y"' });
  });

  it('places "Unexpected end of JSON input" at the end of the text', () => {
    expect(locateSyntaxError('[1,\n', 'Unexpected end of JSON input')).toMatchObject({
      offset: 4,
      line: 2,
      column: 1,
    });
  });

  it('scans deeply nested input without overflowing the stack', () => {
    const text = `${'['.repeat(200_000)}x`;
    expect(scanJsonSyntax(text)).toEqual({ offset: 200_000, reason: 'Unexpected character "x"' });
    expect(scanJsonSyntax(`${'['.repeat(200_000)}${']'.repeat(200_000)}`)).toBeUndefined();
  });

  it('accepts every valid JSON the engine accepts', () => {
    for (const text of ['0', '-0.5e+10', '"\\u00e9\\n"', '{"a":[true,false,null,{}]}', ' [ ] ', '{"":""}']) {
      expect(scanJsonSyntax(text)).toBeUndefined();
    }
  });

  it('counts lines after "\\n", "\\r\\n" and a lone "\\r"', () => {
    expect(lineColumnAt('a\nb\r\nc\rd', 7)).toEqual({ line: 4, column: 1 });
  });

  it('a parse failure is a ValidationError that names the source, the position and shows the line', () => {
    const text = '{\n  "schemaVersion": 1,\n  "id" "x"\n}';
    let error: unknown;
    try {
      parseJsonDocument(text, 'my/project.json');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    const v = error as ValidationError;
    expect(v.message).toContain('my/project.json: invalid JSON at line 3, column 8');
    expect(v.message).toContain('3 |   "id" "x"');
    expect(v.details).toMatchObject({ source: 'my/project.json', line: 3, column: 8 });
    expect(v.issues).toEqual([
      { path: '$', message: expect.stringContaining('line 3, column 8') as unknown },
    ]);
  });

  it('ignores a byte-order mark before the JSON', () => {
    const text =
      '\ufeff{"schemaVersion":1,"id":"p","name":"P","style":{"prompt":"ink"},"shots":[{"id":"a","prompt":"a long enough prompt"}]}';
    expect(parseProjectJson(text, 'bom.json').id).toBe('p');
  });
});
