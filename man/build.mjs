#!/usr/bin/env node
// Turns the readable man page sources (man/*.md, a small ronn-like markup) into roff (man/NAME.N).
// `node man/build.mjs` writes them; `--check` exits 1 when a committed page is out of date.
//
// Markup: first line "name(N) -- summary"; "## SECTION", "### Subsection"; "* term:" followed by
// indented lines is a tagged paragraph; lines indented by 4 spaces are literal; `code` is bold,
// _word_ is italic; a blank line separates paragraphs.

import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const pkg = JSON.parse(readFileSync(dir + "../package.json", "utf8"));
const check = process.argv.includes("--check");

const esc = (s) => s.replace(/\\/g, "\\e").replace(/-/g, "\\-").replace(/^([.'])/, "\\&$1");
const inline = (s) => esc(s)
  .replace(/`([^`]+)`/g, (_, c) => `\\fB${c}\\fR`)
  .replace(/(^|[\s(])_([^_]+)_(?=[\s).,;:]|$)/g, (_, pre, w) => `${pre}\\fI${w}\\fR`);

export function toRoff(src) {
  const lines = src.replace(/\n+$/, "").split("\n");
  const m = /^([\w-]+)\((\d)\) -- (.*)$/.exec(lines[0]);
  if (!m) throw new Error("first line must be 'name(N) -- summary'");
  const [, name, sec, summary] = m;
  const out = [`.TH ${name.toUpperCase()} ${sec} "" "leastpriv ${pkg.version}" "leastpriv manual"`, ".SH NAME", `${esc(name)} \\- ${esc(summary)}`];
  let i = 1;
  while (i < lines.length && (lines[i] === "" || /^=+$/.test(lines[i]))) i++;
  let para = false;
  for (; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith("## ")) { out.push(`.SH ${l.slice(3).toUpperCase()}`); para = false; continue; }
    if (l.startsWith("### ")) { out.push(`.SS ${l.slice(4)}`); para = false; continue; }
    if (l === "") { para = false; continue; }
    if (l.startsWith("    ")) {
      out.push(".PP", ".nf", ".RS 4");
      for (; i < lines.length && (lines[i].startsWith("    ") || (lines[i] === "" && lines[i + 1]?.startsWith("    "))); i++) out.push(esc(lines[i].slice(4)));
      out.push(".RE", ".fi");
      i--; para = false;
      continue;
    }
    const t = /^\* (.+):$/.exec(l);
    if (t) {
      out.push(".TP", inline(t[1]));
      for (; i + 1 < lines.length && lines[i + 1].startsWith("  ") && !lines[i + 1].startsWith("    "); i++) out.push(inline(lines[i + 1].trim()));
      para = true;
      continue;
    }
    if (!para) { out.push(".PP"); para = true; }
    out.push(inline(l));
  }
  return out.join("\n") + "\n";
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let stale = 0;
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".md")).sort()) {
    const src = readFileSync(dir + f, "utf8");
    const m = /^[\w-]+\((\d)\)/.exec(src);
    const target = dir + f.replace(/\.md$/, "." + m[1]);
    const roff = toRoff(src);
    let cur = "";
    try { cur = readFileSync(target, "utf8"); } catch {}
    if (cur === roff) continue;
    if (check) { process.stderr.write(`man/build.mjs: ${target} is out of date: run npm run man\n`); stale++; }
    else writeFileSync(target, roff);
  }
  process.exitCode = stale ? 1 : 0;
}
