/**
 * The double's input/output/temp folders, held in memory. Naming follows ComfyUI: SaveImage counters continue after
 * the highest existing `<prefix>_NNNNN_.png`, uploads reuse an identical file and otherwise become `name (1).ext`.
 */
import { extname } from 'node:path';

export type FolderType = 'input' | 'output' | 'temp';
export const FOLDER_TYPES: readonly FolderType[] = ['input', 'output', 'temp'];

const key = (type: FolderType, subfolder: string, filename: string): string =>
  `${type}/${subfolder ? `${subfolder}/` : ''}${filename}`;

export class FileStore {
  private readonly files = new Map<string, Buffer>();

  get(type: FolderType, subfolder: string, filename: string): Buffer | undefined {
    return this.files.get(key(type, subfolder, filename));
  }

  put(type: FolderType, subfolder: string, filename: string, bytes: Buffer): void {
    this.files.set(key(type, subfolder, filename), bytes);
  }

  /** Names (with subfolder) of the input files, as LoadImage's list and the `uploads` view show them. */
  inputs(): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const [k, v] of this.files) if (k.startsWith('input/')) out.set(k.slice('input/'.length), v);
    return out;
  }

  /** ComfyUI's `get_save_image_path` counter: one more than the highest existing counter for that prefix. */
  nextCounter(type: FolderType, subfolder: string, prefix: string): number {
    const head = key(type, subfolder, `${prefix}_`);
    let max = 0;
    for (const k of this.files.keys()) {
      if (!k.startsWith(head)) continue;
      const m = /^(\d{5,})_\.png$/.exec(k.slice(head.length));
      if (m) max = Math.max(max, Number(m[1]));
    }
    return max + 1;
  }

  /** `/upload/image` naming: same bytes reuse a name, different bytes move on to `name (i).ext`. */
  uploadName(subfolder: string, filename: string, bytes: Buffer, overwrite: boolean): string {
    if (overwrite) return filename;
    const ext = extname(filename);
    const stem = filename.slice(0, filename.length - ext.length);
    let name = filename;
    for (let i = 1; ; i++) {
      const existing = this.get('input', subfolder, name);
      if (!existing || existing.equals(bytes)) return name;
      name = `${stem} (${i})${ext}`;
    }
  }

  /** A server restart empties the temp folder (ComfyUI cleans it at start); inputs and outputs stay on disk. */
  clearTemp(): void {
    for (const k of [...this.files.keys()]) if (k.startsWith('temp/')) this.files.delete(k);
  }
}
