/** `palisade files status|scan` (DATA-3): the stored files by state, and a scan sweep now. */
import type { Services } from '../services.js';
import { toStdout } from './out.js';

export class FilesUsage extends Error {}

export async function filesCommand(s: Services, sub: string): Promise<number> {
  switch (sub) {
    case 'status': {
      const c = await s.files.counts();
      const scanner = s.config.files.scanner ? 'clamd configured' : 'no scanner (FILES_SCANNER): new files are unscanned';
      toStdout(`files: ${c.clean} clean, ${c.unscanned} unscanned, ${c.quarantined} quarantined, ${c.infected} infected; ${scanner}\n`);
      return 0;
    }
    case 'scan': {
      if (!s.config.files.scanner) throw new FilesUsage('files scan needs FILES_SCANNER');
      // The sweep the server runs every minute, now: quarantined files (and unscanned ones) whose turn has come.
      const r = await s.files.sweep();
      toStdout(`scanned ${r.scanned}; ${r.pending} still waiting (the scanner is down, or a file waits its back-off)\n`);
      return r.pending > 0 ? 1 : 0;
    }
    default:
      throw new FilesUsage(`unknown files command: ${sub}`);
  }
}
