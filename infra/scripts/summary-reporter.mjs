// node:test reporter that prints one line at the end: `N passed, N failed` (`, N skipped` when any).
// test.sh writes it to a file and prints it as the last line of output, the line CI looks for.
//
// Counts leaf tests only. Events arrive in post-order (children before their parent), so the children
// of a test at nesting n are the tests completed at nesting n + 1 since the last completion at <= n.
// A suite, or a test with subtests, is not counted itself, unless it failed while none of its
// descendants did (a failing hook, a throwing describe body, a test file that fails to load).
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  // `${file}:${nesting}` -> what completed at that level under the currently open parent
  const below = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { data } = event;
    const file = data.file ?? '';
    const key = `${file}:${data.nesting + 1}`;
    const children = below.get(key);
    below.delete(key);
    const fail = event.type === 'test:fail';
    const leaf = !children && data.details?.type !== 'suite';
    if (!children && (data.skip || data.todo)) {
      skipped++; // a skipped suite counts once: its tests are not reported
    } else if (leaf) {
      if (fail) failed++;
      else passed++;
    } else if (fail && !children?.failed) {
      failed++;
    }
    const own = `${file}:${data.nesting}`;
    const level = below.get(own) ?? { failed: false };
    level.failed ||= (fail && !data.todo) || Boolean(children?.failed);
    below.set(own, level);
  }
  yield `${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`;
}
