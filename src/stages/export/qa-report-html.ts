import type { Project } from '../../project/schema.js';
import type { VisualDna } from '../coherence/types.js';
import type { FrameMetrics, QaReport, ShotQaResult } from '../qa/types.js';

export interface ReportFrame {
  index: number;
  shotId: string;
  /** The final frame's thumbnail, a `data:image/jpeg` URI (see frameThumbnails). */
  thumb: string;
  /** The frame before autofix, likewise. */
  beforeThumb?: string;
  seed: number;
  prompt: string;
  negativePrompt?: string;
  backend: string;
  draft: boolean;
}

/** What the report says about a frame, without its images. */
export type ReportFrameInfo = Omit<ReportFrame, 'thumb' | 'beforeThumb'>;

export interface QaReportHtmlContext {
  project: Project;
  /** The master sheet's thumbnail, a `data:image/jpeg` URI (see reportThumbnail). */
  sheetThumb: string;
  dna: VisualDna;
  /** Every frame of the report, in any order; they are listed by index. */
  frames: ReportFrameInfo[];
  qaReport: QaReport;
  backend: { name: string; version: string };
}

/**
 * Where the animatic's player goes: the animatic step writes it between these comments after the export, so
 * re-rendering the animatic (new durations) replaces the player without rebuilding the report.
 */
export const ANIMATIC_SLOT_START = '<!-- storycore:animatic -->';
export const ANIMATIC_SLOT_END = '<!-- /storycore:animatic -->';

export const DRAFT_BANNER = 'DRAFT — storyboard frames from the embedded renderer, not AI images';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
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
 *
 * Made in pieces so it can be written while frames stream through the export: `head()` (everything up to the
 * shot overview, which needs no images), then `card(frame)` for each frame in index order, then `tail()`. The
 * thumbnails then never all sit in memory; the concatenation equals renderQaReportHtml's result.
 */
export class QaReportHtml {
  readonly #input: QaReportHtmlContext;
  readonly #frames: ReportFrameInfo[];
  readonly #qaById: Map<string, ShotQaResult>;
  readonly #numberWidth: number;
  #cards = 0;

  constructor(input: QaReportHtmlContext) {
    this.#input = input;
    this.#frames = [...input.frames].sort((a, b) => a.index - b.index);
    this.#qaById = new Map(input.qaReport.shots.map((s) => [s.shotId, s] as const));
    this.#numberWidth = Math.max(2, String(this.#frames.length).length);
  }

  #number(frame: ReportFrameInfo): string {
    return String(frame.index + 1).padStart(this.#numberWidth, '0');
  }

  #verdict(qa: ShotQaResult | undefined): string {
    return qa
      ? `<span class="${qa.passed ? 'pass' : 'fail'}">${qa.passed ? 'pass' : 'fail'}</span>`
      : 'not assessed';
  }

  /** Document start, summary, master sheet and the shot overview table. */
  head(): string {
    const { project, qaReport, dna } = this.#input;
    const frames = this.#frames;
    const anyDraft = frames.some((f) => f.draft);
    const sheetThumb = escapeHtml(this.#input.sheetThumb);
    const swatches = dna.palette
      .filter((c) => SAFE_HEX.test(c.hex))
      .map(
        (c) =>
          `<div class="swatch" style="background:${c.hex}" title="${escapeHtml(c.hex)}">${Math.round(c.weight * 100)}%</div>`,
      )
      .join('');
    const overviewRows = frames.map((frame) => {
      const qa = this.#qaById.get(frame.shotId);
      const id = escapeHtml(frame.shotId);
      return `<tr><td>${this.#number(frame)}</td><td><a href="#shot-${id}">${id}</a></td><td class="num">${qa ? fmt(qa.score) : '—'}</td><td>${this.#verdict(qa)}</td><td>${qa ? issueList(qa.issues) : ''}</td></tr>`;
    });
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>QA report — ${escapeHtml(project.name)}</title><style>${CSS}</style></head><body>
${anyDraft ? `<div class="banner" role="note">${escapeHtml(DRAFT_BANNER)}</div>` : ''}
<header><h1>QA report — ${escapeHtml(project.name)}</h1><div>Project <code>${escapeHtml(project.id)}</code> · backend ${escapeHtml(
      this.#input.backend.name,
    )} ${escapeHtml(this.#input.backend.version)}</div></header>
<main>
${ANIMATIC_SLOT_START}${ANIMATIC_SLOT_END}
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
`;
  }

  /** One shot's section; call in index order, after head(). */
  card(frame: ReportFrame): string {
    const qa = this.#qaById.get(frame.shotId);
    const number = this.#number(frame);
    const id = escapeHtml(frame.shotId);
    const verdict = this.#verdict(qa);
    // Escaped although ours are plain base64: a caller-supplied URI must not be able to break out of the attribute.
    const after = escapeHtml(frame.thumb);
    const before = frame.beforeThumb === undefined ? undefined : escapeHtml(frame.beforeThumb);
    const images = before
      ? `<figure><img src="${before}" alt="shot ${number} before autofix"><figcaption>before autofix${qa ? ` — score ${fmt(qa.initial.score)}` : ''}</figcaption></figure>` +
        `<figure><img src="${after}" alt="shot ${number} after autofix"><figcaption>after autofix${qa ? ` — score ${fmt(qa.score)}` : ''}</figcaption></figure>`
      : `<figure><img src="${after}" alt="shot ${number}"><figcaption>final frame</figcaption></figure>`;
    const separator = this.#cards === 0 ? '' : '\n';
    this.#cards += 1;
    return (
      separator +
      `<section class="shot" id="shot-${id}"><h3>${number} · ${id} — ${qa ? `score ${fmt(qa.score)} ${verdict}` : 'not assessed'}</h3>` +
      `<div class="images">${images}</div><div class="cols"><div>` +
      `<p><b>Issues:</b> ${qa ? issueList(qa.issues) : '—'}</p>` +
      `<p><b>Seed:</b> ${frame.seed} · <b>Backend:</b> ${escapeHtml(frame.backend)}${frame.draft ? ' · <b>draft</b>' : ''}</p>` +
      `<p class="prompt"><b>Prompt:</b> ${escapeHtml(frame.prompt)}</p>` +
      (frame.negativePrompt
        ? `<p class="prompt"><b>Negative:</b> ${escapeHtml(frame.negativePrompt)}</p>`
        : '') +
      `${qa ? attemptsList(qa) : ''}</div><div>${qa ? metricsTable(qa.metrics) : ''}</div></div></section>`
    );
  }

  /** Thresholds and document end. */
  tail(): string {
    const { thresholds } = this.#input.qaReport;
    const rows = Object.keys(thresholds)
      .sort()
      .map((k) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(String(thresholds[k]))}</td></tr>`)
      .join('');
    return `
<h2>Thresholds</h2><table class="metrics">${rows}</table>
</main></body></html>
`;
  }
}
