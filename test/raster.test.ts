import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, encodePng } from '../src/image/raster.js';

describe('decodeImage', () => {
  it('flattens alpha onto black, so colour hidden under transparent pixels never reaches QA or the export', async () => {
    // A transparent red pixel and an opaque green one.
    const rgba = Buffer.from([255, 0, 0, 0, 0, 255, 0, 255]);
    const png = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } })
      .png()
      .toBuffer();
    const raster = await decodeImage(png);
    expect(raster.channels).toBe(3);
    expect([...raster.data]).toEqual([0, 0, 0, 0, 255, 0]);
  });

  it('expands greyscale to RGB and round-trips through encodePng unchanged', async () => {
    const grey = await sharp(Buffer.from([10, 200]), { raw: { width: 2, height: 1, channels: 1 } })
      .png()
      .toBuffer();
    const raster = await decodeImage(grey);
    expect([...raster.data]).toEqual([10, 10, 10, 200, 200, 200]);
    expect([...(await decodeImage(await encodePng(raster))).data]).toEqual([...raster.data]);
  });
});
