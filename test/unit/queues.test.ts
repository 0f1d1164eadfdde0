import { parseQueues } from '../../workers/queues';
import { devServerArgs } from '../../src/devserver';
import { stateDir } from '../../src/toolchain';

describe('worker queues', () => {
  it('parses roles and rejects unknown ones by name', () => {
    expect(parseQueues('main, train,train')).toEqual(['main', 'train']);
    expect(() => parseQueues('main,gpu')).toThrow(/unknown queue "gpu"/);
  });
});

describe('embedded server', () => {
  it('keeps its SQLite file in the state folder and registers the search attributes', () => {
    const args = devServerArgs({ cli: 'temporal', stateDir: '/state', port: 7233, uiPort: 8233 });
    expect(args.slice(0, 4)).toEqual(['server', 'start-dev', '--db-filename', '/state/temporal.db']);
    expect(args).toContain('CampaignName=Keyword');
  });
  it('honours LLAMA_NAS_HOME', () => {
    expect(stateDir({ LLAMA_NAS_HOME: '/tmp/x' })).toBe('/tmp/x');
    expect(stateDir({})).toBe(`${process.cwd()}/.llama-nas`);
  });
});
