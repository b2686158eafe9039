// The order test files start in. Jest's own (failed and slow files first) except for two that must not overlap: the
// 10,000-reservation sweep (minutes of CPU for FerretDB on PostgreSQL) starts first, and the file whose two
// workers send 50 emails through FerretDB's SQLite backend starts last. On a 2-core machine running both at once
// starves the second of CPU until its jobs outlive their locks and run twice over: it then measures the machine,
// not the product. (Speed itself is `npm run bench`'s to measure.)
import TestSequencer from '@jest/test-sequencer';

const Sequencer = TestSequencer.default ?? TestSequencer;

const FIRST = ['sweep-volume.test.ts'];
const LAST = ['notifications.test.ts'];
const named = (names) => (test) => names.some((name) => test.path.endsWith(`/${name}`));

export default class SeparateHeavyFiles extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    const first = sorted.filter(named(FIRST));
    const last = sorted.filter(named(LAST));
    return [...first, ...sorted.filter((t) => !first.includes(t) && !last.includes(t)), ...last];
  }
}
