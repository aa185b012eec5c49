package js

import "testing"

// BenchmarkCompileTypeScript is the load-time cost of one .ts module (the
// conformance helper's size): esbuild's transform plus the inline source map.
func BenchmarkCompileTypeScript(b *testing.B) {
	src := []byte(`export interface Item { id: number; label: string; tags?: string[] }
export type Summary = { count: number; labels: string[] };
export enum Level { Low = 1, High = 10 }
export function summarize(items: Item[]): Summary {
  return { count: items.length, labels: items.map((i: Item): string => i.label) };
}
export function firstOr<T>(list: T[], fallback: T): T { return list.length > 0 ? list[0] : fallback; }
export class Tally {
  constructor(private readonly name: string, public total: number = 0) {}
  add(n: number): this { this.total += n; return this; }
  describe(): string { return this.name + '=' + this.total; }
}
`)
	for b.Loop() {
		if _, err := compileTypeScript("/scripts/helper.ts", src); err != nil {
			b.Fatal(err)
		}
	}
}
