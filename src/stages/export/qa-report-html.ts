import sharp from 'sharp';
import { throwIfAborted } from '../../core/abort.js';
import type { Project } from '../../project/schema.js';
import type { VisualDna } from '../coherence/types.js';
import type { FrameMetrics, QaReport, ShotQaResult } from '../qa/types.js';

export interface ReportFrame {
  index: number;
  shotId: string;
  png: Buffer;
  beforePng?: Buffer;
  seed: number;
  prompt: string;
  negativePrompt?: string;
  backend: string;
  draft: boolean;
}

export interface QaReportHtmlInput {
  project: Project;
  sheetPng: Buffer;
  dna: VisualDna;
  frames: ReportFrame[];
  qaReport: QaReport;
  backend: { name: string; version: string };
}

export interface QaReportHtmlOptions {
  /** Thumbnail width in the report. @default 320 */
  thumbWidth?: number;
  signal?: AbortSignal;
}

export const DRAFT_BANNER = 'DRAFT — storyboard frames from the embedded renderer, not AI images';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Small JPEG as a data: URI, so the report is one file that opens anywhere, offline. */
async function thumbnail(png: Buffer, width: number): Promise<string> {
  const jpeg = await sharp(png)
    .removeAlpha()
    .resize({ width, withoutEnlargement: true, kernel: 'lanczos3' })
    .jpeg({ quality: 72, mozjpeg: true })
    .toBuffer();
  return `data:image/jpeg;base64,${jpeg.toString('base64')}`;
}

const fmt = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : '—');

function metricsTable(m: FrameMetrics): string {
  const rows: Array<[string, string]> = [
    ['Sharpness (Laplacian variance)', fmt(m.sharpness)],
    ['Sharpness, normalised to 512 px', fmt(m.sharpnessNormalized)],
    ['Mean luma', fmt(m.exposure.meanLuma)],
    ['Clipped highlights', `${fmt(m.exposure.clippedHighlightsPct, 2)} %`],
    ['Clipped shadows', `${fmt(m.exposure.clippedShadowsPct, 2)} %`],
    ['RMS contrast', fmt(m.contrastRms, 3)],
    ['Noise σ (8-bit levels)', fmt(m.noiseSigma, 2)],
    ['Palette drift (mean ΔE2000)', fmt(m.paletteDrift, 2)],
  ];
  return `<table class="metrics">${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
}

function issueList(issues: readonly string[]): string {
  if (issues.length === 0) return '<span class="ok">no issues</span>';
  return issues.map((i) => `<span class="issue">${escapeHtml(i)}</span>`).join(' ');
}

function attemptsList(qa: ShotQaResult): string {
  if (qa.attempts.length === 0) return '';
  const items = qa.attempts.map(
    (a) =>
      `<li>#${a.attempt} ${escapeHtml(a.kind)}${a.seed !== undefined ? ` (seed ${a.seed})` : ''}: ${escapeHtml(
        a.actions.join(', ') || '—',
      )} — score ${fmt(a.before.score)} → ${fmt(a.after.score)} (${a.delta >= 0 ? '+' : ''}${fmt(a.delta)})${a.kept ? ' <b>kept</b>' : ''}</li>`,
  );
  return `<h4>Autofix</h4><ol class="attempts">${items.join('')}</ol>`;
}

const SAFE_HEX = /^#[0-9a-fA-F]{6}$/;

const CSS = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 'DejaVu Sans',system-ui,sans-serif;background:#f4f4f6;color:#1d1d22}
header,main{max-width:1200px;margin:0 auto;padding:16px 24px}h1{margin:.2em 0;font-size:24px}h2{margin-top:1.6em}
.banner{background:#ffb84d;color:#2b1a00;font-weight:bold;padding:12px 24px;text-align:center;font-size:16px}
.summary{display:flex;gap:24px;flex-wrap:wrap}.summary div{background:#fff;border-radius:8px;padding:10px 16px;box-shadow:0 1px 2px #0002}
.summary b{display:block;font-size:20px}.pass{color:#17803d}.fail{color:#b42318}
table{border-collapse:collapse;background:#fff}td,th{padding:4px 10px;border-bottom:1px solid #e4e4e8;text-align:left;vertical-align:top}
.overview td.num{text-align:right;font-variant-numeric:tabular-nums}
.shot{background:#fff;border-radius:8px;padding:16px;margin:16px 0;box-shadow:0 1px 2px #0002}
.shot h3{margin:0 0 8px}.images{display:flex;gap:12px;flex-wrap:wrap}.images figure{margin:0}.images img{display:block;border-radius:4px;max-width:100%}
figcaption{font-size:12px;color:#555}.cols{display:flex;gap:24px;flex-wrap:wrap;margin-top:8px}.prompt{white-space:pre-wrap;max-width:560px}
.issue{display:inline-block;background:#fde8e6;color:#8a1c12;border-radius:4px;padding:0 6px;margin:1px}.ok{color:#17803d}
.swatches{display:flex;gap:4px}.swatch{width:56px;height:40px;border-radius:4px;font-size:10px;color:#fff;text-shadow:0 0 2px #000;display:flex;align-items:flex-end;padding:2px}
.metrics th{font-weight:normal;color:#444}
`;

/**
 * The human-readable QA report: one self-contained HTML file (inline CSS, thumbnails as data: URIs, no script).
 * Every piece of user text is escaped. Contains nothing time-dependent, so the same inputs give the same bytes.
 */
export async function renderQaReportHtml(
  input: QaReportHtmlInput,
  options: QaReportHtmlOptions = {},
): Promise<string> {
  const { signal } = options;
  const width = options.thumbWidth ?? 320;
  const { project, qaReport, dna } = input;
  const frames = [...input.frames].sort((a, b) => a.index - b.index);
  const qaById = new Map(qaReport.shots.map((s) => [s.shotId, s] as const));
  const anyDraft = frames.some((f) => f.draft);
  const numberWidth = Math.max(2, String(frames.length).length);

  const sheetThumb = await thumbnail(input.sheetPng, 480);
  const swatches = dna.palette
    .filter((c) => SAFE_HEX.test(c.hex))
    .map(
      (c) =>
        `<div class="swatch" style="background:${c.hex}" title="${escapeHtml(c.hex)}">${Math.round(c.weight * 100)}%</div>`,
    )
    .join('');

  const overviewRows: string[] = [];
  const cards: string[] = [];
  for (const frame of frames) {
    throwIfAborted(signal);
    const qa = qaById.get(frame.shotId);
    const number = String(frame.index + 1).padStart(numberWidth, '0');
    const id = escapeHtml(frame.shotId);
    const verdict = qa
      ? `<span class="${qa.passed ? 'pass' : 'fail'}">${qa.passed ? 'pass' : 'fail'}</span>`
      : 'not assessed';
    overviewRows.push(
      `<tr><td>${number}</td><td><a href="#shot-${id}">${id}</a></td><td class="num">${qa ? fmt(qa.score) : '—'}</td><td>${verdict}</td><td>${qa ? issueList(qa.issues) : ''}</td></tr>`,
    );
    const after = await thumbnail(frame.png, width);
    const before = frame.beforePng ? await thumbnail(frame.beforePng, width) : undefined;
    const images = before
      ? `<figure><img src="${before}" alt="shot ${number} before autofix"><figcaption>before autofix${qa ? ` — score ${fmt(qa.initial.score)}` : ''}</figcaption></figure>` +
        `<figure><img src="${after}" alt="shot ${number} after autofix"><figcaption>after autofix${qa ? ` — score ${fmt(qa.score)}` : ''}</figcaption></figure>`
      : `<figure><img src="${after}" alt="shot ${number}"><figcaption>final frame</figcaption></figure>`;
    cards.push(
      `<section class="shot" id="shot-${id}"><h3>${number} · ${id} — ${qa ? `score ${fmt(qa.score)} ${verdict}` : 'not assessed'}</h3>` +
        `<div class="images">${images}</div><div class="cols"><div>` +
        `<p><b>Issues:</b> ${qa ? issueList(qa.issues) : '—'}</p>` +
        `<p><b>Seed:</b> ${frame.seed} · <b>Backend:</b> ${escapeHtml(frame.backend)}${frame.draft ? ' · <b>draft</b>' : ''}</p>` +
        `<p class="prompt"><b>Prompt:</b> ${escapeHtml(frame.prompt)}</p>` +
        (frame.negativePrompt
          ? `<p class="prompt"><b>Negative:</b> ${escapeHtml(frame.negativePrompt)}</p>`
          : '') +
        `${qa ? attemptsList(qa) : ''}</div><div>${qa ? metricsTable(qa.metrics) : ''}</div></div></section>`,
    );
  }

  const thresholds = Object.keys(qaReport.thresholds)
    .sort()
    .map((k) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(qaReport.thresholds[k]))}</td></tr>`)
    .join('');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>QA report — ${escapeHtml(project.name)}</title><style>${CSS}</style></head><body>
${anyDraft ? `<div class="banner" role="note">${escapeHtml(DRAFT_BANNER)}</div>` : ''}
<header><h1>QA report — ${escapeHtml(project.name)}</h1><div>Project <code>${escapeHtml(project.id)}</code> · backend ${escapeHtml(
    input.backend.name,
  )} ${escapeHtml(input.backend.version)}</div></header>
<main>
<div class="summary"><div>Overall score<b class="${qaReport.passed ? 'pass' : 'fail'}">${fmt(qaReport.overallScore)}</b></div>
<div>Verdict<b class="${qaReport.passed ? 'pass' : 'fail'}">${qaReport.passed ? 'pass' : 'fail'}</b></div>
<div>Shots<b>${frames.length}</b></div><div>Autofix applied<b>${qaReport.autofixApplied ? 'yes' : 'no'}</b></div></div>
<h2>Master coherence sheet</h2>
<div class="cols"><img src="${sheetThumb}" alt="master coherence sheet" width="480"><div>
<div class="swatches">${swatches}</div>
<table class="metrics"><tr><th>Mean luminance</th><td>${fmt(dna.luminance.mean)} (σ ${fmt(dna.luminance.stdDev)})</td></tr>
<tr><th>RMS contrast</th><td>${fmt(dna.contrastRms, 3)}</td></tr><tr><th>Colour temperature</th><td>${fmt(dna.colorTemperatureK, 0)} K</td></tr></table>
</div></div>
<h2>Shots</h2>
<table class="overview"><tr><th>#</th><th>Shot</th><th>Score</th><th>Verdict</th><th>Issues</th></tr>${overviewRows.join('')}</table>
${cards.join('\n')}
<h2>Thresholds</h2><table class="metrics">${thresholds}</table>
</main></body></html>
`;
}
