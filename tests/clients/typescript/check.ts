// Checks every answer the scenario gets against the OpenAPI document the
// client was generated from: the status must be one the operation
// declares, the Content-Type one that status declares, and a JSON body
// must validate against that status's schema (ajv, JSON Schema 2020-12,
// formats checked). Knows nothing of what the scenario is doing.

import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS: under NodeNext its default import is the module.
const addFormats = addFormatsModule.default;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Node = { [key: string]: Json };

const DEFS = "https://portrait.test/defs";

export class DocumentCheck {
  private readonly paths: Node;
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  checked = 0;

  constructor(documentPath: string) {
    // Component references point into one schema resource of their own, so
    // that ajv never has to read the whole document as a schema.
    const text = readFileSync(documentPath, "utf8").replaceAll(
      '"#/components/schemas/',
      `"${DEFS}#/$defs/`,
    );
    const document = JSON.parse(text) as Node;
    this.paths = document["paths"] as Node;
    const components = document["components"] as Node;
    // `example` is an OpenAPI annotation that JSON Schema does not know.
    this.ajv = new Ajv2020({ strict: false, allErrors: true });
    this.ajv.addKeyword("example");
    addFormats(this.ajv);
    this.ajv.addSchema({ $id: DEFS, $defs: components["schemas"] });
  }

  /** The operation's declared answer for this status, or a thrown error. */
  private declared(template: string, method: string, status: number): Node {
    const item = this.paths[template] as Node | undefined;
    const operation = item?.[method.toLowerCase()] as Node | undefined;
    if (!operation) throw new Error(`${method} ${template} is not in the document`);
    const responses = operation["responses"] as Node;
    const response = responses[String(status)] as Node | undefined;
    if (!response) {
      throw new Error(`${method} ${template} answered ${status}, which the document does not declare`);
    }
    return response;
  }

  /** Validates one answer; `body` is the parsed JSON, or undefined. */
  check(template: string, method: string, status: number, contentType: string | null, body: unknown): void {
    const response = this.declared(template, method, status);
    const content = response["content"] as Node | undefined;
    if (!content) {
      if (contentType && body !== undefined) {
        throw new Error(`${method} ${template} ${status}: a body the document does not declare`);
      }
      this.checked += 1;
      return;
    }
    const essence = (contentType ?? "").split(";")[0]!.trim();
    const media = content[essence] as Node | undefined;
    if (!media) {
      throw new Error(
        `${method} ${template} ${status}: Content-Type ${essence} not among ${Object.keys(content).join(", ")}`,
      );
    }
    if (body !== undefined && media["schema"]) {
      const key = `${method} ${template} ${status} ${essence}`;
      const validate = this.compiled.get(key) ?? this.ajv.compile(media["schema"] as object);
      this.compiled.set(key, validate);
      if (!validate(body)) {
        throw new Error(
          `${key}: body does not match the document: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(body)}`,
        );
      }
    }
    this.checked += 1;
  }

  /** The path template of the document that a concrete path matches. */
  templateOf(pathname: string): string {
    for (const template of Object.keys(this.paths)) {
      const pattern = new RegExp(
        "^" + template.replace(/\{path\}/g, "(.+)").replace(/\{[^}]+\}/g, "([^/]+)") + "$",
      );
      if (pattern.test(pathname)) return template;
    }
    throw new Error(`${pathname} matches no path of the document`);
  }
}
