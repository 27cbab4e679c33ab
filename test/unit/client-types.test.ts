import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * The README's typed client compiles against `erc8004-backend/client` (package.json `exports`, resolved by the package's
 * own name), and a mistyped call does not. Only the fixtures are checked, which keeps this to a few seconds.
 */
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/client');

function errorsOf(program: ts.Program, file: string): string[] {
  const sourceFile = program.getSourceFile(path.join(fixtures, file));
  if (!sourceFile) throw new Error(`${file} is not part of the fixture program`);
  return ts
    .getPreEmitDiagnostics(program, sourceFile)
    .map(
      (d) =>
        `${d.start === undefined ? '' : `line ${sourceFile.getLineAndCharacterOfPosition(d.start).line + 1}: `}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`,
    );
}

describe('typed client (erc8004-backend/client)', () => {
  let program: ts.Program;
  beforeAll(() => {
    const config = ts.getParsedCommandLineOfConfigFile(
      path.join(fixtures, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    );
    if (!config) throw new Error('fixture tsconfig did not parse');
    program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  });

  it("compiles the README's example, importing AppRouter by package name", () => {
    expect(errorsOf(program, 'consumer.ts')).toEqual([]);
  });

  it("compiles the README's x402 client, paying a query without an account", () => {
    expect(errorsOf(program, 'x402-consumer.ts')).toEqual([]);
  });

  it('refuses a call whose input does not match the procedure', () => {
    const errors = errorsOf(program, 'wrong-call.ts');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBe("line 7: Type 'number' is not assignable to type 'string'.");
  });
});
